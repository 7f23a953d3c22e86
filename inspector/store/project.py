"""A project is a folder the user can copy, back up and open anywhere.

    <project>/
      project.json            name, classes, image records, settings (schema-versioned)
      project.json.bak        the previous version of project.json
      images/<class>/         the images of each part class, as imported (bytes untouched)
      policies/<class>.json   the augmentation policy of each class
      models/<class>/<id>/    fitted models: JSON + arrays (+ faiss index), with their backbone
      inspected/<class>/      images saved during inspection (optional)
      inspections.sqlite      the inspection log (SQLite, WAL: also -wal and -shm files)

Every write is atomic (see `inspector.store.atomic`). Opening checks the project: a damaged
or missing part is reported in `Project.problems` by name and skipped, and the rest opens.
Methods that change the project save it at once, so a crash loses at most the change under way.
Qt-free: the GUI and the CLI both use this module.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from inspector.io import images as images_module
from inspector.io.images import IMAGE_SUFFIXES, decode_image, encode_image
from inspector.store.atomic import (
    clean_leftovers,
    copy_file_atomic,
    describe_os_error,
    json_default,
    read_json,
    write_bytes_atomic,
    write_json_atomic,
)
from inspector.store.log import InspectionLog, LogDamagedError
from inspector.types import InspectorError, Reporter, as_reporter

SCHEMA_VERSION = 1
PROJECT_FORMAT = "inspector-project"
PROJECT_FILE = "project.json"
BACKUP_FILE = "project.json.bak"
LOG_FILE = "inspections.sqlite"
IMAGES_DIR = "images"
POLICIES_DIR = "policies"
MODELS_DIR = "models"
INSPECTED_DIR = "inspected"
MODEL_FILE = "model.json"

ROLES = ("train", "test")
LABELS = ("good", "defect")
SOURCES = ("file", "camera")
REVIEW_DECISIONS = ("keep", "remove")
#: Leftovers of killed writers younger than this are left alone (another process may be writing).
LEFTOVER_AGE_S = 600.0

PathLike = Union[str, os.PathLike]


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------
@dataclass
class ImageRecord:
    """One image of a class. Deleting is soft (`deleted`), so it can be restored."""

    id: str
    filename: str  # relative to images/<class folder>/
    role: str = "train"
    deleted: bool = False
    label: Optional[str] = None
    added: str = field(default_factory=_now_iso)
    source: str = "file"
    checksum: Optional[str] = None  # sha256 of the file's bytes, to spot duplicates
    #: Set when opening finds the file gone; not stored.
    missing: bool = field(default=False, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "filename": self.filename, "role": self.role, "deleted": self.deleted,
                "label": self.label, "added": self.added, "source": self.source, "checksum": self.checksum}

    @classmethod
    def from_json(cls, data: Any) -> "ImageRecord":
        """Parse one record; raises ValueError with a plain reason when it cannot be used."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        filename = data.get("filename")
        if not isinstance(filename, str) or not filename or _unsafe_relative(filename):
            raise ValueError(f"invalid file name {filename!r}")
        record_id = data.get("id")
        if not isinstance(record_id, str) or not record_id:
            raise ValueError("no id")
        role = data.get("role", "train")
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        label = data.get("label")
        if label not in (None, *LABELS):
            raise ValueError(f"label {label!r} is not one of {', '.join(LABELS)}")
        source = data.get("source", "file")
        return cls(id=record_id, filename=filename, role=role, deleted=bool(data.get("deleted", False)), label=label,
                   added=str(data.get("added") or _now_iso()), source=source if source in SOURCES else "file",
                   checksum=data.get("checksum") if isinstance(data.get("checksum"), str) else None)


@dataclass
class PartClass:
    """A kind of part: its images, how to augment and fit, its active model and review decisions."""

    name: str
    images: list[ImageRecord] = field(default_factory=list)
    policy: Optional[dict] = None  # AugmentationPolicy JSON (stored in policies/<folder>.json)
    aug_factor: int = 0
    fit_settings: Optional[dict] = None  # FitSettings JSON
    active_model_id: Optional[str] = None
    fail_threshold: Optional[float] = None  # operator overrides of the model's calibrated threshold
    review_threshold: Optional[float] = None
    review_decisions: dict[str, str] = field(default_factory=dict)  # image id -> 'keep' | 'remove'
    folder: str = ""  # folder name under images/, models/, policies/ (file-system safe)
    #: Image entries of project.json that could not be parsed: kept and written back unchanged.
    invalid_images: list[Any] = field(default_factory=list, compare=False, repr=False)

    def image(self, image_id: str) -> ImageRecord:
        for record in self.images:
            if record.id == image_id:
                return record
        raise InspectorError(f"Class '{self.name}' has no image with id {image_id}.")

    def active_images(self, role: Optional[str] = None, include_deleted: bool = False) -> list[ImageRecord]:
        """Images usable now: not deleted (unless asked), file present, of `role` when given."""
        return [r for r in self.images
                if (include_deleted or not r.deleted) and not r.missing and (role is None or r.role == role)]

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "images": [r.to_json() for r in self.images] + list(self.invalid_images),
            "aug_factor": self.aug_factor,
            "fit_settings": self.fit_settings,
            "active_model_id": self.active_model_id,
            "fail_threshold": self.fail_threshold,
            "review_threshold": self.review_threshold,
            "review_decisions": dict(self.review_decisions),
        }


@dataclass
class ModelInfo:
    """A fitted model folder: its id, where it is, what model.json says, or what is wrong with it."""

    id: str
    path: Path
    meta: Optional[dict] = None
    problem: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def created(self) -> str:
        if self.meta and isinstance(self.meta.get("created"), str):
            return self.meta["created"]
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        except OSError:
            return ""

    @property
    def feature_config(self) -> Optional[dict]:
        return find_feature_json(self.meta) if self.meta else None


# ---------------------------------------------------------------------------------------------
# schema: migrations and validation
# ---------------------------------------------------------------------------------------------
def _migrate_v0_to_v1(data: dict) -> dict:
    """v0 (early prototype): a flat list of images, each naming its class and split.

    {"name": ..., "classes": ["bottle", ...],
     "images": [{"class": "bottle", "path": "images/bottle/001.png", "split": "train"}, ...]}
    """
    classes: dict[str, dict] = {}
    for name in data.get("classes") or []:
        if isinstance(name, str) and name:
            classes.setdefault(name, {"folder": safe_folder_name(name), "images": []})
    for entry in data.get("images") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("class"), str):
            continue
        name = entry["class"]
        target = classes.setdefault(name, {"folder": safe_folder_name(name), "images": []})
        path = str(entry.get("path") or entry.get("file") or "")
        split = entry.get("split", "train")
        target["images"].append({
            "id": uuid.uuid4().hex, "filename": Path(path.replace("\\", "/")).name,
            "role": "train" if split == "train" else "test", "deleted": False,
            "label": entry.get("label") if entry.get("label") in LABELS else None,
            "added": _now_iso(), "source": "file", "checksum": None,
        })
    return {"schema_version": 1, "format": PROJECT_FORMAT, "name": str(data.get("name") or "Untitled"),
            "created": _now_iso(), "classes": classes}


#: version -> function upgrading a project.json dict from that version to the next.
MIGRATIONS = {0: _migrate_v0_to_v1}


def migrate(data: Any, source: str = PROJECT_FILE) -> tuple[dict, int]:
    """Bring project.json data to SCHEMA_VERSION; returns (data, the version it had)."""
    if not isinstance(data, dict):
        raise InspectorError(f"{source} is not a project file (expected a JSON object).")
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
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


def _parse_class(name: str, data: Any, problems: list[str], source: str) -> PartClass:
    """One class entry of project.json; fatal issues raise ValueError, minor ones become problems."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    folder = data.get("folder") or safe_folder_name(name)
    if not isinstance(folder, str) or _unsafe_relative(folder) or "/" in folder or "\\" in folder:
        raise ValueError(f"invalid folder {folder!r}")
    part = PartClass(name=name, folder=folder)
    seen: set[str] = set()
    for index, entry in enumerate(data.get("images") or []):
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


def check_backbone_compatible(model_feature_json: dict, current: dict) -> None:
    """Refuse to score with features other than those the model was fitted on.

    Both arguments are FeatureConfig JSON ({"backbone", "image_size", "weights_file"}). Scores
    of a model fitted on one backbone are meaningless on another, so this raises an
    InspectorError that says what differs and what to do.
    """
    trained = model_feature_json or {}
    now = current or {}
    if not trained.get("backbone"):
        raise InspectorError("This model does not record which backbone it was fitted with, so it cannot be "
                             "checked against the current one: fit it again.")
    differences = []
    if str(trained.get("backbone")) != str(now.get("backbone")):
        differences.append(f"backbone '{trained.get('backbone')}' (now '{now.get('backbone')}')")
    if trained.get("image_size") is not None and now.get("image_size") is not None \
            and int(trained["image_size"]) != int(now["image_size"]):
        differences.append(f"input size {trained['image_size']} px (now {now['image_size']} px)")
    trained_weights, current_weights = trained.get("weights_file"), now.get("weights_file")
    if (trained_weights or current_weights) and \
            Path(str(trained_weights or "")).name != Path(str(current_weights or "")).name:
        differences.append(f"weights '{trained_weights or 'packaged'}' (now '{current_weights or 'packaged'}')")
    if differences:
        raise InspectorError(
            "This model was fitted with " + ", ".join(differences) + ". Its scores would be meaningless with "
            "other features: switch back to those settings, or fit a new model with the current ones."
        )


def find_feature_json(meta: Any) -> Optional[dict]:
    """The FeatureConfig JSON inside a model.json, wherever the pipeline keeps it."""
    if not isinstance(meta, dict):
        return None
    for key in ("features", "feature_config", "feature"):
        if isinstance(meta.get(key), dict) and "backbone" in meta[key]:
            return meta[key]
    settings = meta.get("settings")
    if isinstance(settings, dict):
        inner = find_feature_json(settings)
        if inner is not None:
            return inner
        if "backbone" in settings:
            return {"backbone": settings["backbone"], "image_size": settings.get("image_size"),
                    "weights_file": settings.get("weights_file")}
    if "backbone" in meta:
        return {"backbone": meta["backbone"], "image_size": meta.get("image_size"), "weights_file": meta.get("weights_file")}
    return None


# ---------------------------------------------------------------------------------------------
# names on disk
# ---------------------------------------------------------------------------------------------
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


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


def _unsafe_relative(name: str) -> bool:
    """True for names that could escape their folder (absolute, '..', drive letters)."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ":" in name or any(p in ("", ".", "..") for p in parts)


def _unique_name(wanted: str, taken: set[str]) -> str:
    """`wanted`, or `stem-2.ext`, `stem-3.ext` ...; compared case-insensitively (Windows, macOS)."""
    stem, suffix = os.path.splitext(wanted)
    candidate, n = wanted, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate.lower())
    return candidate


def _as_list(ids: Union[str, Iterable[str]]) -> list[str]:
    return [ids] if isinstance(ids, str) else list(ids)


# ---------------------------------------------------------------------------------------------
# the project
# ---------------------------------------------------------------------------------------------
class Project:
    """A project folder in memory. Create with `Project.create`, open with `Project.open`."""

    def __init__(self, root: PathLike, name: str, classes: Optional[dict[str, PartClass]] = None,
                 created: Optional[str] = None) -> None:
        self.root = Path(root)
        self.name = name
        self.classes: dict[str, PartClass] = classes if classes is not None else {}
        self.created = created or _now_iso()
        self.problems: list[str] = []
        self._lock = threading.RLock()
        self._log: Optional[InspectionLog] = None
        self._invalid_classes: dict[str, Any] = {}  # unparseable class entries, written back unchanged
        self._written_policies: dict[str, Optional[str]] = {}  # class folder -> JSON text on disk
        self._linked_backup = True

    # -- create / open / save -----------------------------------------------------------------
    @classmethod
    def create(cls, folder: PathLike, name: str) -> "Project":
        """Make a new project in `folder` (created if needed; it must not hold anything else)."""
        root = Path(folder)
        if (root / PROJECT_FILE).exists():
            raise InspectorError(f"{root} already holds a project; open it instead.")
        if root.exists() and not root.is_dir():
            raise InspectorError(f"{root} is a file, not a folder.")
        if root.exists() and any(not p.name.startswith(".") for p in root.iterdir()):
            raise InspectorError(f"{root} is not empty: choose an empty or a new folder for the project.")
        if not str(name).strip():
            raise InspectorError("A project needs a name.")
        try:
            for sub in (IMAGES_DIR, POLICIES_DIR, MODELS_DIR):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InspectorError(f"Cannot create the project folder {root}: {describe_os_error(exc)}") from exc
        project = cls(root, str(name).strip())
        project.save()
        return project

    @classmethod
    def open(cls, folder: PathLike) -> "Project":
        """Open and check a project. Damaged parts are skipped and described in `.problems`."""
        root = Path(folder)
        if root.name == PROJECT_FILE and root.is_file():
            root = root.parent
        if not root.is_dir():
            raise InspectorError(f"Project folder not found: {root}")
        problems: list[str] = []
        # Put back model folders caught mid-swap by a crash, sweep temporaries of killed writers
        # (inspected/ is left out: it can hold a great many files and is never written in place).
        clean_leftovers(root, recursive=False, min_age_s=LEFTOVER_AGE_S)
        for sub in (IMAGES_DIR, POLICIES_DIR, MODELS_DIR):
            clean_leftovers(root / sub, recursive=True, min_age_s=LEFTOVER_AGE_S)
        data, rebuilt = cls._read_project_file(root, problems)
        migrated_from = SCHEMA_VERSION
        if not rebuilt:
            data, migrated_from = migrate(data, str(root / PROJECT_FILE))
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{root / PROJECT_FILE}: the project has no name; using the folder name.")
            name = root.name
        project = cls(root, name, created=str(data.get("created") or _now_iso()))
        raw_classes = data.get("classes")
        if not isinstance(raw_classes, dict):
            problems.append(f"{root / PROJECT_FILE}: 'classes' is missing or not an object; no classes were read.")
            raw_classes = {}
        used_folders: set[str] = set()
        for class_name, entry in raw_classes.items():
            try:
                part = _parse_class(class_name, entry, problems, str(root / PROJECT_FILE))
                if part.folder.lower() in used_folders:
                    raise ValueError(f"folder '{part.folder}' is already used by another class")
            except ValueError as exc:
                problems.append(f"{root / PROJECT_FILE}: class '{class_name}' is invalid ({exc}); it was skipped.")
                project._invalid_classes[class_name] = entry
                continue
            used_folders.add(part.folder.lower())
            project.classes[class_name] = part
        project.problems = problems
        for part in project.classes.values():
            project._check_class(part)
        project._check_stray_folders()
        if rebuilt or migrated_from != SCHEMA_VERSION:
            if migrated_from != SCHEMA_VERSION and (root / PROJECT_FILE).exists():
                try:
                    copy_file_atomic(root / PROJECT_FILE, root / f"project.v{migrated_from}.json.bak")
                except InspectorError as exc:
                    project.problems.append(str(exc))
            try:
                project.save()
                if migrated_from != SCHEMA_VERSION:
                    project.problems.append(
                        f"{root / PROJECT_FILE} was upgraded from version {migrated_from} to {SCHEMA_VERSION}; "
                        f"the old file is kept as project.v{migrated_from}.json.bak.")
            except InspectorError as exc:
                project.problems.append(f"The repaired project could not be saved: {exc}")
        return project

    @classmethod
    def _read_project_file(cls, root: Path, problems: list[str]) -> tuple[dict, bool]:
        """project.json, else its backup, else a project rebuilt from the folders. (data, rebuilt)."""
        main = root / PROJECT_FILE
        if not main.exists() and not (root / BACKUP_FILE).exists() \
                and not (root / IMAGES_DIR).is_dir():
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
        if "newer Inspector" in reason:
            raise InspectorError(reason)
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
        return cls._rebuild_from_folders(root), True

    @staticmethod
    def _rebuild_from_folders(root: Path) -> dict:
        classes: dict[str, dict] = {}
        images_root = root / IMAGES_DIR
        for folder in sorted(images_root.iterdir()) if images_root.is_dir() else []:
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            images = [{"id": uuid.uuid4().hex, "filename": f.name, "role": "test", "deleted": False, "label": None,
                       "added": _now_iso(), "source": "file", "checksum": None}
                      for f in sorted(folder.iterdir()) if f.is_file() and not f.name.startswith(".")
                      and f.suffix.lower() in IMAGE_SUFFIXES]
            classes[folder.name] = {"folder": folder.name, "images": images}
        return {"schema_version": SCHEMA_VERSION, "format": PROJECT_FORMAT, "name": root.name,
                "created": _now_iso(), "classes": classes}

    def _check_class(self, part: PartClass) -> None:
        """Look for missing files, unlisted files, the policy and the models of one class."""
        folder = self.class_images_dir(part.name)
        present: dict[str, Path] = {}
        if folder.is_dir():
            present = {p.name: p for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES}
        missing = [r for r in part.images if r.filename not in present]
        for record in missing:
            record.missing = True
        if missing:
            shown = ", ".join(r.filename for r in missing[:5]) + (" ..." if len(missing) > 5 else "")
            self.problems.append(f"{folder}: {len(missing)} image file(s) of class '{part.name}' are missing "
                                 f"({shown}); they are left out until the files are put back.")
        listed = {r.filename for r in part.images}
        orphans = sorted(name for name in present if name not in listed)
        for name in orphans:  # e.g. copied in by a crashed import: keep them, but out of the way
            part.images.append(ImageRecord(id=uuid.uuid4().hex, filename=name, role="train", deleted=True))
        if orphans:
            self.problems.append(f"{folder}: {len(orphans)} image file(s) not listed in {PROJECT_FILE} were found "
                                 "and put in the class's deleted images; restore them to use them.")
        policy_file = self._policy_path(part)
        if policy_file.exists():
            try:
                policy = read_json(policy_file)
                if not isinstance(policy, dict):
                    raise InspectorError(f"Damaged file (not a JSON object): {policy_file}")
                part.policy = policy
                self._written_policies[part.folder] = _policy_text(policy)
            except InspectorError as exc:
                self.problems.append(f"{exc}. Class '{part.name}' opens without its augmentation policy "
                                     "(the damaged file is left as it is until a new policy is saved).")
                self._written_policies[part.folder] = None
        else:
            self._written_policies[part.folder] = None
        models = {m.id: m for m in self.list_models(part.name)}
        for model in models.values():
            if model.problem:
                self.problems.append(f"Class '{part.name}': {model.problem}")
        if part.active_model_id is not None:
            active = models.get(part.active_model_id)
            if active is None or not active.ok:
                self.problems.append(f"Class '{part.name}': its active model {part.active_model_id} is "
                                     f"{'missing' if active is None else 'damaged'}; no model is active.")
                part.active_model_id = None
        known = {r.id for r in part.images}
        stale = [k for k in part.review_decisions if k not in known]
        for key in stale:
            del part.review_decisions[key]

    def _check_stray_folders(self) -> None:
        used = {p.folder.lower() for p in self.classes.values()}
        used |= {safe_folder_name(n).lower() for n in self._invalid_classes}
        for sub in (IMAGES_DIR, MODELS_DIR):
            base = self.root / sub
            for entry in sorted(base.iterdir()) if base.is_dir() else []:
                if entry.is_dir() and not entry.name.startswith(".") and entry.name.lower() not in used:
                    self.problems.append(f"{entry} belongs to no class of this project; it was ignored.")

    def to_json(self) -> dict[str, Any]:
        classes = {name: part.to_json() for name, part in self.classes.items()}
        for name, raw in self._invalid_classes.items():
            classes.setdefault(name, raw)
        return {"schema_version": SCHEMA_VERSION, "format": PROJECT_FORMAT, "name": self.name,
                "created": self.created, "classes": classes}

    def save(self) -> None:
        """Write project.json (and changed policies) atomically; the previous version becomes the backup."""
        with self._lock:
            text = json.dumps(self.to_json(), indent=2, ensure_ascii=False, default=json_default) + "\n"
            for part in self.classes.values():
                wanted = None if part.policy is None else _policy_text(part.policy)
                if self._written_policies.get(part.folder, None) != wanted:
                    path = self._policy_path(part)
                    if wanted is None:
                        path.unlink(missing_ok=True)
                    else:
                        write_bytes_atomic(path, wanted.encode("utf-8"))
                    self._written_policies[part.folder] = wanted
            main = self.root / PROJECT_FILE
            if main.exists():
                self._backup(main)
            write_bytes_atomic(main, text.encode("utf-8"))

    def _backup(self, main: Path) -> None:
        """Keep the current project.json as project.json.bak, cheaply (a hard link when possible)."""
        backup = self.root / BACKUP_FILE
        try:
            if backup.exists() and os.path.samefile(main, backup):
                return  # the last save failed after making the backup: it is already this version
        except OSError:
            pass
        if self._linked_backup:
            link = self.root / f".{BACKUP_FILE}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                os.link(main, link)
                os.replace(link, backup)
                return
            except OSError:
                self._linked_backup = False  # FAT, some network shares: copy instead
            finally:
                link.unlink(missing_ok=True)  # rename onto the same file is a no-op that keeps `link`
        try:
            copy_file_atomic(main, backup)
        except InspectorError:
            pass  # a backup that cannot be written must not stop the save itself

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Apply a change in memory and save it; if saving fails (full disk...), undo it in memory too.

        The PartClass objects stay the same objects, so references held by the GUI remain valid.
        """
        with self._lock:
            live = dict(self.classes)
            snapshot = {key: copy.deepcopy(part) for key, part in live.items()}
            name, invalid = self.name, dict(self._invalid_classes)
            try:
                yield
                self.save()
            except BaseException:
                self.name, self._invalid_classes = name, invalid
                for key, saved in snapshot.items():
                    live[key].__dict__.update(saved.__dict__)
                self.classes = {key: live[key] for key in snapshot}
                raise

    # -- classes ------------------------------------------------------------------------------
    def _class(self, name: str) -> PartClass:
        try:
            return self.classes[name]
        except KeyError:
            raise InspectorError(f"The project has no class '{name}'.") from None

    def add_class(self, name: str) -> PartClass:
        name = str(name).strip()
        if not name:
            raise InspectorError("A class needs a name.")
        with self._changing():
            if name in self.classes or name in self._invalid_classes:
                raise InspectorError(f"The project already has a class '{name}'.")
            taken = {p.folder.lower() for p in self.classes.values()}
            taken |= {e.name.lower() for sub in (IMAGES_DIR, MODELS_DIR) if (self.root / sub).is_dir()
                      for e in (self.root / sub).iterdir()}
            folder = _unique_name(safe_folder_name(name), taken)
            part = PartClass(name=name, folder=folder)
            self.classes[name] = part
            self._written_policies[folder] = None
        try:
            self.class_images_dir(part).mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # made again on the first import
        return part

    def rename_class(self, old: str, new: str) -> PartClass:
        """Rename a class (its folders keep their names)."""
        new = str(new).strip()
        with self._changing():
            part = self._class(old)
            if not new:
                raise InspectorError("A class needs a name.")
            if new != old and (new in self.classes or new in self._invalid_classes):
                raise InspectorError(f"The project already has a class '{new}'.")
            self.classes = {(new if k == old else k): v for k, v in self.classes.items()}
            part.name = new
        return part

    def remove_class(self, name: str) -> None:
        """Remove a class with its images, policy and models (after the project is saved without it)."""
        with self._changing():
            if name not in self.classes and name in self._invalid_classes:
                del self._invalid_classes[name]  # a damaged entry: nothing of it was loaded
                return
            part = self._class(name)
            del self.classes[name]
        with self._lock:
            for path in (self.class_images_dir(part), self.models_dir(part), self._policy_path(part)):
                try:
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink(missing_ok=True)
                except OSError as exc:
                    self.problems.append(f"Could not delete {path}: {describe_os_error(exc)}")
            self._written_policies.pop(part.folder, None)

    # -- images -------------------------------------------------------------------------------
    def class_images_dir(self, part: Union[str, PartClass]) -> Path:
        part = part if isinstance(part, PartClass) else self._class(part)
        return self.root / IMAGES_DIR / part.folder

    def image_path(self, class_name: str, record: Union[ImageRecord, str]) -> Path:
        part = self._class(class_name)
        record = record if isinstance(record, ImageRecord) else part.image(record)
        return self.class_images_dir(part) / record.filename

    def image_paths(self, class_name: str, role: Optional[str] = "train", include_deleted: bool = False) -> list[Path]:
        """Paths of the usable images of a class (by role), e.g. to feed `fit_model`."""
        part = self._class(class_name)
        return [self.class_images_dir(part) / r.filename for r in part.active_images(role, include_deleted)]

    def import_images(self, class_name: str, paths: Sequence[PathLike], role: str = "train", *,
                      label: Optional[str] = None, reporter: Optional[Reporter] = None) -> tuple[list[ImageRecord], list[str]]:
        """Copy image files into the class; bad or duplicate ones are refused with a message each.

        The bytes are copied untouched (after a full decode to check them). What was imported
        before a cancel is kept and saved. Returns (new records, messages for refused files).
        """
        _check_choice(role, ROLES, "role")
        if label is not None:
            _check_choice(label, LABELS, "label")
        reporter = as_reporter(reporter)
        part = self._class(class_name)
        folder = self.class_images_dir(part)
        records: list[ImageRecord] = []
        errors: list[str] = []
        total = len(paths)
        try:
            for index, source in enumerate(paths):
                source = Path(source)
                reporter.report("import", index, total, f"Importing {source.name}")
                try:
                    data, image = _read_checked_image(source)  # slow part, done without the lock
                    with self._lock:
                        records.append(self._store_import(part, source, data, image, role, label))
                except InspectorError as exc:
                    errors.append(str(exc))
            reporter.report("import", total, total, f"{len(records)} image(s) imported")
        finally:
            if records:
                with self._lock:
                    try:
                        self.save()
                    except BaseException:  # not recorded: take the copies back out
                        added = {r.id for r in records}
                        part.images = [r for r in part.images if r.id not in added]
                        for record in records:
                            (folder / record.filename).unlink(missing_ok=True)
                        raise
        return records, errors

    def _store_import(self, part: PartClass, source: Path, data: bytes, image: np.ndarray, role: str,
                      label: Optional[str]) -> ImageRecord:
        """Copy one checked image into the class under a unique name (called with the lock held)."""
        checksum = hashlib.sha256(data).hexdigest()
        twin = next((r for r in part.images if r.checksum == checksum), None)
        if twin is not None:
            where = " (among the deleted images: restore it instead)" if twin.deleted else ""
            raise InspectorError(f"{source}: skipped, it is identical to {twin.filename}, already in class "
                                 f"'{part.name}'{where}.")
        folder = self.class_images_dir(part)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            taken = {p.name.lower() for p in folder.iterdir()} | {r.filename.lower() for r in part.images}
        except OSError as exc:
            raise InspectorError(f"Cannot write into {folder}: {describe_os_error(exc)}") from exc
        suffix = source.suffix.lower()
        if suffix not in IMAGE_SUFFIXES:  # a valid image with an odd name: store it as PNG
            data, suffix = encode_image(image, "PNG"), ".png"
        filename = _unique_name(safe_folder_name(source.stem, 80) + suffix, taken)
        write_bytes_atomic(folder / filename, data)
        record = ImageRecord(id=uuid.uuid4().hex, filename=filename, role=role, label=label, source="file",
                             checksum=checksum)
        part.images.append(record)
        return record

    def add_captured_image(self, class_name: str, rgb_array: np.ndarray, role: str = "train",
                           label: Optional[str] = None) -> ImageRecord:
        """Store a camera frame (RGB uint8) as a lossless PNG in the class."""
        _check_choice(role, ROLES, "role")
        if label is not None:
            _check_choice(label, LABELS, "label")
        array = np.asarray(rgb_array)
        if array.ndim not in (2, 3) or array.size == 0:
            raise InspectorError(f"A captured image must be an (H, W, 3) array, got shape {array.shape}.")
        data = encode_image(array, "PNG")
        with self._lock:
            part = self._class(class_name)
            folder = self.class_images_dir(part)
            folder.mkdir(parents=True, exist_ok=True)
            taken = {p.name.lower() for p in folder.iterdir()} | {r.filename.lower() for r in part.images}
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            filename = _unique_name(f"capture-{stamp}.png", taken)
            write_bytes_atomic(folder / filename, data)
            record = ImageRecord(id=uuid.uuid4().hex, filename=filename, role=role, label=label, source="camera",
                                 checksum=hashlib.sha256(data).hexdigest())
            part.images.append(record)
            try:
                self.save()
            except BaseException:
                part.images.remove(record)
                (folder / filename).unlink(missing_ok=True)
                raise
            return record

    def _update_images(self, class_name: str, image_ids: Union[str, Iterable[str]], **changes: Any) -> list[ImageRecord]:
        with self._changing():
            part = self._class(class_name)
            records = [part.image(i) for i in _as_list(image_ids)]  # all checked before any change
            for record in records:
                for key, value in changes.items():
                    setattr(record, key, value)
        return records

    def set_role(self, class_name: str, image_ids: Union[str, Iterable[str]], role: str) -> None:
        _check_choice(role, ROLES, "role")
        self._update_images(class_name, image_ids, role=role)

    def set_label(self, class_name: str, image_ids: Union[str, Iterable[str]], label: Optional[str]) -> None:
        if label is not None:
            _check_choice(label, LABELS, "label")
        self._update_images(class_name, image_ids, label=label)

    def delete_image(self, class_name: str, image_ids: Union[str, Iterable[str]]) -> None:
        """Soft delete: the file stays, `restore_image` brings it back."""
        self._update_images(class_name, image_ids, deleted=True)

    def restore_image(self, class_name: str, image_ids: Union[str, Iterable[str]]) -> None:
        self._update_images(class_name, image_ids, deleted=False)

    def purge_deleted(self, class_name: str) -> int:
        """Permanently remove the files of deleted images (the project is saved first)."""
        with self._changing():
            part = self._class(class_name)
            gone = [r for r in part.images if r.deleted]
            part.images = [r for r in part.images if not r.deleted]
            for record in gone:
                part.review_decisions.pop(record.id, None)
        with self._lock:
            for record in gone:
                try:
                    (self.class_images_dir(part) / record.filename).unlink(missing_ok=True)
                except OSError as exc:
                    self.problems.append(f"Could not delete {record.filename}: {describe_os_error(exc)}")
            return len(gone)

    def save_inspected_image(self, class_name: str, rgb_array: np.ndarray) -> Path:
        """Keep an inspected part's image (e.g. a camera frame) for the log: inspected/<class>/<day>/."""
        part = self._class(class_name)
        now = datetime.now()
        path = self.root / INSPECTED_DIR / part.folder / now.strftime("%Y-%m-%d") / \
            f"{now.strftime('%H%M%S-%f')}-{uuid.uuid4().hex[:6]}.png"
        write_bytes_atomic(path, encode_image(np.asarray(rgb_array), "PNG"))
        return path

    # -- policies, settings, review -----------------------------------------------------------
    def _policy_path(self, part: PartClass) -> Path:
        return self.root / POLICIES_DIR / f"{part.folder}.json"

    def save_policy(self, class_name: str, policy_json: Optional[dict]) -> None:
        """Store the class's augmentation policy (None removes it)."""
        if policy_json is not None and not isinstance(policy_json, dict):
            raise InspectorError("An augmentation policy must be a JSON object.")
        with self._changing():
            part = self._class(class_name)
            part.policy = None if policy_json is None else json.loads(_policy_text(policy_json))

    def set_fit_settings(self, class_name: str, settings: Optional[dict], aug_factor: Optional[int] = None) -> None:
        with self._changing():
            part = self._class(class_name)
            part.fit_settings = None if settings is None else json.loads(json.dumps(settings, default=json_default))
            if aug_factor is not None:
                if int(aug_factor) < 0:
                    raise InspectorError("The augmentation factor cannot be negative.")
                part.aug_factor = int(aug_factor)

    def set_thresholds(self, class_name: str, fail: Optional[float] = None, review: Optional[float] = None) -> None:
        """Operator overrides of the model's thresholds (None: use the model's own)."""
        if fail is not None and review is not None and review > fail:
            raise InspectorError(f"The review threshold ({review:g}) must not be above the fail threshold ({fail:g}).")
        with self._changing():
            part = self._class(class_name)
            part.fail_threshold = None if fail is None else float(fail)
            part.review_threshold = None if review is None else float(review)

    def set_review_decisions(self, class_name: str, decisions: dict[str, str]) -> None:
        """Replace the SROC review decisions of a class: image id -> 'keep' | 'remove'."""
        with self._changing():
            part = self._class(class_name)
            known = {r.id for r in part.images}
            clean: dict[str, str] = {}
            for image_id, decision in decisions.items():
                _check_choice(decision, REVIEW_DECISIONS, "review decision")
                if image_id not in known:
                    raise InspectorError(f"Class '{class_name}' has no image with id {image_id}.")
                clean[str(image_id)] = decision
            part.review_decisions = clean

    # -- models -------------------------------------------------------------------------------
    def models_dir(self, class_name: Union[str, PartClass]) -> Path:
        part = class_name if isinstance(class_name, PartClass) else self._class(class_name)
        return self.root / MODELS_DIR / part.folder

    def new_model_dir(self, class_name: str) -> tuple[str, Path]:
        """A fresh model id and the folder to save it in (not created: save through atomic_directory)."""
        base = self.models_dir(class_name)
        base.mkdir(parents=True, exist_ok=True)
        while True:
            model_id = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
            if not (base / model_id).exists():
                return model_id, base / model_id

    def list_models(self, class_name: str) -> list[ModelInfo]:
        """The class's model folders, oldest first; damaged ones carry a `problem`."""
        base = self.models_dir(class_name)
        if not base.is_dir():
            return []
        models = []
        for entry in sorted(base.iterdir()):
            if entry.name.startswith("."):
                continue  # staging / leftovers of an interrupted save
            if not entry.is_dir():
                continue
            models.append(_inspect_model_dir(entry))
        return models

    def model_path(self, class_name: str, model_id: str) -> Path:
        path = self.models_dir(class_name) / model_id
        if _unsafe_relative(model_id) or "/" in model_id or "\\" in model_id or not path.is_dir():
            raise InspectorError(f"Class '{class_name}' has no model '{model_id}'.")
        return path

    def set_active_model(self, class_name: str, model_id: Optional[str]) -> None:
        with self._changing():
            part = self._class(class_name)
            if model_id is not None:
                info = _inspect_model_dir(self.model_path(class_name, model_id))
                if not info.ok:
                    raise InspectorError(f"Cannot use model {model_id}: {info.problem}")
            part.active_model_id = model_id

    def delete_model(self, class_name: str, model_id: str) -> None:
        with self._lock:
            part = self._class(class_name)
            path = self.model_path(class_name, model_id)
            if part.active_model_id == model_id:
                with self._changing():
                    part.active_model_id = None
            aside = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            try:
                os.replace(path, aside)  # one atomic step: the model is gone or still whole
            except OSError as exc:
                raise InspectorError(f"Could not delete model {path}: {describe_os_error(exc)}") from exc
            shutil.rmtree(aside, ignore_errors=True)

    # -- inspection log -----------------------------------------------------------------------
    @property
    def log(self) -> InspectionLog:
        """The inspection log (opened on first use). A damaged log is moved aside and a new one started."""
        with self._lock:
            if self._log is None or self._log.closed:
                path = self.root / LOG_FILE
                try:
                    self._log = InspectionLog(path)
                except LogDamagedError as exc:
                    aside = path.with_name(f"inspections-damaged-{datetime.now().strftime('%Y%m%d-%H%M%S')}.sqlite")
                    for suffix in ("", "-wal", "-shm"):
                        companion = Path(str(path) + suffix)
                        if companion.exists():
                            os.replace(companion, Path(str(aside) + suffix))
                    self.problems.append(f"{exc} It was moved to {aside.name} and a new log was started.")
                    self._log = InspectionLog(path)
            return self._log

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Project({self.name!r}, {self.root}, classes={list(self.classes)})"


def _read_checked_image(source: Path) -> tuple[bytes, np.ndarray]:
    """The file's bytes and its decoded pixels; InspectorError naming the file when unusable."""
    try:
        if source.stat().st_size > images_module.MAX_FILE_BYTES:
            raise InspectorError(f"{source}: the file is too large to be an image.")
        data = source.read_bytes()
    except OSError as exc:
        raise InspectorError(f"{source}: cannot be read ({describe_os_error(exc)}).") from exc
    return data, decode_image(data, str(source), max_side=1024)  # raises ImageLoadError with the reason


def _inspect_model_dir(path: Path) -> ModelInfo:
    """Read a model folder's model.json (never any pickle); report what is wrong with it."""
    info = ModelInfo(id=path.name, path=path)
    meta_path = path / MODEL_FILE
    if not meta_path.exists():
        info.problem = f"model {path.name} has no {MODEL_FILE} ({path}); it cannot be used."
        return info
    try:
        meta = read_json(meta_path)
        if not isinstance(meta, dict):
            raise InspectorError(f"Damaged file (not a JSON object): {meta_path}")
        info.meta = meta
    except InspectorError as exc:
        info.problem = f"model {path.name} is damaged: {exc}"
    return info


def _policy_text(policy: dict) -> str:
    return json.dumps(policy, indent=2, ensure_ascii=False, sort_keys=True, default=json_default) + "\n"




def _check_choice(value: Any, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise InspectorError(f"Unknown {what} {value!r}: expected one of {', '.join(choices)}.")


# ---------------------------------------------------------------------------------------------
# recent projects (per user)
# ---------------------------------------------------------------------------------------------
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


__all__ = [
    "ImageRecord", "ModelInfo", "PartClass", "Project", "SCHEMA_VERSION", "check_backbone_compatible",
    "config_dir", "find_feature_json", "forget_recent", "load_recent", "migrate", "remember_recent",
    "safe_folder_name",
]
