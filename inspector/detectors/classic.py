"""Classic scikit-learn out-of-distribution models on pooled backbone features (seed 003).

One-Class SVM, Isolation Forest, Kernel Density, Local Outlier Factor (novelty mode) and
Elliptic Envelope after PCA, each fitted with scikit-learn on the global average pool of the
backbone stages `layers`, concatenated. Seed 003 feeds raw activations (no standardisation), so
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

`CLASSIC_PARAM_GRIDS` holds the hyper-parameter grids of seed 003, Table 3, for the research
sweep (`inspector.evaluation.sweep`); fitting uses the label-free defaults.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Optional, Union

import numpy as np
from scipy.special import gammaln, logsumexp

from inspector.detectors.base import POOLED_LAYERS, Detector
from inspector.detectors.registry import register
from inspector.features.maps import FeatureMaps, global_average_pool
from inspector.types import InspectorError, Reporter, ScoreResult, as_reporter

# --------------------------------------------------------------------------------------------
# Seed 003, Table 3: the evaluated hyper-parameters (poly<d> = polynomial kernel of degree d).
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


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
def average_path_length(n_samples: np.ndarray) -> np.ndarray:
    """c(n): mean path length of an unsuccessful search in a binary search tree of n points."""
    n = np.asarray(n_samples, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@register
class IsolationForestDetector(_ClassicDetector):
    """Isolation Forest (Liu et al.): anomalies are isolated by few random splits."""

    name = "iforest"
    display_name = "Isolation Forest"

    def __init__(self, layers: tuple[int, ...] = POOLED_LAYERS, standardize: bool = False, n_estimators: int = 100,
                 max_samples: Union[str, int, float] = "auto", max_features: float = 1.0, seed: int = 0) -> None:
        super().__init__(layers, standardize)
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.seed = seed

    def _fit_model(self, x: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest

        self.model_ = IsolationForest(n_estimators=int(self.n_estimators), max_samples=self.max_samples,
                                      max_features=self.max_features, random_state=int(self.seed)).fit(x)
        lefts, rights, feats, thresholds, counts, roots = [], [], [], [], [], []
        offset = 0
        n_features = x.shape[1]
        per_tree = (int(self.max_features) if isinstance(self.max_features, (int, np.integer))
                    else max(1, int(float(self.max_features) * n_features)))
        for tree, used in zip(self.model_.estimators_, self.model_.estimators_features_):
            t = tree.tree_
            left, right = t.children_left.astype(np.int64), t.children_right.astype(np.int64)
            feature = t.feature.astype(np.int64)
            leaf = left < 0
            if per_tree != n_features:  # the tree saw X[:, used]: map its columns back to X's
                feature = np.where(leaf, 0, np.asarray(used, dtype=np.int64)[np.maximum(feature, 0)])
            lefts.append(np.where(leaf, -1, left + offset))
            rights.append(np.where(leaf, -1, right + offset))
            feats.append(np.where(leaf, 0, feature))
            thresholds.append(t.threshold.astype(np.float64))
            counts.append(t.n_node_samples.astype(np.int64))
            roots.append(offset)
            offset += t.node_count
        self.children_left_ = np.concatenate(lefts)
        self.children_right_ = np.concatenate(rights)
        self.feature_ = np.concatenate(feats)
        self.threshold_ = np.concatenate(thresholds)
        self.n_node_samples_ = np.concatenate(counts)
        self.roots_ = np.asarray(roots, dtype=np.int64)
        self.max_samples_ = int(self.model_.max_samples_)

    def _score_array(self, x: np.ndarray) -> np.ndarray:
        # scikit-learn's trees compare float32 inputs with float64 thresholds: do the same.
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        n = len(x32)
        rows = np.arange(n)[:, None]
        node = np.broadcast_to(self.roots_[None, :], (n, len(self.roots_))).copy()
        depth = np.zeros(node.shape, dtype=np.float64)
        while True:
            left = self.children_left_[node]
            inner = left >= 0
            if not inner.any():
                break
            go_left = x32[rows, self.feature_[node]] <= self.threshold_[node]
            node = np.where(inner, np.where(go_left, left, self.children_right_[node]), node)
            depth += inner
        path = depth + average_path_length(self.n_node_samples_[node])
        denominator = len(self.roots_) * float(average_path_length(np.array([self.max_samples_]))[0])
        mean_path = path.sum(axis=1)
        return 2.0 ** (-np.divide(mean_path, denominator, out=np.ones_like(mean_path), where=denominator != 0))

    def _model_state(self):
        return {"max_samples": self.max_samples_, "n_trees": len(self.roots_)}, {
            "children_left": self.children_left_, "children_right": self.children_right_,
            "feature": self.feature_, "threshold": self.threshold_, "n_node_samples": self.n_node_samples_,
            "roots": self.roots_}

    def _set_model_state(self, state, arrays):
        self.max_samples_ = int(state["max_samples"])
        self.children_left_ = np.asarray(arrays["children_left"], dtype=np.int64)
        self.children_right_ = np.asarray(arrays["children_right"], dtype=np.int64)
        self.feature_ = np.asarray(arrays["feature"], dtype=np.int64)
        self.threshold_ = np.asarray(arrays["threshold"], dtype=np.float64)
        self.n_node_samples_ = np.asarray(arrays["n_node_samples"], dtype=np.int64)
        self.roots_ = np.asarray(arrays["roots"], dtype=np.int64)
        n_nodes = len(self.children_left_)
        if not (len(self.children_right_) == len(self.feature_) == len(self.threshold_)
                == len(self.n_node_samples_) == n_nodes) or len(self.roots_) != int(state["n_trees"]):
            raise ValueError("tree arrays have inconsistent lengths")
        for arr in (self.children_left_, self.children_right_, self.roots_):
            if arr.size and (arr.max() >= n_nodes or arr.min() < -1):
                raise ValueError("tree node indices out of range")
        if self.feature_.size and (self.feature_.max() >= len(self.mean_) or self.feature_.min() < 0):
            raise ValueError("tree feature indices out of range")


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
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
        self.chi_square_dof = components  # squared Mahalanobis distance in `components` dimensions

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
        self.chi_square_dof = k


CLASSIC_DETECTORS: tuple[str, ...] = ("ocsvm", "iforest", "kde", "lof", "elliptic")
