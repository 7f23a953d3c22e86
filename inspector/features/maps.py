"""FeatureMaps: the multi-level backbone output that every detector consumes; `resize_map` for their maps."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class FeatureMaps:
    """Feature maps of N images, one float32 array (N, C, h, w) per backbone stage.

    `levels` is keyed by the stage index in the backbone (for EfficientNet, the index into
    `model.blocks`). `input_size` is the (height, width) fed to the backbone; detectors that
    localise return maps at that size.
    """

    levels: dict[int, np.ndarray]
    input_size: tuple[int, int]

    def __post_init__(self) -> None:
        sizes = {len(array) for array in self.levels.values()}
        if len(sizes) > 1:
            raise ValueError(f"all levels must hold the same number of images, got {sizes}")

    def __len__(self) -> int:
        return len(next(iter(self.levels.values()))) if self.levels else 0

    def select(self, layers: tuple[int, ...] | list[int]) -> list[np.ndarray]:
        """The arrays for `layers`, in that order; a clear error names a missing one."""
        missing = [layer for layer in layers if layer not in self.levels]
        if missing:
            raise ValueError(f"features lack backbone stage(s) {missing}; extracted: {sorted(self.levels)}")
        return [self.levels[layer] for layer in layers]

    def subset(self, index: np.ndarray | list[int] | slice) -> "FeatureMaps":
        """The features of a subset of images (used by low-data protocols and SROC refits)."""
        return FeatureMaps({k: v[index] for k, v in self.levels.items()}, self.input_size)

    @staticmethod
    def concatenate(parts: list["FeatureMaps"]) -> "FeatureMaps":
        if not parts:
            raise ValueError("nothing to concatenate")
        keys = parts[0].levels.keys()
        return FeatureMaps({k: np.concatenate([p.levels[k] for p in parts]) for k in keys}, parts[0].input_size)


def global_average_pool(levels: list[np.ndarray]) -> list[np.ndarray]:
    """(N, C, h, w) -> (N, C) per level: the spatial aggregation of KNN and Mahalanobis (seed 000)."""
    return [np.asarray(level, dtype=np.float32).mean(axis=(2, 3)) for level in levels]


def resize_map(anomaly_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize one map to an image's (H, W) for display; bilinear, values preserved."""
    if anomaly_map.shape == tuple(shape):
        return anomaly_map.astype(np.float32, copy=False)
    return cv2.resize(anomaly_map.astype(np.float32, copy=False), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
