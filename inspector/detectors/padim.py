"""PaDiM (seed 000, section 3.1.3, Eq. 3): one Gaussian per location of the aligned levels.

The levels are aligned to the finest one (nearest upsampling, as PaDiM's embedding
concatenation does), concatenated, and a random subset of `n_features` channels is kept so that
the L covariance matrices stay small. Ledoit-Wolf by default (seed 000 uses it for PaDiM). The
map of distances is upsampled to the input, smoothed (sigma 4). The image score is its max (the paper's), or with
`top_fraction` > 0 the mean of that share of its highest pixels (see anomaly_maps.DEFAULT_TOP_FRACTION).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inspector.detectors.anomaly_maps import (
    DEFAULT_SIGMA,
    DEFAULT_TOP_FRACTION,
    image_scores,
    upsample_and_smooth,
)
from inspector.detectors.base import POOLED_LAYERS, Detector
from inspector.detectors.gaussian import (
    COVARIANCES,
    fit_gaussians,
    mahalanobis_distances,
)
from inspector.detectors.registry import register
from inspector.features.maps import FeatureMaps
from inspector.types import InspectorError, Reporter, ScoreResult, as_reporter


def aligned_embedding(levels: list[np.ndarray]) -> np.ndarray:
    """Concatenate levels (N, C_i, h_i, w_i) at the finest resolution: (N, sum C_i, h, w)."""
    height = max(level.shape[2] for level in levels)
    width = max(level.shape[3] for level in levels)
    parts = []
    for level in levels:
        tensor = torch.from_numpy(np.ascontiguousarray(level, dtype=np.float32))
        if tensor.shape[2:] != (height, width):
            tensor = F.interpolate(tensor, size=(height, width), mode="nearest")
        parts.append(tensor)
    return torch.cat(parts, dim=1).numpy()


#: Locations whose Gaussians are estimated in one batch. Each Gaussian is independent, so this only
#: bounds the fit's float64 working memory (a few copies of chunk x N x d), which on large grids
#: (tiled parts: thousands of locations) would otherwise exceed the machine's memory.
FIT_CHUNK_LOCATIONS = 256


@register
class PaDiMDetector(Detector):
    """Per-location Gaussians; the image score is the max (or a top-fraction mean) of the smoothed distance map."""

    name = "padim"
    display_name = "PaDiM"
    localizes = True
    positive_int_params = ("n_features",)
    #: Models saved before `top_fraction` existed scored with the max: they load with it.
    legacy_params = {"top_fraction": 0.0}
    param_help = {"top_fraction": "image score: mean of this share of the map's highest pixels (0 = the max, "
                                  "as in the PaDiM paper)"}

    def __init__(self, n_features: int = 200, covariance: str = "ledoit", sigma: float = DEFAULT_SIGMA,
                 seed: int = 0, layers: tuple[int, ...] = POOLED_LAYERS,
                 top_fraction: float = DEFAULT_TOP_FRACTION) -> None:
        super().__init__(layers)
        self.n_features = n_features
        self.covariance = covariance
        self.sigma = sigma
        self.seed = seed
        self.top_fraction = top_fraction

    def _validate_params(self) -> None:
        if not 0.0 <= float(self.top_fraction) <= 1.0:
            raise InspectorError(f"PaDiM parameter top_fraction must be in [0, 1], got {self.top_fraction}.")

    def _locations(self, features: FeatureMaps) -> np.ndarray:
        """(N, L, d) embeddings of the selected channels at every location."""
        embedding = aligned_embedding(features.select(self.layers))
        if embedding.shape[1] != self.total_channels_:
            raise InspectorError(f"Feature width {embedding.shape[1]} does not match the model's {self.total_channels_}.")
        if tuple(embedding.shape[2:]) != tuple(self.grid_):
            raise InspectorError(
                f"Feature grid {tuple(embedding.shape[2:])} does not match the model's {tuple(self.grid_)}: "
                "was the input size changed?"
            )
        selected = embedding[:, self.channels_]
        n, d, h, w = selected.shape
        return selected.reshape(n, d, h * w).transpose(0, 2, 1)

    def fit(self, features: FeatureMaps, reporter: Reporter | None = None) -> PaDiMDetector:
        self._check_features(features, min_images=2)
        if self.covariance not in COVARIANCES:
            raise InspectorError(f"Unknown covariance '{self.covariance}'; use one of {COVARIANCES}.")
        reporter = as_reporter(reporter)
        reporter.report("fit", 0, 3, "Aligning feature levels")
        levels = features.select(self.layers)
        self.total_channels_ = int(sum(level.shape[1] for level in levels))
        self.grid_ = (max(l.shape[2] for l in levels), max(l.shape[3] for l in levels))
        keep = min(self.n_features, self.total_channels_)
        rng = np.random.default_rng(self.seed)
        self.channels_ = np.sort(rng.choice(self.total_channels_, size=keep, replace=False)).astype(np.int64)
        locations = self._locations(features)  # (N, L, d)
        n_locations = locations.shape[1]
        means, precisions = [], []
        for start in range(0, n_locations, FIT_CHUNK_LOCATIONS):
            reporter.report("fit", 1, 3, f"Estimating covariance matrices {start + 1}-"
                            f"{min(start + FIT_CHUNK_LOCATIONS, n_locations)} of {n_locations}")
            chunk = locations[:, start:start + FIT_CHUNK_LOCATIONS].transpose(1, 0, 2)
            chunk_means, chunk_precisions = fit_gaussians(chunk, self.covariance)
            means.append(chunk_means)
            precisions.append(chunk_precisions)
        self.means_, self.precisions_ = np.concatenate(means), np.concatenate(precisions)
        reporter.report("fit", 3, 3)
        self.fitted_ = True
        return self

    def patch_scores(self, features: FeatureMaps) -> np.ndarray:
        """(N, h, w) Mahalanobis distance at every location (before upsampling)."""
        self._check_fitted()
        self._check_features(features)
        locations = self._locations(features)
        distances = mahalanobis_distances(locations, self.means_, self.precisions_)
        return distances.reshape(len(locations), *self.grid_).astype(np.float32)

    def score(self, features: FeatureMaps, reporter: Reporter | None = None) -> ScoreResult:
        maps = upsample_and_smooth(self.patch_scores(features), features.input_size, self.sigma)
        return ScoreResult(image_scores(maps, float(self.top_fraction)), maps)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {"total_channels": self.total_channels_, "grid": list(self.grid_)}
        return state, {"channels": self.channels_, "means": self.means_, "precisions": self.precisions_}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.total_channels_ = int(state["total_channels"])
        self.grid_ = tuple(int(v) for v in state["grid"])
        self.channels_ = arrays["channels"].astype(np.int64)
        self.means_ = arrays["means"].astype(np.float32)
        self.precisions_ = arrays["precisions"].astype(np.float32)
        n_loc, d = self.means_.shape
        if n_loc != self.grid_[0] * self.grid_[1] or self.precisions_.shape != (n_loc, d, d) or len(self.channels_) != d:
            raise ValueError("means, precisions, channels and grid do not agree")
