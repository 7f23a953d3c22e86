"""project.json: the folder layout, the schema version and the strict parsing of its entries.

    <project>/
      project.json            name, classes, image records, settings (schema-versioned)
      project.json.bak        the previous version of project.json
      images/<class>/         the images of each part class, as imported (bytes untouched)
      images/<class>/masks/   ground-truth defect masks that came with imported test images
      policies/<class>.json   the augmentation policy of each class
      models/<class>/<id>/    fitted models (see inspector.store.model_manifest)
      inspected/<class>/      images saved during inspection (optional)
      inspections.sqlite      the inspection log (SQLite, WAL: also -wal and -shm files)

Version 2 added to each image record its defect type, ground-truth mask and original name, and
the review decision 'undecided' (flagged by SROC, not yet seen by a person). A version-1 file
reads as version 2 with those unset (`MIGRATIONS`); an older Inspector refuses a version-2 file
rather than drop what it does not know. Parsing never half-uses an entry: a damaged one is
reported and kept verbatim.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

from inspector.io.images import IMAGE_SUFFIXES
from inspector.store.atomic import json_default, read_json
from inspector.store.names import file_name_problem, safe_folder_name
from inspector.store.records import REVIEW_DECISIONS, ImageRecord, PartClass, now_iso
from inspector.types import InspectorError

SCHEMA_VERSION = 2
PROJECT_FORMAT = "inspector-project"
PROJECT_FILE = "project.json"
BACKUP_FILE = "project.json.bak"
LOG_FILE = "inspections.sqlite"
IMAGES_DIR = "images"
POLICIES_DIR = "policies"
MODELS_DIR = "models"
INSPECTED_DIR = "inspected"
MASKS_DIR = "masks"  # under images/<class>/


def _v1_to_v2(data: dict) -> dict:
    """Version 1 had no defect types, masks or original names: every image gets them unset."""
    for entry in (data.get("classes") or {}).values() if isinstance(data.get("classes"), dict) else ():
        for image in (entry.get("images") or []) if isinstance(entry, dict) else ():
            if isinstance(image, dict):
                for key in ("defect_type", "mask", "original_name"):
                    image.setdefault(key, None)
    return data


#: version -> function upgrading a project.json dict from that version to the next.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def migrate(data: Any, source: str = PROJECT_FILE) -> tuple[dict, int]:
    """Bring project.json data to SCHEMA_VERSION; returns (data, the version it had)."""
    if not isinstance(data, dict):
        raise InspectorError(f"{source} is not a project file (expected a JSON object).")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InspectorError(f"{source}: invalid schema_version {version!r}.")
    if version > SCHEMA_VERSION:
        raise InspectorError(
            f"{source} was written by a newer Inspector (project version {version}; this version reads up to "
            f"{SCHEMA_VERSION}). Update Inspector to open it."
        )
    original = version
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
        data["schema_version"] = version
    return data, original


def _optional_number(value: Any, what: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def parse_class(name: str, data: Any, problems: list[str], source: str) -> PartClass:
    """One class entry of project.json; fatal issues raise ValueError, minor ones become problems."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    folder = data.get("folder") or safe_folder_name(name)
    problem = file_name_problem(folder)
    if problem is not None:
        raise ValueError(f"invalid folder {folder!r} ({problem})")
    part = PartClass(name=name, folder=folder)
    seen: set[str] = set()
    images = data.get("images") or []
    if not isinstance(images, list):
        problems.append(f"{source}: class '{name}': 'images' is not a list; no images were read.")
        images = []
    for index, entry in enumerate(images):
        try:
            record = ImageRecord.from_json(entry)
            if record.id in seen:
                raise ValueError(f"duplicate id {record.id}")
            seen.add(record.id)
            part.images.append(record)
        except ValueError as exc:
            problems.append(f"{source}: class '{name}', image entry #{index + 1}: {exc}; it was skipped.")
            part.invalid_images.append(entry)
    aug_factor = data.get("aug_factor", 0)
    part.aug_factor = aug_factor if isinstance(aug_factor, int) and not isinstance(aug_factor, bool) and aug_factor >= 0 else 0
    fit_settings = data.get("fit_settings")
    part.fit_settings = fit_settings if isinstance(fit_settings, dict) else None
    active = data.get("active_model_id")
    part.active_model_id = active if isinstance(active, str) and active else None
    for attribute in ("fail_threshold", "review_threshold"):
        try:
            setattr(part, attribute, _optional_number(data.get(attribute), attribute))
        except ValueError as exc:
            problems.append(f"{source}: class '{name}': {exc}; the override was dropped.")
    decisions = data.get("review_decisions") or {}
    if isinstance(decisions, dict):
        part.review_decisions = {str(k): v for k, v in decisions.items() if v in REVIEW_DECISIONS}
        if len(part.review_decisions) != len(decisions):
            problems.append(f"{source}: class '{name}': some review decisions were invalid and were dropped.")
    return part


def read_project_file(root: Path, problems: list[str]) -> tuple[dict, bool]:
    """project.json, else its backup, else a project rebuilt from the folders. (data, rebuilt)."""
    main = root / PROJECT_FILE
    if not main.exists() and not (root / BACKUP_FILE).exists() and not (root / IMAGES_DIR).is_dir():
        raise InspectorError(f"{root} is not an Inspector project (it has no {PROJECT_FILE}).")
    try:
        data = read_json(main)
        if not isinstance(data, dict):
            raise InspectorError(f"Damaged file (not a JSON object): {main}")
        if data.get("format", PROJECT_FORMAT) != PROJECT_FORMAT:
            raise InspectorError(f"{main} is not an Inspector project file (format {data.get('format')!r}).")
        return data, False
    except InspectorError as exc:
        reason = str(exc)
    backup = root / BACKUP_FILE
    try:
        data = read_json(backup)
        if not isinstance(data, dict):
            raise InspectorError(f"Damaged file (not a JSON object): {backup}")
        problems.append(f"{reason}. Opened the previous version ({BACKUP_FILE}) instead; "
                        "the last changes may be missing.")
        return data, False
    except InspectorError:
        pass
    problems.append(f"{reason}. No usable backup: the classes and images were rebuilt from the "
                    f"{IMAGES_DIR}/ folder; every image is in the test set, and settings, labels and "
                    "review decisions were lost.")
    return rebuild_from_folders(root), True


def rebuild_from_folders(root: Path) -> dict:
    """project.json data for the image folders found, when neither project.json nor its backup reads."""
    classes: dict[str, dict] = {}
    images_root = root / IMAGES_DIR
    for folder in sorted(images_root.iterdir()) if images_root.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith(".") or file_name_problem(folder.name):
            continue
        images = [{"id": uuid.uuid4().hex, "filename": f.name, "role": "test", "deleted": False, "label": None,
                   "added": now_iso(), "source": "file", "checksum": None}
                  for f in sorted(folder.iterdir()) if f.is_file() and not f.name.startswith(".")
                  and f.suffix.lower() in IMAGE_SUFFIXES and not file_name_problem(f.name)]
        classes[folder.name] = {"folder": folder.name, "images": images}
    return {"schema_version": SCHEMA_VERSION, "format": PROJECT_FORMAT, "name": root.name,
            "created": now_iso(), "classes": classes}


def policy_text(policy: dict) -> str:
    """The text of policies/<class>.json (sorted keys, so an unchanged policy is not rewritten)."""
    return json.dumps(policy, indent=2, ensure_ascii=False, sort_keys=True, default=json_default) + "\n"
