"""Per-user settings: where they live and the list of recently opened projects.

Best effort by design: an unwritable or damaged settings folder never stops anyone working.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Union

from inspector.store.atomic import read_json, write_json_atomic
from inspector.store.schema import PROJECT_FILE
from inspector.types import InspectorError

PathLike = Union[str, os.PathLike]
MAX_RECENT = 10


def config_dir() -> Path:
    """Per-user settings folder: $INSPECTOR_CONFIG_DIR, else %APPDATA%\\Inspector, else ~/.config/inspector."""
    override = os.environ.get("INSPECTOR_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "Inspector"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Inspector"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "inspector"


def _recent_file() -> Path:
    return config_dir() / "recent.json"


def _read_recent() -> list[str]:
    try:
        data = read_json(_recent_file())
    except InspectorError:
        return []
    entries = data.get("recent") if isinstance(data, dict) else None
    return [e for e in entries if isinstance(e, str)] if isinstance(entries, list) else []


def load_recent(existing_only: bool = True) -> list[Path]:
    """Recently opened projects, most recent first (those that still exist, by default)."""
    paths = [Path(p) for p in _read_recent()]
    return [p for p in paths if (p / PROJECT_FILE).exists()] if existing_only else paths


def _write_recent(entries: list[str]) -> None:
    try:
        write_json_atomic(_recent_file(), {"recent": entries[:MAX_RECENT]})
    except InspectorError:
        pass  # an unwritable settings folder must not stop the user from working


def remember_recent(path: PathLike) -> None:
    """Put a project at the top of the recent list."""
    resolved = str(Path(path).resolve())
    entries = [e for e in _read_recent() if os.path.normcase(e) != os.path.normcase(resolved)]
    _write_recent([resolved] + entries)


def forget_recent(path: PathLike) -> None:
    resolved = os.path.normcase(str(Path(path).resolve()))
    _write_recent([e for e in _read_recent() if os.path.normcase(e) != resolved])
