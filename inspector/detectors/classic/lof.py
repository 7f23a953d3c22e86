"""Local Outlier Factor in novelty mode (Breunig et al.), scored in NumPy from k-distances and densities."""
from __future__ import annotations

import numpy as np

from inspector.detectors.base import POOLED_LAYERS
from inspector.detectors.classic.common import (
    _ClassicDetector,
    _squared_distances,
)
from inspector.detectors.registry import register
from inspector.types import InspectorError


@register
class LocalOutlierFactorDetector(_ClassicDetector):
    """Local Outlier Factor in novelty mode (Breunig et al.): local density ratio to neighbours."""

    name = "lof"
    display_name = "Local Outlier Factor"

    def __init__(self, layers: tuple[int, ...] = POOLED_LAYERS, standardize: bool = False,
                 n_neighbors: int = 20) -> None:
        super().__init__(layers, standardize)
        self.n_neighbors = n_neighbors

    def _fit_model(self, x: np.ndarray) -> None:
        from sklearn.neighbors import LocalOutlierFactor

        if int(self.n_neighbors) < 1:
            raise InspectorError(f"Local Outlier Factor needs n_neighbors >= 1, got {self.n_neighbors}.")
        # at most n - 1 neighbours (what scikit-learn would fall back to, with a warning)
        self.model_ = LocalOutlierFactor(n_neighbors=min(int(self.n_neighbors), len(x) - 1), novelty=True).fit(x)
        self.k_ = int(self.model_.n_neighbors_)
        # the training points, each without itself
        distances, neighbours = self.model_.kneighbors(n_neighbors=self.k_)
        self.train_ = np.array(x, dtype=np.float64)
        self.k_distance_ = distances[:, -1].astype(np.float64)
        self.lrd_ = self._reachability_density(distances, neighbours)

    def _reachability_density(self, distances: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        reach = np.maximum(distances, self.k_distance_[neighbours])
        return 1.0 / (reach.mean(axis=1) + 1e-10)

    def _score_array(self, x: np.ndarray) -> np.ndarray:
        d2 = _squared_distances(x, self.train_)
        neighbours = np.argpartition(d2, self.k_ - 1, axis=1)[:, :self.k_]
        distances = np.sqrt(np.take_along_axis(d2, neighbours, axis=1))
        lrd = self._reachability_density(distances, neighbours)
        return (self.lrd_[neighbours] / lrd[:, None]).mean(axis=1)

    def _model_state(self):
        return {"k": self.k_}, {"train": self.train_, "k_distance": self.k_distance_, "lrd": self.lrd_}

    def _set_model_state(self, state, arrays):
        self.k_ = int(state["k"])
        self.train_ = np.asarray(arrays["train"], dtype=np.float64)
        self.k_distance_ = np.asarray(arrays["k_distance"], dtype=np.float64)
        self.lrd_ = np.asarray(arrays["lrd"], dtype=np.float64)
        n = len(self.train_)
        if self.train_.ndim != 2 or self.k_distance_.shape != (n,) or self.lrd_.shape != (n,) or not 1 <= self.k_ <= n:
            raise ValueError("LOF arrays are inconsistent")
