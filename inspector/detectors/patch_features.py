"""Locally aware patch features (seed 002, section 3.1; shared by PatchCore and SimpleNet).

Each backbone level is average-pooled over a 3x3 neighbourhood (stride 1, so the resolution is
kept), the coarser levels are bilinearly upsampled to the finest one, and the levels are
concatenated channel-wise. Optionally every level is first squeezed (or stretched) to an equal
share of a fixed `feature_dim` by adaptive average pooling over channels, as the reference
PatchCore code does, so that each hierarchy weighs the same in Euclidean distances.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from inspector.features.maps import FeatureMaps
from inspector.types import InspectorError

#: Images per chunk when building patch features: bounds the temporary torch tensors.
DEFAULT_CHUNK = 16


@dataclass(frozen=True)
class PatchGrid:
    """Shape of one image's patch-feature grid: `height` x `width` patches of `dim` features."""

    height: int
    width: int
    dim: int

    @property
    def patches_per_image(self) -> int:
        return self.height * self.width


def _level_dims(channels: Sequence[int], feature_dim: Optional[int]) -> list[int]:
    """Channels each level contributes: its own count, or an equal share of `feature_dim`."""
    if feature_dim is None:
        return list(channels)
    if feature_dim < len(channels):
        raise InspectorError(f"feature_dim={feature_dim} is smaller than the number of levels ({len(channels)}).")
    share, extra = divmod(int(feature_dim), len(channels))
    return [share + (1 if i < extra else 0) for i in range(len(channels))]


def level_channels(features: FeatureMaps, layers: Sequence[int]) -> list[int]:
    """Channel count of each level in `layers` (what a fitted model must see again)."""
    return [int(level.shape[1]) for level in features.select(tuple(layers))]


def check_level_channels(expected: Sequence[int], features: FeatureMaps, layers: Sequence[int], model: str) -> None:
    """Refuse features whose levels differ from the fitted ones (another backbone, say)."""
    found = level_channels(features, layers)
    if list(found) != [int(c) for c in expected]:
        raise InspectorError(
            f"{model} was fitted on backbone stages {list(layers)} with {list(expected)} channels; these features "
            f"have {found}: use the backbone the model was fitted with.")


def patch_grid(features: FeatureMaps, layers: Sequence[int], feature_dim: Optional[int] = None) -> PatchGrid:
    """The grid the patch features of `features` will have (without computing them)."""
    levels = features.select(tuple(layers))
    height = max(level.shape[2] for level in levels)
    width = max(level.shape[3] for level in levels)
    return PatchGrid(height, width, sum(_level_dims([level.shape[1] for level in levels], feature_dim)))


def patch_features_torch(levels: Sequence[torch.Tensor], feature_dim: Optional[int] = None,
                         neighbourhood: int = 3) -> torch.Tensor:
    """(n, C_l, h_l, w_l) tensors -> (n, h, w, D) locally aware patch features on the finest grid."""
    height = max(level.shape[2] for level in levels)
    width = max(level.shape[3] for level in levels)
    dims = _level_dims([level.shape[1] for level in levels], feature_dim)
    parts = []
    for level, dim in zip(levels, dims):
        level = level.float()
        if neighbourhood > 1:
            # count_include_pad=False: border patches average their real neighbours only.
            level = F.avg_pool2d(level, neighbourhood, stride=1, padding=neighbourhood // 2, count_include_pad=False)
        if level.shape[2:] != (height, width):
            level = F.interpolate(level, size=(height, width), mode="bilinear", align_corners=False)
        n, channels = level.shape[:2]
        level = level.permute(0, 2, 3, 1)  # (n, h, w, C)
        if dim != channels:
            flat = level.reshape(-1, 1, channels)
            level = F.adaptive_avg_pool1d(flat, dim).reshape(n, height, width, dim)
        parts.append(level)
    return torch.cat(parts, dim=3).contiguous()


def iter_patch_features(features: FeatureMaps, layers: Sequence[int], feature_dim: Optional[int] = None,
                        chunk: int = DEFAULT_CHUNK, device: torch.device | str = "cpu",
                        neighbourhood: int = 3) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (first image index, (n, h, w, D) float32 tensor on `device`) chunk by chunk."""
    levels = features.select(tuple(layers))
    total = len(features)
    for start in range(0, total, chunk):
        batch = [torch.from_numpy(np.ascontiguousarray(level[start:start + chunk])).to(device) for level in levels]
        yield start, patch_features_torch(batch, feature_dim, neighbourhood)


def patch_features(features: FeatureMaps, layers: Sequence[int], feature_dim: Optional[int] = None,
                   chunk: int = DEFAULT_CHUNK, neighbourhood: int = 3) -> tuple[np.ndarray, PatchGrid]:
    """All patch features as one float32 array (N * h * w, D), rows in image-major, row-major order."""
    grid = patch_grid(features, layers, feature_dim)
    out = np.empty((len(features) * grid.patches_per_image, grid.dim), dtype=np.float32)
    step = grid.patches_per_image
    for start, block in iter_patch_features(features, layers, feature_dim, chunk, "cpu", neighbourhood):
        n = block.shape[0]
        out[start * step:(start + n) * step] = block.reshape(n * step, grid.dim).numpy()
    return out, grid

