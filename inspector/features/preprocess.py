"""The one function that turns a decoded image into backbone input, and the record of how.

Fit, inspection, the GUI and camera frames all go through `to_backbone_input`, so the same pixels give
the same features whatever path they took. The record is saved with each model (`FeatureConfig`).
"""
from __future__ import annotations

import cv2
import numpy as np

from inspector.io.images import MAX_SIDE
from inspector.types import InspectorError

# Version 1 is Inspector 0.1.0's behaviour: decode capped at MAX_SIDE, any input converted to RGB
# uint8, stretched to a square (no crop), area interpolation when shrinking and linear when growing.
PREPROCESSING_V1 = {"version": 1, "decode_max_side": MAX_SIDE, "colour": "rgb", "aspect": "stretch",
                    "interpolation": "area-shrink-linear-grow"}


def to_backbone_input(image: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, S, S) in [0, 1]; camera frames pass `to_rgb_uint8` first."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InspectorError(f"Expected an RGB uint8 image, got shape {image.shape} and dtype {image.dtype}.")
    shrink = image.shape[0] > size or image.shape[1] > size
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(resized.transpose(2, 0, 1), dtype=np.float32) / 255.0


def check_preprocessing(record: dict | None) -> dict:
    """The saved record, or version 1 for models saved before it existed; refuse what this build can't do."""
    if record is None:
        return dict(PREPROCESSING_V1)
    if record != PREPROCESSING_V1:
        raise InspectorError(f"The model needs preprocessing {record}, which this version cannot apply; "
                             "update Inspector or refit the model.")
    return dict(record)
