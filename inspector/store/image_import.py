"""Bringing images into a class: imported files (checked, copied untouched) and camera frames.

Each function works on a `Project` and is called by the method of the same name there. An
import saves once at the end (also after a cancel); a copy that cannot be recorded is taken
back out, so the folder never holds files the project does not list for long.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

import numpy as np

from inspector.io import images as images_module
from inspector.io.images import IMAGE_SUFFIXES, decode_image, encode_image
from inspector.store.atomic import describe_os_error, write_bytes_atomic
from inspector.store.names import check_choice, safe_folder_name, unique_name
from inspector.store.records import LABELS, ROLES, ImageRecord, PartClass
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
                    raise
    return records, errors


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
    filename = unique_name(safe_folder_name(source.stem, 80) + suffix, taken)
    write_bytes_atomic(folder / filename, data)
    record = ImageRecord(id=uuid.uuid4().hex, filename=filename, role=role, label=label, source="file",
                         checksum=checksum)
    part.images.append(record)
    return record


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
