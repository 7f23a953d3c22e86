"""Named augmentation presets of a project: `policies/presets/<name>.json`, one policy per file.

An engineer who tunes a policy on the bench wants to reuse it on the next class without
retyping it, and a copy of the project folder must carry it. The built-in presets (Table 4 and
the generic ones) live in code; these are the user's own, next to the classes' policies. Names
are compared without regard to case (file systems on Windows and macOS would merge them) and
may not shadow a built-in preset. A damaged file is skipped and reported, never fatal. Qt-free.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from inspector.store.atomic import describe_os_error, read_json, write_json_atomic
from inspector.store.names import check_name, safe_folder_name
from inspector.types import InspectorError

PRESETS_SUBDIR = "presets"


def _file(folder: Path, name: str) -> Path:
    return folder / f"{safe_folder_name(name).lower()}.json"


def _builtin_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def check_preset_name(name: Any) -> str:
    """The stripped name, or InspectorError: empty, unsafe or a built-in preset's name."""
    from inspector.augment.policy import PRESETS

    name = check_name(name, "preset name")
    if _builtin_key(name) in PRESETS:
        raise InspectorError(f"'{name}' is a built-in preset; choose another name for your own.")
    return name


def list_presets(folder: Path, problems: list[str] | None = None) -> dict[str, dict]:
    """name -> validated policy JSON, sorted by name; damaged files go to `problems`."""
    from inspector.augment.policy import AugmentationPolicy

    found: dict[str, dict] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            data = read_json(path)
            policy = AugmentationPolicy.from_json(data)
            name = check_preset_name(policy.name)
        except InspectorError as exc:
            if problems is not None:
                problems.append(f"Preset file {path} skipped: {exc}")
            continue
        found[name] = policy.to_json()
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def save_preset(folder: Path, name: str, policy_json: dict) -> dict:
    """Validate and write (atomically) the preset `name`; returns the JSON stored (named `name`)."""
    from inspector.augment.policy import AugmentationPolicy

    name = check_preset_name(name)
    if not isinstance(policy_json, dict):
        raise InspectorError("An augmentation policy must be a JSON object.")
    policy = AugmentationPolicy.from_json(policy_json).renamed(name)
    data = policy.to_json()
    write_json_atomic(_file(folder, name), data)
    return data


def delete_preset(folder: Path, name: str) -> None:
    path = _file(folder, str(name))
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise InspectorError(f"Could not delete {path}: {describe_os_error(exc)}") from exc
