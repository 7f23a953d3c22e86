"""KNN on pooled features (DN2, the SPADE image score; seed 000, section 3.1.1).

Each level is global-average-pooled, the levels are concatenated, and the score of an image is
the mean Euclidean distance to its k nearest training embeddings (k = 1 in seed 000).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from inspector.detectors.base import POOLED_LAYERS, Detector
from inspector.detectors.registry import register
from inspector.features.maps import FeatureMaps, global_average_pool
from inspector.types import InspectorError, Reporter, ScoreResult, as_reporter


def pooled_embedding(features: FeatureMaps, layers: tuple[int, ...]) -> np.ndarray:
    """(N, sum C): the global-average-pooled levels, concatenated."""
    return np.concatenate(global_average_pool(features.select(layers)), axis=1)


def knn_distances(queries: np.ndarray, bank: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """(M, k) Euclidean distances to the k nearest rows of `bank`, in chunks to bound memory."""
    queries = queries.astype(np.float64, copy=False)
    bank = bank.astype(np.float64, copy=False)
    bank_sq = np.einsum("ij,ij->i", bank, bank)
    out = np.empty((len(queries), k))
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        sq = np.einsum("ij,ij->i", q, q)[:, None] + bank_sq[None, :] - 2.0 * q @ bank.T
        np.maximum(sq, 0.0, out=sq)
        nearest = np.partition(sq, k - 1, axis=1)[:, :k] if k < sq.shape[1] else sq
        out[start:start + chunk] = np.sqrt(np.sort(nearest, axis=1)[:, :k])
    return out


@register
class KNNDetector(Detector):
    """Mean distance to the k nearest good embeddings (higher = more anomalous)."""

    name = "knn"
    display_name = "KNN (DN2)"
    localizes = False
    positive_int_params = ("k",)
    param_help = {"k": "number of nearest good images averaged into the score (whole number >= 1)"}

    def __init__(self, k: int = 1, layers: tuple[int, ...] = POOLED_LAYERS) -> None:
        super().__init__(layers)
        self.k = k

    def fit(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> "KNNDetector":
        self._check_features(features)
        if not 1 <= self.k <= len(features):
            raise InspectorError(f"KNN needs k between 1 and the number of training images ({len(features)}), got {self.k}.")
        as_reporter(reporter).report("fit", 0, 1, "Storing embeddings")
        self.bank_ = pooled_embedding(features, self.layers).astype(np.float32)
        self.fitted_ = True
        return self

    def score(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> ScoreResult:
        self._check_fitted()
        self._check_features(features)
        queries = pooled_embedding(features, self.layers)
        if queries.shape[1] != self.bank_.shape[1]:
            raise InspectorError(f"Feature width {queries.shape[1]} does not match the model's {self.bank_.shape[1]}.")
        return ScoreResult(knn_distances(queries, self.bank_, self.k).mean(axis=1))

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"bank": self.bank_}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        bank = arrays["bank"]
        if bank.ndim != 2 or len(bank) < self.k:
            raise ValueError(f"bank must be (N >= k, D), got {bank.shape}")
        self.bank_ = bank.astype(np.float32)
