"""Kernel density estimate on pooled features: -log density with scikit-learn's six kernels, in NumPy."""
from __future__ import annotations

import math
from typing import Union

import numpy as np
from scipy.special import gammaln, logsumexp

from inspector.detectors.base import POOLED_LAYERS
from inspector.detectors.classic.common import (
    OUTSIDE_SUPPORT_SCORE,
    _ClassicDetector,
    _squared_distances,
)
from inspector.detectors.registry import register
from inspector.types import InspectorError


def _log_volume_unit_ball(d: int) -> float:
    return 0.5 * d * math.log(math.pi) - float(gammaln(0.5 * d + 1))


def _log_surface_unit_sphere(n: int) -> float:
    """log S_n as scikit-learn defines it: V_(n+1) = integral_0^1 S_n r^n dr."""
    return math.log(2 * math.pi) + _log_volume_unit_ball(n - 1)


def log_kernel_norm(bandwidth: float, d: int, kernel: str) -> float:
    """log of the normalisation constant of a kernel in d dimensions (as scikit-learn's KD tree)."""
    if kernel == "gaussian":
        factor = 0.5 * d * math.log(2 * math.pi)
    elif kernel == "tophat":
        factor = _log_volume_unit_ball(d)
    elif kernel == "epanechnikov":
        factor = _log_volume_unit_ball(d) + math.log(2.0 / (d + 2.0))
    elif kernel == "exponential":
        factor = _log_surface_unit_sphere(d - 1) + float(gammaln(d))
    elif kernel == "linear":
        factor = _log_volume_unit_ball(d) - math.log(d + 1.0)
    elif kernel == "cosine":
        total, term = 0.0, 2.0 / math.pi
        for k in range(1, d + 1, 2):
            total += term
            term *= -(d - k) * (d - k - 1) * (2.0 / math.pi) ** 2
        factor = (math.log(total) if total > 0 else math.nan) + _log_surface_unit_sphere(d - 1)
    else:
        raise InspectorError(f"Unknown kernel '{kernel}'.")
    return -factor - d * math.log(bandwidth)


def log_kernel(distances: np.ndarray, bandwidth: float, kernel: str) -> np.ndarray:
    """Unnormalised log kernel values at `distances` (-inf outside a compact kernel's support)."""
    u = distances / bandwidth
    inside = u < 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if kernel == "gaussian":
            return -0.5 * u * u
        if kernel == "exponential":
            return -u
        if kernel == "tophat":
            return np.where(inside, 0.0, -np.inf)
        if kernel == "epanechnikov":
            return np.where(inside, np.log(np.clip(1.0 - u * u, 0.0, None)), -np.inf)
        if kernel == "linear":
            return np.where(inside, np.log(np.clip(1.0 - u, 0.0, None)), -np.inf)
        if kernel == "cosine":
            return np.where(inside, np.log(np.clip(np.cos(0.5 * np.pi * u), 0.0, None)), -np.inf)
    raise InspectorError(f"Unknown kernel '{kernel}'.")


KDE_KERNELS = ("gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine")


@register
class KernelDensityDetector(_ClassicDetector):
    """Kernel density estimate: -log density of the pooled features."""

    name = "kde"
    display_name = "Kernel Density"

    def __init__(self, layers: tuple[int, ...] = POOLED_LAYERS, standardize: bool = False, kernel: str = "gaussian",
                 bandwidth: Union[str, float] = "scott") -> None:
        super().__init__(layers, standardize)
        self.kernel = kernel
        self.bandwidth = bandwidth

    def _fit_model(self, x: np.ndarray) -> None:
        from sklearn.neighbors import KernelDensity

        if self.kernel not in KDE_KERNELS:
            raise InspectorError(f"Kernel Density kernel must be one of {', '.join(KDE_KERNELS)}, got '{self.kernel}'.")
        bandwidth = self.bandwidth if isinstance(self.bandwidth, str) else float(self.bandwidth)
        self.model_ = KernelDensity(kernel=self.kernel, bandwidth=bandwidth).fit(x)
        self.bandwidth_ = float(self.model_.bandwidth_)
        self.train_ = np.array(x, dtype=np.float64)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log p(x) as scikit-learn's KernelDensity.score_samples computes it."""
        distances = np.sqrt(_squared_distances(x, self.train_))
        log_k = log_kernel(distances, self.bandwidth_, self.kernel)
        norm = log_kernel_norm(self.bandwidth_, x.shape[1], self.kernel)
        if not math.isfinite(norm):  # the cosine series overflows in high dimension: a constant shift,
            norm = 0.0               # so dropping it keeps the ranking (scikit-learn returns NaN there)
        return logsumexp(log_k, axis=1) + norm - math.log(len(self.train_))

    def _score_array(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            scores = -self.log_density(x)
        outside = ~np.isfinite(scores)
        if outside.any():
            nearest = np.sqrt(_squared_distances(x[outside], self.train_).min(axis=1))
            scores[outside] = OUTSIDE_SUPPORT_SCORE + nearest / self.bandwidth_
        return scores

    def _model_state(self):
        return {"bandwidth": self.bandwidth_}, {"train": self.train_}

    def _set_model_state(self, state, arrays):
        self.bandwidth_ = float(state["bandwidth"])
        self.train_ = np.asarray(arrays["train"], dtype=np.float64)
        if self.train_.ndim != 2 or self.train_.shape[1] != len(self.mean_) or self.bandwidth_ <= 0:
            raise ValueError("training points or bandwidth are invalid")
