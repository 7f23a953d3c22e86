"""The one function that turns a decoded image into backbone input, and the record of how.

Fit, inspection, the GUI and camera frames all go through `to_backbone_input`, so the same pixels give
the same features whatever path they took. The record is saved with each model (`FeatureConfig`,
`FitSettings.preprocessing`).

Version 1 squashes every image to a square. Version 2 keeps the part's aspect ratio: one working
geometry (height, width) is chosen per model from its training images (`choose_geometry`) and every
image, at fit and at inspection, is resized to exactly that geometry, so batches stack and the
detectors' feature grids match the model. Version 3 tiles large parts (`inspector.features.tiling`,
which owns that record and its layout).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.io.images import MAX_SIDE
from inspector.types import InspectorError

# Version 1 is Inspector 0.1.0's behaviour: decode capped at MAX_SIDE, any input converted to RGB
# uint8, stretched to a square (no crop), area interpolation when shrinking and linear when growing.
PREPROCESSING_V1 = {"version": 1, "decode_max_side": MAX_SIDE, "colour": "rgb", "aspect": "stretch",
                    "interpolation": "area-shrink-linear-grow"}
# Version 2: as version 1, but resized to the model's (height, width) that keeps the training images'
# aspect ratio. `height` / `width` are None until a fit chooses them from its images.
PREPROCESSING_V2 = {"version": 2, "decode_max_side": MAX_SIDE, "colour": "rgb", "aspect": "keep",
                    "interpolation": "area-shrink-linear-grow", "height": None, "width": None}
#: The default short side of the working geometry (the app's, the CLI's and the benchmarks'). Chosen by
#: measurement on both development sets (docs/benchmarks/kolektorsdd-resolution.md): PaDiM's image
#: AUROC on KolektorSDD falls as the short side grows past 224 (576 x 224: 0.949; 800 x 320 and
#: 1120 x 448: lower), although AU-PRO rises: a finer grid adds nominal locations whose max competes
#: with the cracks'.
DEFAULT_SHORT_SIDE = 224
#: The long side of a working geometry is a multiple of this (the backbone's deepest stride).
GEOMETRY_MULTIPLE = 32
#: Aspect ratios beyond this are capped: a 10:1 strip would otherwise cost ten square images per part.
MAX_ASPECT = 3.0

Geometry = tuple[int, int]


def choose_geometry(shapes: Iterable[tuple[int, ...]], short_side: int, multiple: int = GEOMETRY_MULTIPLE,
                    max_aspect: float = MAX_ASPECT) -> Geometry:
    """(height, width) for a model from its training images' shapes: the median aspect ratio kept.

    The short side is `short_side`; the long side is `short_side * aspect` rounded to a multiple of
    `multiple` (never below the short side), with the aspect capped at `max_aspect`.
    """
    ratios = [float(s[0]) / float(s[1]) for s in shapes if len(s) >= 2 and s[0] > 0 and s[1] > 0]
    if not ratios:
        raise InspectorError("No image sizes to choose a working geometry from.")
    ratio = float(np.median(ratios))  # height / width
    tall = ratio >= 1.0
    aspect = min(max(ratio, 1.0 / ratio), max_aspect)
    long_side = max(int(short_side), int(round(short_side * aspect / multiple)) * multiple)
    return (long_side, int(short_side)) if tall else (int(short_side), long_side)


def resolve_preprocessing(record: dict[str, Any], shapes: Iterable[tuple[int, ...]], short_side: int) -> dict[str, Any]:
    """The record with its geometry filled in from `shapes` when it keeps the aspect and has none yet."""
    record = dict(record)
    if record.get("version") == 3:
        from inspector.features.tiling import resolve_tiles_record

        return resolve_tiles_record(record, shapes, short_side)
    if record.get("version") == 2 and (record.get("height") is None or record.get("width") is None):
        record["height"], record["width"] = choose_geometry(shapes, short_side)
    return check_preprocessing(record)


def input_geometry(record: dict[str, Any] | None, image_size: int) -> Geometry:
    """The (height, width) of the detectors' input under `record`: what the backbone is fed (a square
    of `image_size` for version 1), or for version 3 the mosaic of the tiles' inputs."""
    record = check_preprocessing(record)
    if record["version"] == 1:
        return int(image_size), int(image_size)
    if record["version"] == 3:
        from inspector.features.tiling import TileLayout

        return TileLayout.from_record(record).mosaic_shape
    return int(record["height"]), int(record["width"])


def to_backbone_input(image: np.ndarray, size: int | Geometry) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, h, w) in [0, 1]; camera frames pass `to_rgb_uint8` first.

    `size` is an int (version 1: a `size` square) or the model's (height, width) (version 2). An image
    of another aspect ratio than the model's is still resized to exactly that geometry (stretched),
    since one model has one feature grid.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InspectorError(f"Expected an RGB uint8 image, got shape {image.shape} and dtype {image.dtype}.")
    height, width = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    shrink = image.shape[0] > height or image.shape[1] > width
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(resized.transpose(2, 0, 1), dtype=np.float32) / 255.0


def check_preprocessing(record: dict | None, allow_unresolved: bool = False) -> dict:
    """The saved record, or version 1 for models saved before it existed; refuse what this build can't do."""
    if record is None:
        return dict(PREPROCESSING_V1)
    if record == PREPROCESSING_V1:
        return dict(record)
    if isinstance(record, dict) and record.get("version") == 3:
        from inspector.features.tiling import check_tiles_record

        return check_tiles_record(record, allow_unresolved)
    if isinstance(record, dict) and record.get("version") == 2 and \
            {k: v for k, v in record.items() if k not in ("height", "width")} == \
            {k: v for k, v in PREPROCESSING_V2.items() if k not in ("height", "width")}:
        height, width = record.get("height"), record.get("width")
        if height is None and width is None and allow_unresolved:
            return dict(record)
        if all(isinstance(v, int) and not isinstance(v, bool) and 32 <= v <= 4096 for v in (height, width)):
            return dict(record)
    raise InspectorError(f"The model needs preprocessing {record}, which this version cannot apply; "
                         "update Inspector or refit the model.")


def image_file_shape(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file from its header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception as exc:
        raise InspectorError(f"{path}: not a readable image ({exc}).") from exc
    return int(height), int(width)
