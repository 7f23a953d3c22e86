"""MVTec-style categories and plain folders of images.

An MVTec-style category is `train/good/*`, `test/<defect or good>/*` and
`ground_truth/<defect>/<stem>_mask.png`. A plain folder is any folder of image files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from inspector.io.images import is_image_file, load_image, load_mask
from inspector.types import InspectorError

GOOD = "good"
#: Folder names that hold good parts (MVTec says `good`; line exports often say `ok` or `nominal`).
GOOD_FOLDERS = (GOOD, "ok", "nominal")


@dataclass(frozen=True)
class Sample:
    """One image of a dataset. `label` is 0 for good, 1 for defective; `defect` names the kind."""

    path: Path
    label: int = 0
    defect: str = GOOD
    mask_path: Optional[Path] = None

    def load(self) -> np.ndarray:
        return load_image(self.path)

    def load_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The ground-truth mask (all False for good images or when none is stored)."""
        if self.mask_path is None:
            return np.zeros(shape, dtype=bool)
        return load_mask(self.mask_path, shape)


def list_images(folder: str | Path) -> list[Path]:
    """Image files in `folder` (not recursive), sorted; a clear error for a missing folder."""
    folder = Path(folder)
    if not folder.exists():
        raise InspectorError(f"Folder not found: {folder}")
    if not folder.is_dir():
        raise InspectorError(f"Not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p) and not p.name.startswith("."))


def collect_image_files(paths: Sequence[str | Path]) -> list[Path]:
    """Image files among `paths`, folders expanded recursively (an MVTec `test/` with its defect
    folders too), hidden files skipped, each folder's files sorted. Used by the app and the CLI."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p)
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file() and is_image_file(path):
            found.append(path)
    return found


@dataclass
class Category:
    """A category's train (good only) and test samples."""

    root: Path
    train: list[Sample] = field(default_factory=list)
    test: list[Sample] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def defect_types(self) -> list[str]:
        return sorted({s.defect for s in self.test if s.label == 1})

    @property
    def test_labels(self) -> np.ndarray:
        return np.array([s.label for s in self.test], dtype=int)


def is_mvtec_category(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "train" / GOOD).is_dir()


def load_category(folder: str | Path) -> Category:
    """Read an MVTec-style category; explains what is wrong with a folder that is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InspectorError(f"Dataset folder not found: {folder}")
    if not is_mvtec_category(folder):
        raise InspectorError(
            f"{folder} is not an MVTec-style category: it needs train/good/ with images "
            "(and optionally test/<defect>/ and ground_truth/<defect>/<name>_mask.png)."
        )
    train = [Sample(p) for p in list_images(folder / "train" / GOOD)]
    if not train:
        raise InspectorError(f"{folder / 'train' / GOOD} holds no images.")
    test: list[Sample] = []
    test_root = folder / "test"
    if test_root.is_dir():
        for defect_dir in sorted(p for p in test_root.iterdir() if p.is_dir()):
            defect = defect_dir.name
            for path in list_images(defect_dir):
                if label_from_path(path) == "good":
                    test.append(Sample(path))
                    continue
                mask = folder / "ground_truth" / defect / f"{path.stem}_mask.png"
                test.append(Sample(path, 1, defect, mask if mask.is_file() else None))
    return Category(folder, train, test)


def label_from_path(path: Path) -> Optional[str]:
    """The one labelling rule for a file in a dataset-like folder: `.../good/x.png` -> "good",
    `.../test/<defect>/x.png` -> "defect", anything else unknown (None). `load_category` agrees."""
    if path.parent.name.lower() in GOOD_FOLDERS:
        return "good"
    if path.parent.parent.name.lower() == "test":
        return "defect"
    return None


def kind_name(label: Optional[str], defect_type: Optional[str]) -> str:
    """What a person calls a part: "good", its defect type, "defect" when the type is unknown, or ""
    (unlabelled). One rule for the project's records and the inspected results."""
    if label == "defect":
        return defect_type or "defect"
    return label or ""


def load_folder(folder: str | Path) -> list[Sample]:
    """A plain folder of images, all taken as unlabelled (label 0)."""
    paths = list_images(folder)
    if not paths:
        raise InspectorError(f"{folder} holds no images ({', '.join(('.png', '.jpg', '.bmp', '.tif'))} ...).")
    return [Sample(p) for p in paths]


def iter_images(samples: list[Sample]) -> Iterator[np.ndarray]:
    """Load samples lazily, one at a time (keeps memory flat for large sets)."""
    for sample in samples:
        yield sample.load()
