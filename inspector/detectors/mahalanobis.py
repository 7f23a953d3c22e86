"""Mahalanobis distance on pooled features (seed 000, section 3.1.2, Eq. 2).

One Gaussian per feature level on the global-average-pooled embeddings, Empirical or Ledoit-Wolf
covariance; the image score is the sum of the per-level distances.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from inspector.detectors.base import POOLED_LAYERS, Detector
from inspector.detectors.gaussian import COVARIANCES, fit_gaussians, mahalanobis_distances
from inspector.detectors.registry import register
from inspector.features.maps import FeatureMaps, global_average_pool
from inspector.types import InspectorError, Reporter, ScoreResult, as_reporter


@register
class MahalanobisDetector(Detector):
    """Sum over levels of the Mahalanobis distance to the good parts' Gaussian."""

    name = "mahalanobis"
    display_name = "Mahalanobis"
    localizes = False

    param_help = {"covariance": "covariance estimator: ledoit (shrunk, default) or empirical"}

    def __init__(self, covariance: str = "ledoit", layers: tuple[int, ...] = POOLED_LAYERS) -> None:
        super().__init__(layers)
        self.covariance = covariance

    def _validate_params(self) -> None:
        if self.covariance not in COVARIANCES:
            raise InspectorError(f"Unknown covariance '{self.covariance}'; use one of {COVARIANCES}.")

    def fit(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> "MahalanobisDetector":
        self._check_features(features, min_images=2)
        if self.covariance not in COVARIANCES:
            raise InspectorError(f"Unknown covariance '{self.covariance}'; use one of {COVARIANCES}.")
        reporter = as_reporter(reporter)
        self.means_, self.precisions_ = [], []
        pooled = global_average_pool(features.select(self.layers))
        for index, level in enumerate(pooled):
            reporter.report("fit", index, len(pooled), f"Covariance of level {index + 1}/{len(pooled)}")
            mean, precision = fit_gaussians(level[None], self.covariance, np.float64)
            self.means_.append(mean[0])
            self.precisions_.append(precision[0])
        reporter.report("fit", len(pooled), len(pooled))
        self.fitted_ = True
        return self

    @property
    def level_dims(self) -> list[int]:
        """Feature width of each level: the chi-square degrees of freedom of each squared distance."""
        return [len(mean) for mean in self.means_]

    def level_distances(self, features: FeatureMaps) -> np.ndarray:
        """(N, levels) distance of each image at each level."""
        self._check_fitted()
        self._check_features(features)
        pooled = global_average_pool(features.select(self.layers))
        columns = []
        for level, mean, precision in zip(pooled, self.means_, self.precisions_):
            if level.shape[1] != len(mean):
                raise InspectorError(f"Feature width {level.shape[1]} does not match the model's {len(mean)}.")
            columns.append(mahalanobis_distances(level[:, None, :], mean[None], precision[None])[:, 0])
        return np.stack(columns, axis=1)

    def score(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> ScoreResult:
        return ScoreResult(self.level_distances(features).sum(axis=1))

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        for index, (mean, precision) in enumerate(zip(self.means_, self.precisions_)):
            arrays[f"mean_{index}"] = mean
            arrays[f"precision_{index}"] = precision
        return {"levels": len(self.means_)}, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        levels = int(state["levels"])
        if levels != len(self.layers):
            raise ValueError(f"{levels} stored levels for {len(self.layers)} layers")
        self.means_ = [arrays[f"mean_{i}"].astype(np.float64) for i in range(levels)]
        self.precisions_ = [arrays[f"precision_{i}"].astype(np.float64) for i in range(levels)]
        for mean, precision in zip(self.means_, self.precisions_):
            if mean.ndim != 1 or precision.shape != (len(mean), len(mean)):
                raise ValueError(f"mean {mean.shape} and precision {precision.shape} do not match")
