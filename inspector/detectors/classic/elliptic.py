"""Elliptic Envelope after PCA: squared Mahalanobis distance to a robust (MCD) Gaussian."""
from __future__ import annotations

from typing import Optional

import numpy as np

from inspector.detectors.base import POOLED_LAYERS
from inspector.detectors.classic.common import (
    _ClassicDetector,
)
from inspector.detectors.registry import register


@register
class EllipticEnvelopeDetector(_ClassicDetector):
    """Robust Gaussian (minimum covariance determinant) after PCA: squared Mahalanobis distance."""

    name = "elliptic"
    display_name = "Elliptic Envelope (PCA)"

    def __init__(self, layers: tuple[int, ...] = POOLED_LAYERS, standardize: bool = False, n_components: int = 32,
                 support_fraction: Optional[float] = None, seed: int = 0) -> None:
        super().__init__(layers, standardize)
        self.n_components = n_components
        self.support_fraction = support_fraction
        self.seed = seed

    def _fit_model(self, x: np.ndarray) -> None:
        from sklearn.covariance import EllipticEnvelope
        from sklearn.decomposition import PCA

        # At most the features, and few enough that the MCD support ((n + k + 1) / 2 points)
        # still estimates a full-rank covariance: k <= (n - 1) / 2.
        components = max(1, min(int(self.n_components), x.shape[1], (len(x) - 1) // 2))
        self.pca_ = PCA(n_components=components, svd_solver="full", random_state=int(self.seed)).fit(x)
        z = self.pca_.transform(x)
        self.model_ = EllipticEnvelope(support_fraction=self.support_fraction, random_state=int(self.seed)).fit(z)
        self.components_ = np.asarray(self.pca_.components_, dtype=np.float64)
        self.pca_mean_ = np.asarray(self.pca_.mean_, dtype=np.float64)
        self.location_ = np.asarray(self.model_.location_, dtype=np.float64)
        self.precision_ = np.asarray(self.model_.precision_, dtype=np.float64)

    def _score_array(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.pca_mean_) @ self.components_.T - self.location_
        return np.einsum("ij,jk,ik->i", z, self.precision_, z)

    def _model_state(self):
        return {"n_components": int(len(self.components_))}, {
            "components": self.components_, "pca_mean": self.pca_mean_,
            "location": self.location_, "precision": self.precision_}

    def _set_model_state(self, state, arrays):
        self.components_ = np.asarray(arrays["components"], dtype=np.float64)
        self.pca_mean_ = np.asarray(arrays["pca_mean"], dtype=np.float64)
        self.location_ = np.asarray(arrays["location"], dtype=np.float64)
        self.precision_ = np.asarray(arrays["precision"], dtype=np.float64)
        k, d = self.components_.shape
        if (k != int(state["n_components"]) or d != len(self.mean_) or self.pca_mean_.shape != (d,)
                or self.location_.shape != (k,) or self.precision_.shape != (k, k)):
            raise ValueError("PCA / covariance arrays are inconsistent")
