"""The application version, from one place: `[project] version` in pyproject.toml.

Why several readers: a source checkout reads pyproject.toml itself (so a version bump shows up
without reinstalling); an installed package reads its metadata (which pip made from
pyproject.toml); a frozen PyInstaller build reads the `VERSION` file the spec bakes into the
bundle from pyproject.toml at build time. Nothing here imports Qt.
"""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11 is not supported, but fail soft
    tomllib = None  # type: ignore[assignment]

DISTRIBUTION = "inspector"
BUILD_VERSION_FILE = "VERSION"  # written next to this module inside a frozen bundle
UNKNOWN = "0.0.0+unknown"


def _from_build_file() -> Optional[str]:
    """Frozen builds: the version the spec copied from pyproject.toml when the bundle was made."""
    candidates = [Path(__file__).resolve().parent / BUILD_VERSION_FILE]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "inspector" / BUILD_VERSION_FILE)
    for path in candidates:
        if path.is_file():
            text = path.read_text(encoding="utf-8").strip()
            if text:
                return text
    return None


def read_pyproject_version(pyproject: Path) -> Optional[str]:
    """`[project] version` of an Inspector pyproject.toml, or None if it is not ours or unreadable."""
    if tomllib is None or not pyproject.is_file():
        return None
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):
        return None
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return None
    return project["version"]


def _from_source_tree() -> Optional[str]:
    """A checkout (installed editable or not): pyproject.toml one level above the package."""
    return read_pyproject_version(Path(__file__).resolve().parents[1] / "pyproject.toml")


def _from_metadata() -> Optional[str]:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def get_version() -> str:
    """The version string shown in the About box, the CLI, saved models and installer names."""
    if getattr(sys, "frozen", False):
        return _from_build_file() or _from_metadata() or UNKNOWN
    return _from_source_tree() or _from_metadata() or _from_build_file() or UNKNOWN


__version__ = get_version()
