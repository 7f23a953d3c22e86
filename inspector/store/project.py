"""A project is a folder the user can copy, back up and open anywhere (layout: `inspector.store.schema`).

`Project` holds the project in memory and changes it: classes, images, policies, settings,
review decisions, models, the inspection log. Methods that change the project save it at once
(atomically, see `inspector.store.atomic`), so a crash loses at most the change under way, and
a change that cannot be saved is undone in memory too. Opening and repairing live in
`inspector.store.repair`; records in `records`, names in `names`, model folders in
`model_folders`, per-user settings in `user_config`, all re-exported here. Qt-free.
Every change goes through one change / back up / save / undo transaction (`_changing`); the
policy and settings methods (`project_policies`) and the model-folder methods (`project_models`)
are mixed in from their own modules and use that same transaction.
"""
from __future__ import annotations

import copy
import json
import os
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from inspector.io.images import encode_image
from inspector.store import image_import
from inspector.store.atomic import (
    copy_file_atomic,
    delete_directory,
    describe_os_error,
    json_default,
    write_bytes_atomic,
)
from inspector.store.log import InspectionLog, LogDamagedError
from inspector.store.model_folders import (
    MODEL_FILE,
)
from inspector.store.project_models import ModelMethods
from inspector.store.project_policies import PolicyMethods
from inspector.store.names import check_choice, check_name, safe_folder_name, unique_name
from inspector.store.records import LABELS, REVIEW_DECISIONS, ROLES, SOURCES, ImageRecord, ModelInfo, PartClass, now_iso
from inspector.store.repair import LEFTOVER_AGE_S, open_project, same_file
from inspector.store.schema import (
    BACKUP_FILE,
    IMAGES_DIR,
    INSPECTED_DIR,
    LOG_FILE,
    MIGRATIONS,
    MODELS_DIR,
    POLICIES_DIR,
    PROJECT_FILE,
    PROJECT_FORMAT,
    SCHEMA_VERSION,
    migrate,
    policy_text,
)
from inspector.store.user_config import config_dir, forget_recent, load_recent, remember_recent
from inspector.types import InspectorError, Reporter

PathLike = Union[str, os.PathLike]


def _as_list(ids: Union[str, Iterable[str]]) -> list[str]:
    return [ids] if isinstance(ids, str) else list(ids)


class Project(PolicyMethods, ModelMethods):
    """A project folder in memory. Create with `Project.create`, open with `Project.open`."""

    def __init__(self, root: PathLike, name: str, classes: Optional[dict[str, PartClass]] = None,
                 created: Optional[str] = None) -> None:
        self.root = Path(root)
        self.name = name
        self.classes: dict[str, PartClass] = classes if classes is not None else {}
        self.created = created or now_iso()
        self.problems: list[str] = []
        #: True when the folder cannot be written: view, inspect without logging and export only.
        self.read_only = False
        self._lock = threading.RLock()
        self._log: Optional[InspectionLog] = None
        self._invalid_classes: dict[str, Any] = {}  # unparseable class entries, written back unchanged
        self._written_policies: dict[str, Optional[str]] = {}  # class folder -> JSON text on disk
        self._linked_backup = True

    # -- create / open / save -----------------------------------------------------------------
    @classmethod
    def create(cls, folder: PathLike, name: str) -> "Project":
        """Make a new project in `folder` (created if needed; it must not hold anything else)."""
        name = check_name(name, "project name")
        root = Path(folder)
        if (root / PROJECT_FILE).exists():
            raise InspectorError(f"{root} already holds a project; open it instead.")
        if root.exists() and not root.is_dir():
            raise InspectorError(f"{root} is a file, not a folder.")
        if root.exists() and any(not p.name.startswith(".") for p in root.iterdir()):
            raise InspectorError(f"{root} is not empty: choose an empty or a new folder for the project.")
        try:
            for sub in (IMAGES_DIR, POLICIES_DIR, MODELS_DIR):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InspectorError(f"Cannot create the project folder {root}: {describe_os_error(exc)}") from exc
        project = cls(root, name)
        project.save()
        return project

    @classmethod
    def open(cls, folder: PathLike, read_only: Optional[bool] = None) -> "Project":
        """Open and check a project. Damaged parts are skipped and described in `.problems`.

        `read_only=None` opens read-only exactly when the folder cannot be written; True forces it.
        """
        return open_project(cls, folder, read_only)

    def _check_writable(self) -> None:
        if self.read_only:
            raise InspectorError(f"The project {self.root} is open read-only: changes cannot be saved.")

    def to_json(self) -> dict[str, Any]:
        classes = {name: part.to_json() for name, part in self.classes.items()}
        for name, raw in self._invalid_classes.items():
            classes.setdefault(name, raw)
        return {"schema_version": SCHEMA_VERSION, "format": PROJECT_FORMAT, "name": self.name,
                "created": self.created, "classes": classes}

    def save(self) -> None:
        """Write project.json (and changed policies) atomically; the previous version becomes the backup."""
        with self._lock:
            self._check_writable()
            text = json.dumps(self.to_json(), indent=2, ensure_ascii=False, default=json_default) + "\n"
            for part in self.classes.values():
                wanted = None if part.policy is None else policy_text(part.policy)
                if self._written_policies.get(part.folder, None) != wanted:
                    path = self.policy_path(part)
                    if wanted is None:
                        try:
                            path.unlink(missing_ok=True)
                        except OSError as exc:
                            raise InspectorError(f"Could not delete {path}: {describe_os_error(exc)}") from exc
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
                try:
                    link.unlink(missing_ok=True)  # rename onto the same file is a no-op that keeps `link`
                except OSError:
                    pass
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
            self._check_writable()
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
        except (KeyError, TypeError):
            raise InspectorError(f"The project has no class '{name}'.") from None

    def add_class(self, name: str) -> PartClass:
        name = check_name(name, "class name")
        with self._changing():
            if name in self.classes or name in self._invalid_classes:
                raise InspectorError(f"The project already has a class '{name}'.")
            taken = {p.folder.lower() for p in self.classes.values()}
            taken |= {e.name.lower() for sub in (IMAGES_DIR, MODELS_DIR) if (self.root / sub).is_dir()
                      for e in (self.root / sub).iterdir()}
            folder = unique_name(safe_folder_name(name), taken)
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
        new = check_name(new, "class name")
        with self._changing():
            part = self._class(old)
            if new != old and (new in self.classes or new in self._invalid_classes):
                raise InspectorError(f"The project already has a class '{new}'.")
            self.classes = {(new if k == old else k): v for k, v in self.classes.items()}
            part.name = new
        return part

    def remove_class(self, name: str) -> None:
        """Remove a class with its images, policy and models (after the project is saved without it).

        Each folder is deleted through a tombstone, so an interrupted removal is finished on the
        next open and never leaves a half class behind.
        """
        with self._changing():
            if name not in self.classes and name in self._invalid_classes:
                del self._invalid_classes[name]  # a damaged entry: nothing of it was loaded
                return
            part = self._class(name)
            del self.classes[name]
        with self._lock:
            for path in (self.class_images_dir(part), self.models_dir(part), self.policy_path(part)):
                try:
                    if path.is_dir():
                        delete_directory(path)
                    else:
                        path.unlink(missing_ok=True)
                except (OSError, InspectorError) as exc:
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
        return image_import.import_images(self, class_name, paths, role, label=label, reporter=reporter)

    def add_captured_image(self, class_name: str, rgb_array: np.ndarray, role: str = "train",
                           label: Optional[str] = None) -> ImageRecord:
        """Store a camera frame (RGB uint8) as a lossless PNG in the class."""
        return image_import.add_captured_image(self, class_name, rgb_array, role, label)

    def _update_images(self, class_name: str, image_ids: Union[str, Iterable[str]], **changes: Any) -> list[ImageRecord]:
        with self._changing():
            part = self._class(class_name)
            records = [part.image(i) for i in _as_list(image_ids)]  # all checked before any change
            for record in records:
                for key, value in changes.items():
                    setattr(record, key, value)
        return records

    def set_role(self, class_name: str, image_ids: Union[str, Iterable[str]], role: str) -> None:
        check_choice(role, ROLES, "role")
        self._update_images(class_name, image_ids, role=role)

    def set_label(self, class_name: str, image_ids: Union[str, Iterable[str]], label: Optional[str]) -> None:
        if label is not None:
            check_choice(label, LABELS, "label")
        self._update_images(class_name, image_ids, label=label)

    def delete_image(self, class_name: str, image_ids: Union[str, Iterable[str]]) -> None:
        """Soft delete: the file stays, `restore_image` brings it back."""
        self._update_images(class_name, image_ids, deleted=True)

    def restore_image(self, class_name: str, image_ids: Union[str, Iterable[str]]) -> None:
        self._update_images(class_name, image_ids, deleted=False)

    def purge_deleted(self, class_name: str) -> int:
        """Permanently remove the files of deleted images (the project is saved first).

        A file that a remaining record still names (two records of one file) is never deleted.
        """
        with self._changing():
            part = self._class(class_name)
            gone = [r for r in part.images if r.deleted]
            part.images = [r for r in part.images if not r.deleted]
            for record in gone:
                part.review_decisions.pop(record.id, None)
        with self._lock:
            folder = self.class_images_dir(part)
            for record in gone:
                if any(same_file(folder, record.filename, kept.filename) for kept in part.images):
                    continue
                try:
                    (folder / record.filename).unlink(missing_ok=True)
                except OSError as exc:
                    self.problems.append(f"Could not delete {record.filename}: {describe_os_error(exc)}")
            return len(gone)

    def save_inspected_image(self, class_name: str, rgb_array: np.ndarray) -> Path:
        """Keep an inspected part's image (e.g. a camera frame) for the log: inspected/<class>/<day>/."""
        self._check_writable()
        part = self._class(class_name)
        now = datetime.now()
        path = self.root / INSPECTED_DIR / part.folder / now.strftime("%Y-%m-%d") / \
            f"{now.strftime('%H%M%S-%f')}-{uuid.uuid4().hex[:6]}.png"
        write_bytes_atomic(path, encode_image(np.asarray(rgb_array), "PNG"))
        return path

    # -- inspection log -----------------------------------------------------------------------
    @property
    def log(self) -> InspectionLog:
        """The inspection log (opened on first use). A damaged log is moved aside and a new one started.

        In a read-only project the log opens read-only: it can be viewed and exported, and
        `record` logs nothing.
        """
        with self._lock:
            if self._log is None or self._log.closed:
                path = self.root / LOG_FILE
                if self.read_only:
                    self._log = InspectionLog(path, read_only=True)
                    return self._log
                try:
                    self._log = InspectionLog(path)
                except LogDamagedError as exc:
                    aside = path.with_name(f"inspections-damaged-{datetime.now().strftime('%Y%m%d-%H%M%S')}.sqlite")
                    try:
                        for suffix in ("", "-wal", "-shm"):
                            companion = Path(str(path) + suffix)
                            if companion.exists():
                                os.replace(companion, Path(str(aside) + suffix))
                    except OSError as move_error:
                        raise InspectorError(f"{exc} It could not be moved aside: "
                                             f"{describe_os_error(move_error)}") from move_error
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


__all__ = [
    "BACKUP_FILE", "IMAGES_DIR", "INSPECTED_DIR", "LABELS", "LEFTOVER_AGE_S", "LOG_FILE", "MIGRATIONS", "MODEL_FILE",
    "MODELS_DIR", "POLICIES_DIR", "PROJECT_FILE", "PROJECT_FORMAT", "REVIEW_DECISIONS", "ROLES", "SCHEMA_VERSION",
    "SOURCES", "ImageRecord", "ModelInfo", "PartClass", "Project", "config_dir", "forget_recent", "load_recent",
    "migrate", "remember_recent", "safe_folder_name",
]
