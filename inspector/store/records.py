"""What a project holds, as records: image records, part classes and model folders.

Plain data with their JSON forms; `from_json` parses strictly (a ValueError says why) so that
a damaged entry of project.json is skipped and reported, never half-used.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from inspector.io.datasets import kind_name
from inspector.store.names import file_name_problem, name_problem
from inspector.types import InspectorError

ROLES = ("train", "test")
LABELS = ("good", "defect")
SOURCES = ("file", "camera")
#: 'undecided': flagged by SROC, not yet seen by a person; left out of fitting, as SROC did.
REVIEW_DECISIONS = ("keep", "remove", "undecided")
LEFT_OUT = ("remove", "undecided")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ImageRecord:
    """One image of a class. Deleting is soft (`deleted`), so it can be restored."""

    id: str
    filename: str  # relative to images/<class folder>/
    role: str = "train"
    deleted: bool = False
    label: Optional[str] = None
    added: str = field(default_factory=now_iso)
    source: str = "file"
    checksum: Optional[str] = None  # sha256 of the file's bytes, to spot duplicates
    defect_type: Optional[str] = None  # e.g. MVTec's test/<defect>/ folder name, for a 'defect' label
    mask: Optional[str] = None  # ground-truth mask file name, in images/<class folder>/masks/
    original_name: Optional[str] = None  # where it came from, e.g. "test/crack/000.png" (names are made unique)
    #: Set when opening finds the file gone; not stored.
    missing: bool = field(default=False, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "filename": self.filename, "role": self.role, "deleted": self.deleted,
                "label": self.label, "added": self.added, "source": self.source, "checksum": self.checksum,
                "defect_type": self.defect_type, "mask": self.mask, "original_name": self.original_name}

    @classmethod
    def from_json(cls, data: Any) -> "ImageRecord":
        """Parse one record; raises ValueError with a plain reason when it cannot be used."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        filename = data.get("filename")
        problem = file_name_problem(filename)
        if problem is not None:
            raise ValueError(f"invalid file name {filename!r} ({problem})")
        record_id = data.get("id")
        if not isinstance(record_id, str) or not record_id or name_problem(record_id):
            raise ValueError("no valid id")
        role = data.get("role", "train")
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        label = data.get("label")
        if label not in (None, *LABELS):
            raise ValueError(f"label {label!r} is not one of {', '.join(LABELS)}")
        source = data.get("source", "file")
        mask = data.get("mask")
        if mask is not None and file_name_problem(mask):
            raise ValueError(f"invalid mask file name {mask!r} ({file_name_problem(mask)})")
        defect_type = data.get("defect_type")
        if defect_type is not None and (not isinstance(defect_type, str) or name_problem(defect_type)):
            raise ValueError(f"invalid defect type {defect_type!r}")
        original = data.get("original_name")
        return cls(id=record_id, filename=filename, role=role, deleted=bool(data.get("deleted", False)), label=label,
                   added=str(data.get("added") or now_iso()), source=source if source in SOURCES else "file",
                   checksum=data.get("checksum") if isinstance(data.get("checksum"), str) else None,
                   defect_type=defect_type, mask=mask,
                   original_name=original if isinstance(original, str) and "\x00" not in original else None)

    @property
    def kind(self) -> str:
        """What a person calls it: 'good', the defect type, 'defect', or '' when unlabelled."""
        return kind_name(self.label, self.defect_type)


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
    review_decisions: dict[str, str] = field(default_factory=dict)  # image id -> 'keep' | 'remove' | 'undecided'
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

    def left_out_ids(self) -> set[str]:
        """Image ids a fit leaves out: removed by a person, or flagged by SROC and still undecided."""
        return {k for k, v in self.review_decisions.items() if v in LEFT_OUT}

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
