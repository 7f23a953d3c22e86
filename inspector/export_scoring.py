"""Detector scoring without torch, for exported models on inspection-only stations.

The same maths as the detectors' torch code (detectors/padim.py, patchcore.py, simplenet.py,
patch_features.py), in NumPy and faiss, so a station bundle needs no torch: PaDiM's aligned
embedding (nearest upsampling) and Mahalanobis distances, the locally aware patch features
(3x3 average pool without padding counts, bilinear upsampling with half-pixel centres, adaptive
average pooling over channels), PatchCore's faiss search and Eq. 7 re-weighting, and SimpleNet's
adaptor + discriminator as an ONNX graph. Only the summation order differs from torch, so scores
agree to float32 rounding (tests/unit/test_export_runtime.py checks them against the torch path).
Maps go through the very function the detectors use (`upsample_and_smooth`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inspector.detectors.anomaly_maps import upsample_and_smooth
from inspector.types import InspectorError

#: Images per faiss call (PatchCore's own chunk, so the search sees the same query matrices).
PATCHCORE_CHUNK = 8


# -- shared pieces ------------------------------------------------------------------------------
def nearest_resize(level: np.ndarray, height: int, width: int) -> np.ndarray:
    """torch's `interpolate(mode='nearest')` of (N, C, h, w): source index floor(dst * in / out)."""
    _n, _c, h, w = level.shape
    if (h, w) == (height, width):
        return level
    rows = np.minimum(np.floor(np.arange(height, dtype=np.float32) * np.float32(h / height)).astype(np.int64), h - 1)
    cols = np.minimum(np.floor(np.arange(width, dtype=np.float32) * np.float32(w / width)).astype(np.int64), w - 1)
    return level[:, :, rows][:, :, :, cols]


def _linear_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices and weights of bilinear interpolation with half-pixel centres (align_corners=False)."""
    scale = size_in / size_out
    source = np.maximum((np.arange(size_out, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = (source - low).astype(np.float32)
    return low, high, frac


def bilinear_resize(level: np.ndarray, height: int, width: int) -> np.ndarray:
    """torch's `interpolate(mode='bilinear', align_corners=False)` of (N, C, h, w), separably."""
    _n, _c, h, w = level.shape
    if (h, w) == (height, width):
        return level
    low, high, frac = _linear_weights(h, height)
    level = level[:, :, low] * (1 - frac)[None, None, :, None] + level[:, :, high] * frac[None, None, :, None]
    low, high, frac = _linear_weights(w, width)
    return level[:, :, :, low] * (1 - frac) + level[:, :, :, high] * frac


def average_pool3(level: np.ndarray, size: int = 3) -> np.ndarray:
    """`avg_pool2d(size, stride 1, padding size // 2, count_include_pad=False)` of (N, C, h, w)."""
    if size <= 1:
        return level
    pad = size // 2
    _n, _c, h, w = level.shape
    padded = np.pad(level, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    total = np.zeros_like(level)
    for dy in range(size):
        for dx in range(size):
            total += padded[:, :, dy:dy + h, dx:dx + w]
    ones = np.pad(np.ones((h, w), dtype=np.float32), pad)
    counts = sum(ones[dy:dy + h, dx:dx + w] for dy in range(size) for dx in range(size))
    return total / counts


def adaptive_channel_pool(level: np.ndarray, dim: int) -> np.ndarray:
    """`adaptive_avg_pool1d` over the last axis to `dim` bins: bin j covers [floor(jC/d), ceil((j+1)C/d))."""
    channels = level.shape[-1]
    if dim == channels:
        return level
    out = np.empty(level.shape[:-1] + (dim,), dtype=np.float32)
    for j in range(dim):
        start, end = (j * channels) // dim, -((-(j + 1) * channels) // dim)
        out[..., j] = level[..., start:end].mean(axis=-1)
    return out


def level_dims(channels: Sequence[int], feature_dim: int | None) -> list[int]:
    """Channels each level contributes (patch_features._level_dims)."""
    if feature_dim is None:
        return list(channels)
    share, extra = divmod(int(feature_dim), len(channels))
    return [share + (1 if i < extra else 0) for i in range(len(channels))]


def patch_features(levels: Sequence[np.ndarray], feature_dim: int | None, neighbourhood: int = 3) -> np.ndarray:
    """(N, C_l, h_l, w_l) levels -> (N, h, w, D) locally aware patch features on the finest grid."""
    height = max(level.shape[2] for level in levels)
    width = max(level.shape[3] for level in levels)
    parts = []
    for level, dim in zip(levels, level_dims([level.shape[1] for level in levels], feature_dim)):
        level = average_pool3(np.asarray(level, dtype=np.float32), neighbourhood)
        level = bilinear_resize(level, height, width).transpose(0, 2, 3, 1)
        parts.append(adaptive_channel_pool(level, dim))
    return np.ascontiguousarray(np.concatenate(parts, axis=3), dtype=np.float32)


def _check_levels(levels: Sequence[np.ndarray], expected_channels: Sequence[int], what: str) -> None:
    found = [int(level.shape[1]) for level in levels]
    if found != [int(c) for c in expected_channels]:
        raise InspectorError(f"{what} was fitted on features with {list(expected_channels)} channels; the exported "
                             f"backbone gave {found}.")
    for level in levels:
        if not np.all(np.isfinite(level)):
            raise InspectorError("The backbone features contain NaN or infinite values.")


# -- the three detectors ------------------------------------------------------------------------
class PaDiMScorer:
    """PaDiM: per-location Gaussians, image score = max of the smoothed Mahalanobis map."""

    def __init__(self, params: dict[str, Any], state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.layers = tuple(int(v) for v in params["layers"])
        self.sigma = float(params["sigma"])
        self.total_channels = int(state["total_channels"])
        self.grid = tuple(int(v) for v in state["grid"])
        self.channels = np.asarray(arrays["channels"], dtype=np.int64)
        self.means = np.asarray(arrays["means"], dtype=np.float32)
        self.precisions = np.ascontiguousarray(arrays["precisions"], dtype=np.float32)
        n_loc, d = self.means.shape
        if (n_loc != self.grid[0] * self.grid[1] or self.precisions.shape != (n_loc, d, d) or len(self.channels) != d
                or self.channels.min(initial=0) < 0 or self.channels.max(initial=0) >= self.total_channels):
            raise InspectorError("PaDiM: means, precisions, channels and grid do not agree.")

    def score(self, levels: dict[int, np.ndarray], input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        selected = [levels[layer] for layer in self.layers]
        height, width = max(l.shape[2] for l in selected), max(l.shape[3] for l in selected)
        embedding = np.concatenate([nearest_resize(np.asarray(l, dtype=np.float32), height, width) for l in selected], axis=1)
        if embedding.shape[1] != self.total_channels or (height, width) != self.grid:
            raise InspectorError(f"Features {embedding.shape[1]} x {(height, width)} do not match the model's "
                                 f"{self.total_channels} x {self.grid}.")
        n = len(embedding)
        locations = embedding[:, self.channels].reshape(n, len(self.channels), -1).transpose(2, 0, 1)  # (L, n, d)
        diff = locations - self.means[:, None, :]
        left = np.matmul(diff, self.precisions)  # (L, n, d)
        distances = np.sqrt(np.maximum((left * diff).sum(axis=2), 0.0)).T  # (n, L)
        patch = distances.reshape(n, *self.grid).astype(np.float32)
        maps = upsample_and_smooth(patch, input_size, self.sigma)
        return maps.reshape(n, -1).max(axis=1).astype(np.float64), maps


class PatchCoreScorer:
    """PatchCore: nearest memory-bank patch (faiss), Eq. 7 re-weighting of the worst patch."""

    def __init__(self, params: dict[str, Any], state: dict[str, Any], neighbours) -> None:
        self.layers = tuple(int(v) for v in params["layers"])
        self.feature_dim = None if params["feature_dim"] is None else int(params["feature_dim"])
        self.score_neighbors = int(params["score_neighbors"])
        self.reweight_neighbors = int(params["reweight_neighbors"])
        self.sigma = float(params["sigma"])
        self.level_channels = [int(c) for c in state["level_channels"]]
        self.grid = tuple(int(v) for v in state["grid"])
        self.neighbours = neighbours  # inspector.detectors.nearest_neighbours.FaissNearestNeighbours
        self.bank = neighbours.vectors()
        if not np.all(np.isfinite(self.bank)):
            raise InspectorError("PatchCore: the memory bank holds NaN or infinite features; the model is refused.")

    def _reweighted(self, test: np.ndarray, nearest: np.ndarray, support: np.ndarray) -> float:
        test = test.astype(np.float64)
        score = float(np.linalg.norm(test - nearest.astype(np.float64)))
        distances = np.linalg.norm(support.astype(np.float64) - test, axis=1)
        shift = max(score, float(distances.max()))
        return (1.0 - np.exp(score - shift) / np.exp(distances - shift).sum()) * score

    def score(self, levels: dict[int, np.ndarray], input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        selected = [levels[layer] for layer in self.layers]
        _check_levels(selected, self.level_channels, "PatchCore")
        n = len(selected[0])
        scores_out = np.empty(n, dtype=np.float64)
        maps = np.empty((n, int(input_size[0]), int(input_size[1])), dtype=np.float32)
        k = min(self.score_neighbors, self.neighbours.size)
        b = min(self.reweight_neighbors, self.neighbours.size)
        for start in range(0, n, PATCHCORE_CHUNK):
            chunk = [level[start:start + PATCHCORE_CHUNK] for level in selected]
            grid = patch_features(chunk, self.feature_dim)
            m, h, w, dim = grid.shape
            if (h, w, dim) != self.grid:
                raise InspectorError(f"Patch grid {(h, w, dim)} does not match the model's {self.grid}.")
            patches = grid.reshape(m * h * w, dim)
            distances, ids = self.neighbours.search(patches, k)
            patch_scores = np.sqrt(np.maximum(distances, 0.0)).mean(axis=1).reshape(m, h, w)
            nearest = ids[:, 0].reshape(m, h * w)
            flat = patch_scores.reshape(m, -1)
            worst = np.argmax(flat, axis=1)
            rows = np.arange(m)
            test_star = patches.reshape(m, h * w, dim)[rows, worst]
            bank_star = self.bank[nearest[rows, worst]]
            if b > 1:
                _, support = self.neighbours.search(np.ascontiguousarray(bank_star), b)
                for i in range(m):
                    ids_i = support[i][support[i] >= 0]
                    scores_out[start + i] = self._reweighted(test_star[i], bank_star[i], self.bank[ids_i])
            else:
                scores_out[start:start + m] = flat[rows, worst]
            maps[start:start + m] = upsample_and_smooth(patch_scores, input_size, self.sigma)
        return scores_out, maps


class SimpleNetScorer:
    """SimpleNet: -D(G(o)) per patch through the exported adaptor + discriminator graph."""

    def __init__(self, params: dict[str, Any], state: dict[str, Any], arrays: dict[str, np.ndarray], head) -> None:
        self.layers = tuple(int(v) for v in params["layers"])
        self.feature_dim = None if params["feature_dim"] is None else int(params["feature_dim"])
        self.sigma = float(params["sigma"])
        self.level_channels = [int(c) for c in state["level_channels"]]
        self.grid = tuple(int(v) for v in state["grid"])
        self.mean = np.asarray(arrays["mean"], dtype=np.float32)
        self.std = np.asarray(arrays["std"], dtype=np.float32)
        if self.mean.shape != (self.grid[2],) or self.std.shape != (self.grid[2],):
            raise InspectorError(f"SimpleNet: normalisation arrays must have shape ({self.grid[2]},).")
        self.head = head  # an onnxruntime session: patches (M, D) -> logits (M, 1)

    def score(self, levels: dict[int, np.ndarray], input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        selected = [levels[layer] for layer in self.layers]
        _check_levels(selected, self.level_channels, "SimpleNet")
        grid = patch_features(selected, self.feature_dim)
        n, h, w, dim = grid.shape
        if (h, w, dim) != self.grid:
            raise InspectorError(f"Patch grid {(h, w, dim)} does not match the model's {self.grid}.")
        normalised = ((grid - self.mean) / self.std).reshape(-1, dim).astype(np.float32)
        (logits,) = self.head.run(["logits"], {"patches": normalised})
        patch = (-np.asarray(logits, dtype=np.float32)).reshape(n, h, w)
        maps = upsample_and_smooth(patch, input_size, self.sigma)
        return maps.reshape(n, -1).max(axis=1).astype(np.float64), maps


TORCH_FREE_DETECTORS = ("padim", "patchcore", "simplenet")
