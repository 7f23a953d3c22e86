"""Turn per-location scores into image-sized anomaly maps (shared by every localising detector)."""
from __future__ import annotations

import cv2
import numpy as np

from inspector.features.maps import resize_map  # noqa: F401 - its home is features.maps (tiling uses it too)

#: Seed 002 (PatchCore), seed 004 (SimpleNet) and PaDiM smooth maps with a Gaussian of sigma 4.
DEFAULT_SIGMA = 4.0
#: PaDiM's default image score: the max of the smoothed map (top fraction 0), as in the PaDiM paper.
#: The mean of the top 1 % of pixels (`top_fraction=0.01`) was measured on KolektorSDD
#: (docs/benchmarks/kolektorsdd-resolution.md): +0.003 to +0.009 image AUROC at short sides 224-448,
#: -0.001 at 160, i.e. within what 52 defects resolve and not of one sign, so the default stays the
#: paper's max (no tuning to one data set); it is kept as an option.
DEFAULT_TOP_FRACTION = 0.0


def image_scores(maps: np.ndarray, top_fraction: float = 0.0) -> np.ndarray:
    """(N, H, W) maps -> (N,) image scores: the max (`top_fraction` 0) or the mean of the top
    `top_fraction` of each map's pixels (at least one pixel)."""
    flat = maps.reshape(len(maps), -1)
    if top_fraction <= 0:
        return flat.max(axis=1)
    k = max(1, int(round(top_fraction * flat.shape[1])))
    if k >= flat.shape[1]:
        return flat.mean(axis=1)
    return np.partition(flat, flat.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def gaussian_smooth(maps: np.ndarray, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """Gaussian-smooth each (H, W) map of an (N, H, W) stack; kernel truncated at 4 sigma."""
    if sigma <= 0:
        return maps.astype(np.float32, copy=False)
    radius = int(4.0 * sigma + 0.5)
    ksize = 2 * radius + 1
    return np.stack([cv2.GaussianBlur(m.astype(np.float32, copy=False), (ksize, ksize), sigmaX=sigma, sigmaY=sigma,
                                      borderType=cv2.BORDER_REFLECT) for m in maps])


def upsample_and_smooth(patch_scores: np.ndarray, size: tuple[int, int], sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """(N, h, w) patch scores -> (N, H, W) maps: bilinear upsampling to `size`, then smoothing."""
    height, width = size
    up = np.stack([cv2.resize(p.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)
                   for p in patch_scores])
    return gaussian_smooth(up, sigma)


