"""Isolation Forest (Liu et al.) on pooled features, scored in NumPy by walking each tree's node arrays."""
from __future__ import annotations

from typing import Union

import numpy as np

from inspector.detectors.base import POOLED_LAYERS
from inspector.detectors.classic.common import (
    _ClassicDetector,
)
from inspector.detectors.registry import register


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
