"""Bringing images into a class: imported files (checked, copied untouched) and camera frames.

Each function works on a `Project` and is called by the method of the same name there. An
import saves once at the end (also after a cancel); a copy that cannot be recorded is taken
back out, so the folder never holds files the project does not list for long.

An import keeps what the dataset says about a file (`origin_of`): an MVTec-style
`test/<defect>/x.png` keeps its defect type, its ground-truth mask (`ground_truth/<defect>/
x_mask.png`, copied to images/<class>/masks/) and its original name; test files are stored as
`<defect>_<stem>` so that `test/crack/000.png` and `test/good/000.png` stay told apart.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

import numpy as np

from dataclasses import dataclass

from inspector.io import images as images_module
from inspector.io.datasets import label_from_path
from inspector.io.images import IMAGE_SUFFIXES, decode_image, encode_image, load_mask
from inspector.store.atomic import describe_os_error, write_bytes_atomic
from inspector.store.names import check_choice, name_problem, safe_folder_name, unique_name
from inspector.store.records import LABELS, ROLES, ImageRecord, PartClass
from inspector.store.schema import MASKS_DIR
from inspector.types import InspectorError, Reporter, as_reporter

if TYPE_CHECKING:  # pragma: no cover
    from inspector.store.project import Project

PathLike = Union[str, os.PathLike]


def import_images(project: "Project", class_name: str, paths: Sequence[PathLike], role: str = "train", *,
                  label: Optional[str] = None, reporter: Optional[Reporter] = None) -> tuple[list[ImageRecord], list[str]]:
    """See `Project.import_images`."""
    check_choice(role, ROLES, "role")
    if label is not None:
        check_choice(label, LABELS, "label")
    project._check_writable()
    reporter = as_reporter(reporter)
    part = project._class(class_name)
    folder = project.class_images_dir(part)
    records: list[ImageRecord] = []
    errors: list[str] = []
    total = len(paths)
    try:
        for index, source in enumerate(paths):
            source = Path(source)
            reporter.report("import", index, total, f"Importing {source.name}")
            try:
                data, image = read_checked_image(source)  # slow part, done without the lock
                with project._lock:
                    records.append(_store_import(project, part, source, data, image, role, label))
            except InspectorError as exc:
                errors.append(str(exc))
        reporter.report("import", total, total, f"{len(records)} image(s) imported")
    finally:
        if records:
            with project._lock:
                try:
                    project.save()
                except BaseException:  # not recorded: take the copies back out
                    added = {r.id for r in records}
                    part.images = [r for r in part.images if r.id not in added]
                    for record in records:
                        (folder / record.filename).unlink(missing_ok=True)
                        if record.mask:
                            (masks_dir(project, part) / record.mask).unlink(missing_ok=True)
                    raise
    return records, errors


@dataclass
class Origin:
    """What a file's place in a dataset says about it."""

    label: Optional[str]
    defect_type: Optional[str]
    mask: Optional[Path]
    original_name: str
    stem: str  # the stored name's stem


def origin_of(source: Path, role: str, label: Optional[str]) -> Origin:
    """Label, defect type, mask and original name of `source` from its folders (MVTec layout).

    A given `label` wins; a test file without one takes the label its folder gives
    (`io.datasets.label_from_path`), so `good/` and `test/<defect>/` folders label themselves.
    """
    parent = source.parent
    in_test = parent.parent.name.lower() == "test"
    if label is None and role == "test":
        label = label_from_path(source)
    original = f"{parent.parent.name}/{parent.name}/{source.name}" if parent.parent.name else source.name
    defect = parent.name if in_test and label == "defect" and not name_problem(parent.name) else None
    mask = None
    if defect is not None:
        candidate = parent.parent.parent / "ground_truth" / parent.name / f"{source.stem}_mask.png"
        mask = candidate if candidate.is_file() else None
    stem = f"{parent.name}_{source.stem}" if in_test else source.stem
    return Origin(label, defect, mask, original if in_test or parent.name.lower() == "good" else source.name, stem)


def masks_dir(project: "Project", part: PartClass) -> Path:
    return project.class_images_dir(part) / MASKS_DIR


def mask_path(project: "Project", part: PartClass, record: ImageRecord) -> Optional[Path]:
    """The ground-truth mask file of a record, when it has one."""
    return None if record.mask is None else masks_dir(project, part) / record.mask


def set_image_labels(project: "Project", class_name: str, image_ids: Sequence[str], label: Optional[str],
                     defect_type: Optional[str] = None) -> None:
    """Label images good or defect (with an optional defect type); None clears the label."""
    if label is not None:
        check_choice(label, LABELS, "label")
    if defect_type is not None:
        defect_type = defect_type.strip() or None
        if defect_type is not None and name_problem(defect_type):
            raise InspectorError(f"Invalid defect type: {name_problem(defect_type)}.")
    project._update_images(class_name, image_ids, label=label,
                           defect_type=defect_type if label == "defect" else None)


def _taken_names(folder: Path, part: PartClass) -> set[str]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return {p.name.lower() for p in folder.iterdir()} | {r.filename.lower() for r in part.images}
    except OSError as exc:
        raise InspectorError(f"Cannot write into {folder}: {describe_os_error(exc)}") from exc


def _store_import(project: "Project", part: PartClass, source: Path, data: bytes, image: np.ndarray, role: str,
                  label: Optional[str]) -> ImageRecord:
    """Copy one checked image into the class under a unique name (called with the lock held)."""
    checksum = hashlib.sha256(data).hexdigest()
    origin = origin_of(source, role, label)
    twin = next((r for r in part.images if r.checksum == checksum), None)
    if twin is not None:
        where = " (among the deleted images: restore it instead)" if twin.deleted else ""
        raise InspectorError(f"{source}: skipped, it is identical to {twin.filename}, already in class "
                             f"'{part.name}'{where}.")
    folder = project.class_images_dir(part)
    taken = _taken_names(folder, part)
    suffix = source.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:  # a valid image with an odd name: store it as PNG
        data, suffix = encode_image(image, "PNG"), ".png"
    filename = unique_name(safe_folder_name(origin.stem, 80) + suffix, taken)
    mask_name = _copy_mask(project, part, origin.mask, Path(filename).stem)
    write_bytes_atomic(folder / filename, data)
    record = ImageRecord(id=uuid.uuid4().hex, filename=filename, role=role, label=origin.label, source="file",
                         checksum=checksum, defect_type=origin.defect_type, mask=mask_name,
                         original_name=origin.original_name)
    part.images.append(record)
    return record


def _copy_mask(project: "Project", part: PartClass, source: Optional[Path], stem: str) -> Optional[str]:
    """Copy a checked ground-truth mask beside the class's images; None when there is none or it is unusable."""
    if source is None:
        return None
    try:
        load_mask(source)  # decodes: a damaged mask is dropped, never stored
        data = source.read_bytes()
    except (InspectorError, OSError, ValueError):
        return None
    name = f"{stem}_mask.png"
    write_bytes_atomic(masks_dir(project, part) / name, data)
    return name


def add_captured_image(project: "Project", class_name: str, rgb_array: np.ndarray, role: str = "train",
                       label: Optional[str] = None) -> ImageRecord:
    """See `Project.add_captured_image`."""
    check_choice(role, ROLES, "role")
    if label is not None:
        check_choice(label, LABELS, "label")
    project._check_writable()
    array = np.asarray(rgb_array)
    if array.ndim not in (2, 3) or array.size == 0:
        raise InspectorError(f"A captured image must be an (H, W, 3) array, got shape {array.shape}.")
    data = encode_image(array, "PNG")
    with project._lock:
        part = project._class(class_name)
        folder = project.class_images_dir(part)
        filename = unique_name(f"capture-{datetime.now().strftime('%Y%m%d-%H%M%S')}.png", _taken_names(folder, part))
        write_bytes_atomic(folder / filename, data)
        record = ImageRecord(id=uuid.uuid4().hex, filename=filename, role=role, label=label, source="camera",
                             checksum=hashlib.sha256(data).hexdigest())
        part.images.append(record)
        try:
            project.save()
        except BaseException:
            part.images.remove(record)
            (folder / filename).unlink(missing_ok=True)
            raise
        return record


def read_checked_image(source: Path) -> tuple[bytes, np.ndarray]:
    """The file's bytes and its decoded pixels; InspectorError naming the file when unusable."""
    try:
        if source.stat().st_size > images_module.MAX_FILE_BYTES:
            raise InspectorError(f"{source}: the file is too large to be an image.")
        data = source.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise InspectorError(f"{str(source)!r}: cannot be read ({describe_os_error(exc)}).") from exc
    return data, decode_image(data, str(source), max_side=1024)  # raises ImageLoadError with the reason
