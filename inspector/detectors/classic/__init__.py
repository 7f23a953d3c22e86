"""Classic scikit-learn out-of-distribution models on pooled backbone features (Krickl, "Pushing
Baselines for Anomaly Detection on MVTec").

One-Class SVM, Isolation Forest, Kernel Density, Local Outlier Factor (novelty mode) and
Elliptic Envelope after PCA, each fitted with scikit-learn on the global average pool of the
backbone stages `layers`, concatenated. Krickl feeds raw activations (no standardisation), so
that is the default here; `standardize=True` z-scores every feature with the training mean/std.

Scores follow Inspector's convention, higher = more anomalous:

| model    | score                                            |
|----------|--------------------------------------------------|
| ocsvm    | -decision_function (negative margin)             |
| iforest  | 2 ** (-E[path length] / c(max_samples))          |
| kde      | -log density                                     |
| lof      | local outlier factor (about 1 for inliers)       |
| elliptic | squared Mahalanobis distance in the PCA space    |

Persistence never pickles a scikit-learn object: each model keeps only the arrays its score
needs and re-scores them in NumPy (support vectors + dual coefficients; every tree's node
arrays and a path-length walk; training points + bandwidth; training points + k-distances +
local reachability densities; PCA basis + robust location/precision). Scoring goes through the
same NumPy code right after `fit` and after `load`, so reloaded models score identically; tests
check that code against scikit-learn.

`CLASSIC_PARAM_GRIDS` holds the hyper-parameter grids of Krickl's Table 3, for the research
sweep (`inspector.evaluation.sweep`); fitting uses the label-free defaults.
"""
from __future__ import annotations

from typing import Any

# Importing the modules registers their detectors.
from inspector.detectors.classic.common import OUTSIDE_SUPPORT_SCORE, pooled_features
from inspector.detectors.classic.elliptic import EllipticEnvelopeDetector
from inspector.detectors.classic.iforest import (
    IsolationForestDetector,
    average_path_length,
)
from inspector.detectors.classic.kde import (
    KDE_KERNELS,
    KernelDensityDetector,
    log_kernel,
    log_kernel_norm,
)
from inspector.detectors.classic.lof import LocalOutlierFactorDetector
from inspector.detectors.classic.ocsvm import OneClassSVMDetector

# --------------------------------------------------------------------------------------------
# Krickl, Table 3: the evaluated hyper-parameters (poly<d> = polynomial kernel of degree d).
CLASSIC_PARAM_GRIDS: dict[str, list[dict[str, Any]]] = {
    "ocsvm": [{"kernel": "linear"}, {"kernel": "rbf"}, {"kernel": "sigmoid"}]
    + [{"kernel": "poly", "degree": d} for d in (3, 5, 8, 13, 21, 34, 55)],
    "iforest": [{"n_estimators": n} for n in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100,
                                              200, 300, 400, 500, 600, 700, 800, 900, 1000)],
    "kde": [{"bandwidth": b, "kernel": k} for b in (0.5, 1.0, "scott", "silverman")
            for k in ("gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine")],
    "lof": [{"n_neighbors": n} for n in (2, 4, 6, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64)],
    "elliptic": [{"n_components": n} for n in (32, 64, 128, 256)],
}


CLASSIC_DETECTORS: tuple[str, ...] = ("ocsvm", "iforest", "kde", "lof", "elliptic")

__all__ = [
    "CLASSIC_DETECTORS",
    "CLASSIC_PARAM_GRIDS",
    "KDE_KERNELS",
    "OUTSIDE_SUPPORT_SCORE",
    "EllipticEnvelopeDetector",
    "IsolationForestDetector",
    "KernelDensityDetector",
    "LocalOutlierFactorDetector",
    "OneClassSVMDetector",
    "average_path_length",
    "log_kernel",
    "log_kernel_norm",
    "pooled_features",
]
