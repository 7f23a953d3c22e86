"""One-Class SVM (Schölkopf et al.) on pooled features, scored in NumPy from its support vectors."""
from __future__ import annotations

from typing import Union

import numpy as np

from inspector.detectors.base import POOLED_LAYERS
from inspector.detectors.classic.common import (
    _ClassicDetector,
    _squared_distances,
)
from inspector.detectors.registry import register
from inspector.types import InspectorError


@register
class OneClassSVMDetector(_ClassicDetector):
    """One-Class SVM (Schölkopf et al.): negative distance to the learned support boundary."""

    name = "ocsvm"
    display_name = "One-Class SVM"

    def __init__(self, layers: tuple[int, ...] = POOLED_LAYERS, standardize: bool = False, kernel: str = "rbf",
                 degree: int = 3, gamma: Union[str, float] = "scale", coef0: float = 0.0, nu: float = 0.5) -> None:
        super().__init__(layers, standardize)
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.coef0 = coef0
        self.nu = nu

    def _gamma_value(self, x: np.ndarray) -> float:
        if self.gamma == "scale":
            var = float(x.var())
            return 1.0 / (x.shape[1] * var) if var > 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / x.shape[1]
        return float(self.gamma)

    def _fit_model(self, x: np.ndarray) -> None:
        from sklearn.svm import OneClassSVM

        if self.kernel not in ("linear", "rbf", "sigmoid", "poly"):
            raise InspectorError(f"One-Class SVM kernel must be linear, rbf, sigmoid or poly, got '{self.kernel}'.")
        self.gamma_ = self._gamma_value(x)
        self.model_ = OneClassSVM(kernel=self.kernel, degree=int(self.degree), gamma=self.gamma_,
                                  coef0=float(self.coef0), nu=float(self.nu)).fit(x)
        self.support_vectors_ = np.asarray(self.model_.support_vectors_, dtype=np.float64)
        self.dual_coef_ = np.asarray(self.model_.dual_coef_, dtype=np.float64).ravel()
        self.intercept_ = float(np.asarray(self.model_.intercept_).ravel()[0])

    def _kernel(self, x: np.ndarray) -> np.ndarray:
        sv = self.support_vectors_
        if self.kernel == "linear":
            return x @ sv.T
        if self.kernel == "rbf":
            return np.exp(-self.gamma_ * _squared_distances(x, sv))
        if self.kernel == "sigmoid":
            return np.tanh(self.gamma_ * (x @ sv.T) + float(self.coef0))
        return (self.gamma_ * (x @ sv.T) + float(self.coef0)) ** int(self.degree)

    def _score_array(self, x: np.ndarray) -> np.ndarray:
        return -(self._kernel(x) @ self.dual_coef_ + self.intercept_)

    def _model_state(self):
        return {"gamma": self.gamma_, "intercept": self.intercept_}, {
            "support_vectors": self.support_vectors_, "dual_coef": self.dual_coef_}

    def _set_model_state(self, state, arrays):
        self.gamma_ = float(state["gamma"])
        self.intercept_ = float(state["intercept"])
        self.support_vectors_ = np.asarray(arrays["support_vectors"], dtype=np.float64)
        self.dual_coef_ = np.asarray(arrays["dual_coef"], dtype=np.float64).ravel()
        if self.support_vectors_.shape != (len(self.dual_coef_), len(self.mean_)):
            raise ValueError("support vectors and dual coefficients do not match")
