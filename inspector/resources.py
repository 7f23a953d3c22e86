"""Where the read-only application resources (demo images, icons) live, frozen or not.

In a checkout they are in `<repo>/resources`; in a PyInstaller bundle the spec copies them to
`<bundle>/resources` (`sys._MEIPASS`). `INSPECTOR_RESOURCES` overrides both, e.g. for a system
install that keeps data under /usr/share.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from inspector.types import InspectorError

ENV_VAR = "INSPECTOR_RESOURCES"
DEMO_PART = "flange"


def resources_dir() -> Path:
    """The resources folder; an InspectorError naming the places looked at when none exists."""
    candidates: list[Path] = []
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    if getattr(sys, "frozen", False):
        candidates.append(Path(sys.executable).resolve().parent / "resources")
    candidates.append(Path(__file__).resolve().parents[1] / "resources")
    for path in candidates:
        if path.is_dir():
            return path
    raise InspectorError("Application resources not found; looked in: " + ", ".join(str(p) for p in candidates))


def demo_dir(part: str = DEMO_PART) -> Path:
    """The bundled MVTec-style demo category (made by tools/make_demo_data.py)."""
    path = resources_dir() / "demo" / part
    if not (path / "train" / "good").is_dir():
        raise InspectorError(f"The demo images are missing: {path} has no train/good folder.")
    return path


def icon_path(name: str = "inspector.png") -> Path:
    """An application icon file (PNG for Qt and Linux, ICO for Windows)."""
    return resources_dir() / "icons" / name
