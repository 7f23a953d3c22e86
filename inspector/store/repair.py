"""Opening a project: read project.json (or its backup), check every part of it, repair what is safe.

A damaged or missing part is reported in `Project.problems` by name and skipped, and the rest
opens. What opening repairs, it repairs without losing anything: interrupted deletions are
finished (tombstones, never resurrected), folders caught mid-swap are put back, unlisted image
files become deleted records, and two records naming one file become one record (the file is
never touched). A project on read-only media opens read-only and nothing is written.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from inspector.io.images import IMAGE_SUFFIXES
from inspector.store.atomic import clean_leftovers, copy_file_atomic, read_json
from inspector.store.names import file_name_problem, name_problem, safe_folder_name
from inspector.store.records import ImageRecord, PartClass, now_iso
from inspector.store.schema import (
    IMAGES_DIR,
    MODELS_DIR,
    POLICIES_DIR,
    PROJECT_FILE,
    SCHEMA_VERSION,
    migrate,
    parse_class,
    policy_text,
    read_project_file,
)
from inspector.types import InspectorError

if TYPE_CHECKING:  # pragma: no cover
    from inspector.store.project import Project

#: Leftovers of killed writers younger than this are left alone (another process may be writing).
LEFTOVER_AGE_S = 600.0


def is_writable(root: Path) -> bool:
    """Whether files can be created in `root` (False on read-only media or without permission)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".write-probe-", suffix=".tmp", dir=root)
    except OSError:
        return False
    os.close(fd)
    try:
        os.unlink(name)
    except OSError:
        pass
    return True


def open_project(cls: type["Project"], folder: Any, read_only: Optional[bool] = None) -> "Project":
    """The body of `Project.open` (see there)."""
    root = Path(folder)
    if root.name == PROJECT_FILE and root.is_file():
        root = root.parent
    if not root.is_dir():
        raise InspectorError(f"Project folder not found: {root}")
    writable = is_writable(root) if read_only is None else not read_only
    problems: list[str] = []
    if writable:
        # Finish interrupted deletions, put back folders caught mid-swap, sweep temporaries of
        # killed writers (inspected/ is left out: it can hold a great many files).
        clean_leftovers(root, recursive=False, min_age_s=LEFTOVER_AGE_S)
        for sub in (IMAGES_DIR, POLICIES_DIR, MODELS_DIR):
            clean_leftovers(root / sub, recursive=True, min_age_s=LEFTOVER_AGE_S)
    data, rebuilt = read_project_file(root, problems)
    migrated_from = SCHEMA_VERSION
    if not rebuilt:
        data, migrated_from = migrate(data, str(root / PROJECT_FILE))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{root / PROJECT_FILE}: the project has no name; using the folder name.")
        name = root.name
    project = cls(root, name, created=str(data.get("created") or now_iso()))
    project.read_only = not writable
    if not writable:
        problems.append(f"{root} is read-only, so the project opened read-only: it can be viewed, inspected "
                        "(without logging) and exported, but not changed.")
    raw_classes = data.get("classes")
    if not isinstance(raw_classes, dict):
        problems.append(f"{root / PROJECT_FILE}: 'classes' is missing or not an object; no classes were read.")
        raw_classes = {}
    used_folders: set[str] = set()
    for class_name, entry in raw_classes.items():
        try:
            problem = name_problem(class_name)
            if problem is not None:
                raise ValueError(problem)
            part = parse_class(class_name, entry, problems, str(root / PROJECT_FILE))
            if part.folder.lower() in used_folders:
                raise ValueError(f"folder '{part.folder}' is already used by another class")
        except ValueError as exc:
            problems.append(f"{root / PROJECT_FILE}: class {class_name!r} is invalid ({exc}); it was skipped.")
            project._invalid_classes[class_name] = entry
            continue
        used_folders.add(part.folder.lower())
        project.classes[class_name] = part
    project.problems = problems
    repaired = False
    for part in project.classes.values():
        repaired |= check_class(project, part)
    check_stray_folders(project)
    if rebuilt or repaired or migrated_from != SCHEMA_VERSION:
        _save_repairs(project, migrated_from)
    return project


def _save_repairs(project: "Project", migrated_from: int) -> None:
    root = project.root
    if project.read_only:
        project.problems.append("The repairs above were made in memory only: the project is read-only.")
        return
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


def same_file(folder: Path, first: str, second: str) -> bool:
    """Whether two record file names name one file (equal, or case variants on a case-blind disk)."""
    if first == second:
        return True
    if first.lower() != second.lower():
        return False
    try:
        return os.path.samefile(folder / first, folder / second)
    except OSError:
        return False


def merge_duplicate_records(part: PartClass, folder: Path) -> list[str]:
    """Make records that name one file into one record; returns the file names that had duplicates.

    The record kept is the first live one (else the first); the file itself is never touched, so
    a later `purge_deleted` cannot delete a file that a live record uses.
    """
    groups: list[list[ImageRecord]] = []
    by_lower: dict[str, list[list[ImageRecord]]] = {}
    for record in part.images:
        for group in by_lower.get(record.filename.lower(), []):
            if same_file(folder, group[0].filename, record.filename):
                group.append(record)
                break
        else:
            group = [record]
            groups.append(group)
            by_lower.setdefault(record.filename.lower(), []).append(group)
    merged: list[str] = []
    kept: list[ImageRecord] = []
    for group in groups:
        keep = next((r for r in group if not r.deleted), group[0])
        kept.append(keep)
        if len(group) == 1:
            continue
        merged.append(keep.filename)
        for other in group:
            if other is keep:
                continue
            if keep.label is None:
                keep.label = other.label
            decision = part.review_decisions.pop(other.id, None)
            if decision is not None:
                part.review_decisions.setdefault(keep.id, decision)
    part.images = kept
    return merged


def check_class(project: "Project", part: PartClass) -> bool:
    """Look for duplicates, missing and unlisted files, the policy and the models of one class.

    Returns True when the records were repaired (the project should be saved).
    """
    folder = project.class_images_dir(part)
    repaired = False
    duplicates = merge_duplicate_records(part, folder)
    if duplicates:
        repaired = True
        shown = ", ".join(duplicates[:5]) + (" ..." if len(duplicates) > 5 else "")
        project.problems.append(f"Class '{part.name}': {len(duplicates)} image file(s) had more than one record "
                                f"({shown}); each now has one, and no file was deleted.")
    present: dict[str, Path] = {}
    try:
        if folder.is_dir():
            present = {p.name: p for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES}
    except OSError as exc:
        project.problems.append(f"Cannot read {folder}: {exc}")
    missing = [r for r in part.images if r.filename not in present]
    for record in missing:
        record.missing = True
    if missing:
        shown = ", ".join(r.filename for r in missing[:5]) + (" ..." if len(missing) > 5 else "")
        project.problems.append(f"{folder}: {len(missing)} image file(s) of class '{part.name}' are missing "
                                f"({shown}); they are left out until the files are put back.")
    listed = {r.filename for r in part.images}
    orphans = sorted(name for name in present if name not in listed and not file_name_problem(name))
    for name in orphans:  # e.g. copied in by a crashed import: keep them, but out of the way
        part.images.append(ImageRecord(id=uuid.uuid4().hex, filename=name, role="train", deleted=True))
    if orphans:
        project.problems.append(f"{folder}: {len(orphans)} image file(s) not listed in {PROJECT_FILE} were found "
                                "and put in the class's deleted images; restore them to use them.")
    _check_policy(project, part)
    _check_models(project, part)
    known = {r.id for r in part.images}
    for key in [k for k in part.review_decisions if k not in known]:
        del part.review_decisions[key]
    return repaired


def _check_policy(project: "Project", part: PartClass) -> None:
    policy_file = project.policy_path(part)
    project._written_policies[part.folder] = None
    if not policy_file.exists():
        return
    try:
        policy = read_json(policy_file)
        if not isinstance(policy, dict):
            raise InspectorError(f"Damaged file (not a JSON object): {policy_file}")
        part.policy = policy
        project._written_policies[part.folder] = policy_text(policy)
    except InspectorError as exc:
        project.problems.append(f"{exc}. Class '{part.name}' opens without its augmentation policy "
                                "(the damaged file is left as it is until a new policy is saved).")


def _check_models(project: "Project", part: PartClass) -> None:
    models = {m.id: m for m in project.list_models(part.name)}
    for model in models.values():
        if model.problem:
            project.problems.append(f"Class '{part.name}': {model.problem}")
    if part.active_model_id is not None:
        active = models.get(part.active_model_id)
        if active is None or not active.ok:
            project.problems.append(f"Class '{part.name}': its active model {part.active_model_id} is "
                                    f"{'missing' if active is None else 'damaged'}; no model is active.")
            part.active_model_id = None


def check_stray_folders(project: "Project") -> None:
    used = {p.folder.lower() for p in project.classes.values()}
    used |= {safe_folder_name(n).lower() for n in project._invalid_classes}
    for sub in (IMAGES_DIR, MODELS_DIR):
        base = project.root / sub
        for entry in sorted(base.iterdir()) if base.is_dir() else []:
            if entry.is_dir() and not entry.name.startswith(".") and entry.name.lower() not in used:
                project.problems.append(f"{entry} belongs to no class of this project; it was ignored.")
