"""Gaussian fits shared by Mahalanobis and PaDiM: batched Empirical / Ledoit-Wolf covariance.

Ledoit-Wolf is computed in closed form (as scikit-learn's `ledoit_wolf_shrinkage`), batched
over many Gaussians at once with torch, so PaDiM fits one Gaussian per location without a
Python loop over locations.
"""
from __future__ import annotations

import numpy as np
import torch

from inspector.types import InspectorError

COVARIANCES = ("ledoit", "empirical")


def fit_gaussians(samples: np.ndarray, covariance: str = "ledoit", dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Fit L Gaussians to samples (L, N, d). Returns means (L, d) and precisions (L, d, d) in `dtype`
    (computed in float64; Mahalanobis keeps float64, where N near d makes float32 drift).

    Empirical covariance uses the pseudo-inverse when it is singular (N <= d), as scikit-learn does.
    """
    if covariance not in COVARIANCES:
        raise InspectorError(f"Unknown covariance estimator '{covariance}'; use one of {COVARIANCES}.")
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float64))
    n_groups, n, d = x.shape
    if n < 2:
        raise InspectorError("At least 2 images are needed to estimate a covariance.")
    means = x.mean(dim=1)
    centred = x - means[:, None, :]
    cov = centred.transpose(1, 2) @ centred / n  # (L, d, d), maximum likelihood like scikit-learn
    if covariance == "ledoit":
        cov = _ledoit_wolf_shrink(centred, cov)
        precision = torch.linalg.inv(cov)
    else:
        precision = torch.linalg.pinv(cov, hermitian=True)
    return np.ascontiguousarray(means.numpy(), dtype=dtype), np.ascontiguousarray(precision.numpy(), dtype=dtype)


def _ledoit_wolf_shrink(centred: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Ledoit & Wolf (2004) optimal shrinkage towards mu * I, per group (scikit-learn's formula)."""
    _, n, d = centred.shape
    x2 = centred ** 2
    trace = x2.sum(dim=(1, 2)) / n  # trace of the empirical covariance
    mu = trace / d
    beta_ = (x2.transpose(1, 2) @ x2).sum(dim=(1, 2))
    delta_ = (cov ** 2).sum(dim=(1, 2))
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * trace + d * mu ** 2) / d
    beta = torch.minimum(beta, delta)
    shrinkage = torch.where(delta > 0, beta / torch.clamp(delta, min=1e-300), torch.zeros_like(delta))
    eye = torch.eye(d, dtype=cov.dtype)
    return (1.0 - shrinkage)[:, None, None] * cov + (shrinkage * mu)[:, None, None] * eye


def mahalanobis_distances(samples: np.ndarray, means: np.ndarray, precisions: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Distances (M, L) of samples (M, L, d) to L Gaussians, chunked over M to bound memory."""
    mean_t = torch.from_numpy(np.ascontiguousarray(means, dtype=precisions.dtype))
    prec_t = torch.from_numpy(precisions)
    out = np.empty(samples.shape[:2], dtype=np.float64)
    for start in range(0, len(samples), chunk):
        diff = torch.from_numpy(np.ascontiguousarray(samples[start:start + chunk], dtype=precisions.dtype)) - mean_t[None]
        # (m, L, d) x (L, d, d) -> (m, L, d), then row-wise dot with diff
        left = torch.einsum("mld,lde->mle", diff, prec_t)
        sq = (left * diff).sum(dim=2).clamp_min(0.0)
        out[start:start + chunk] = sq.sqrt().double().numpy()
    return out
