"""Names, validated once, in one place: what a user types and what a project file says.

Every name that ends up in project.json, in a folder or file name, in the log or on screen
passes `check_name` (class and project names) or `check_file_name` (file and folder names
inside the project). Both refuse NUL bytes and other control characters, which 0.1.0 accepted
and then failed on after the save; file names are also refused when they could leave their
folder. `safe_folder_name` turns any text into a name valid on Windows, macOS and Linux.
"""
from __future__ import annotations

import os
import re
import unicodedata
from typing import Any, Sequence

from inspector.types import InspectorError

MAX_NAME_LENGTH = 200
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def name_problem(text: Any) -> str | None:
    """Why `text` cannot be a class or project name, or None when it can."""
    if not isinstance(text, str):
        return f"a name must be text, got {type(text).__name__}"
    if not text.strip():
        return "a name cannot be empty"
    if _CONTROL.search(text):
        return f"{text!r} contains a control character (such as a NUL byte or a line break)"
    if len(text) > MAX_NAME_LENGTH:
        return f"a name is at most {MAX_NAME_LENGTH} characters, this one has {len(text)}"
    return None


def _refuse(problem: str | None, what: str) -> None:
    """InspectorError when there is a problem: one wording for every refused name."""
    if problem is not None:
        raise InspectorError(f"Invalid {what}: {problem}.")


def check_name(text: Any, what: str = "name") -> str:
    """The stripped name, or InspectorError with the reason (one place for every user-given name)."""
    _refuse(name_problem(text), what)
    return text.strip()


def file_name_problem(name: Any) -> str | None:
    """Why `name` cannot be a file or folder name inside a project folder, or None."""
    problem = name_problem(name)
    if problem is not None:
        return problem
    if unsafe_relative(name) or "/" in name or "\\" in name:
        return f"{name!r} could leave its folder"
    return None


def check_file_name(name: Any, what: str = "file name") -> str:
    """`name` unchanged, or InspectorError with the reason."""
    _refuse(file_name_problem(name), what)
    return name


def unsafe_relative(name: str) -> bool:
    """True for names that could escape their folder (absolute, '..', drive letters)."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ":" in name or any(p in ("", ".", "..") for p in parts)


def safe_folder_name(name: str, max_length: int = 60) -> str:
    """A file name valid on Windows, macOS and Linux that still reads like `name`."""
    text = unicodedata.normalize("NFC", str(name))
    text = _UNSAFE_CHARS.sub("_", text).strip().strip(".").strip()
    text = re.sub(r"\s+", " ", text)[:max_length].rstrip(" .")
    if not text:
        text = "class"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    return text


def unique_name(wanted: str, taken: set[str]) -> str:
    """`wanted`, or `stem-2.ext`, `stem-3.ext` ...; compared case-insensitively (Windows, macOS).

    The chosen name is added to `taken`.
    """
    stem, suffix = os.path.splitext(wanted)
    candidate, n = wanted, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate.lower())
    return candidate


def check_choice(value: Any, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise InspectorError(f"Unknown {what} {value!r}: expected one of {', '.join(choices)}.")
