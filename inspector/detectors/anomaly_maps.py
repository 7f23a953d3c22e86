"""Turn per-location scores into image-sized anomaly maps (shared by every localising detector)."""
from __future__ import annotations

import cv2
import numpy as np

#: Seed 002 (PatchCore), seed 004 (SimpleNet) and PaDiM smooth maps with a Gaussian of sigma 4.
DEFAULT_SIGMA = 4.0


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


def resize_map(anomaly_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize one map to an image's (H, W) for display; bilinear, values preserved."""
    if anomaly_map.shape == tuple(shape):
        return anomaly_map.astype(np.float32, copy=False)
    return cv2.resize(anomaly_map.astype(np.float32, copy=False), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
