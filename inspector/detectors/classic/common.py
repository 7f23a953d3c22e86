"""What the classic models share: pooled float64 features, standardisation, NumPy scoring, persistence."""
from __future__ import annotations

from typing import Any, ClassVar, Optional

import numpy as np

from inspector.detectors.base import POOLED_LAYERS, Detector
from inspector.features.maps import FeatureMaps, global_average_pool
from inspector.types import InspectorError, Reporter, ScoreResult, as_reporter

#: Score given outside the support of every kernel (compact KDE kernels only): above any finite
#: -log density, and still ordered by the distance to the nearest training feature.
OUTSIDE_SUPPORT_SCORE = 1.0e6


def pooled_features(features: FeatureMaps, layers: tuple[int, ...]) -> np.ndarray:
    """(N, sum C) float64: global average pool of each stage in `layers`, concatenated."""
    return np.concatenate(global_average_pool(features.select(tuple(layers))), axis=1).astype(np.float64)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances in float64, clamped at 0."""
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)


class _ClassicDetector(Detector):
    """Shared plumbing: pooled features, optional standardisation, NumPy scoring, persistence."""

    localizes: ClassVar[bool] = False

    def __init__(self, layers: tuple[int, ...] = POOLED_LAYERS, standardize: bool = False) -> None:
        super().__init__(layers)
        self.standardize = standardize

    # subclasses implement these three plus _model_state / _set_model_state
    def _fit_model(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _score_array(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _transform(self, features: FeatureMaps) -> np.ndarray:
        x = pooled_features(features, self.layers)
        if x.shape[1] != len(self.mean_):
            raise InspectorError(
                f"{self.display_name} was fitted on {len(self.mean_)} pooled features, these have {x.shape[1]}: "
                "use the backbone the model was fitted with.")
        return (x - self.mean_) / self.scale_

    def fit(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> "_ClassicDetector":
        self._check_features(features, min_images=2)
        reporter = as_reporter(reporter)
        reporter.report("fit", 0, 1, f"{self.display_name}: fitting on {len(features)} images")
        x = pooled_features(features, self.layers)
        if self.standardize:
            self.mean_ = x.mean(axis=0)
            std = x.std(axis=0)
            self.scale_ = np.where(std > 1e-12, std, 1.0)
        else:
            self.mean_ = np.zeros(x.shape[1])
            self.scale_ = np.ones(x.shape[1])
        self._fit_model((x - self.mean_) / self.scale_)
        self.fitted_ = True
        reporter.report("fit", 1, 1, f"{self.display_name}: fitted")
        return self

    def score(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> ScoreResult:
        self._check_fitted()
        self._check_features(features)
        as_reporter(reporter).check()
        return ScoreResult(self._score_array(self._transform(features)), None)

    def _model_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def fitted_summary(self) -> dict[str, Any]:
        """The values actually used (e.g. gamma for 'scale', clipped PCA width): JSON scalars."""
        self._check_fitted()
        return {k: v for k, v in self._model_state()[0].items() if isinstance(v, (int, float, str))}

    def _set_model_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = self._model_state()
        return state, {"mean": self.mean_, "scale": self.scale_, **arrays}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        self.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        if self.mean_.shape != self.scale_.shape or self.mean_.ndim != 1:
            raise ValueError("mean and scale must be vectors of one length")
        self._set_model_state(state, arrays)
