"""Any sequence of fits works in one process (issue 10, item 8).

A PatchCore fit used to flip torch's global thread count (1, then back), after which oneMKL's
batched solver broke every later PaDiM fit. Each detector is fitted after every other here, on
small synthetic features, and torch's thread count must never change.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from inspector.detectors import available_detectors, create_detector
from inspector.features.maps import FeatureMaps

#: Small settings so that the 13 x 12 ordered pairs stay fast.
SMALL = {"simplenet": {"epochs": 1}, "padim": {"n_features": 20}, "patchcore": {"coreset_ratio": 0.5}}


def _features(rng: np.random.Generator, n: int = 6) -> FeatureMaps:
    """Stages 2-6 shaped like Lite0's at a 64 px input (strides 8, 16, 16, 32, 32)."""
    shapes = {2: (40, 8, 8), 3: (80, 4, 4), 4: (112, 4, 4), 5: (192, 2, 2), 6: (320, 2, 2)}
    return FeatureMaps({k: rng.normal(size=(n, *s)).astype(np.float32) for k, s in shapes.items()}, (64, 64))


def _fit_and_score(name: str, train: FeatureMaps, test: FeatureMaps) -> np.ndarray:
    detector = create_detector(name, **SMALL.get(name, {})).fit(train)
    return detector.score(test).image_scores


def test_every_detector_fits_after_every_other_in_one_process():
    rng = np.random.default_rng(0)
    train, test = _features(rng), _features(rng, 3)
    threads = torch.get_num_threads()
    names = sorted(available_detectors())
    assert {"padim", "patchcore", "simplenet", "knn", "mahalanobis"} <= set(names)
    for first, second in itertools.permutations(names, 2):
        for name in (first, second):
            scores = _fit_and_score(name, train, test)
            assert np.all(np.isfinite(scores)), f"{name} after {first}"
            assert torch.get_num_threads() == threads, f"{name} changed torch's thread count"


def test_batched_inverse_still_works_after_a_patchcore_fit():
    """The issue's reproduction: a float64 batched inverse after a PatchCore fit."""
    rng = np.random.default_rng(1)
    _fit_and_score("patchcore", _features(rng), _features(rng, 2))
    a = torch.randn(196, 50, 200, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cov = a.transpose(1, 2) @ a / 50 + 0.01 * torch.eye(200, dtype=torch.float64)
    inverse = torch.linalg.inv(cov)
    assert torch.allclose(inverse[0] @ cov[0], torch.eye(200, dtype=torch.float64), atol=1e-6)
