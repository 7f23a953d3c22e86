"""Policy check (Qt-free): the fit's own copies are scored and counted against FAIL / REVIEW."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inspector.augment.engine import iter_augmented_copies
from inspector.augment.policy import AugmentationPolicy, Range, Translate
from inspector.augment.policy_check import PolicyCheck, check_policy, pick_images
from inspector.types import CancelToken, Cancelled, InspectorError, Reporter


def _images(n: int = 10) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.clip(rng.normal(128, 3, (32, 32, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def brightness_score(images: list[np.ndarray]) -> list[float]:
    """A real, simple detector: distance of the mean grey level from the good parts' (128)."""
    return [abs(float(image.mean()) - 128.0) for image in images]


def test_gentle_policy_stays_nominal_and_strong_one_does_not():
    images = _images()
    gentle = AugmentationPolicy(add=Range(-2, 2))
    check = check_policy(images, gentle, brightness_score, fail=10.0, review=6.0, factor=4, n_copies=40)
    assert check.n_scored == 40 and check.n_errors == 0 and check.n_fail == 0
    assert check.status == "nominal"
    assert check.summary() == "40 of 40 copies below FAIL: the policy stays nominal."

    strong = AugmentationPolicy(add=Range(-60, 60))
    check = check_policy(images, strong, brightness_score, fail=10.0, review=6.0, factor=4, n_copies=40)
    assert check.n_fail > 20 and check.status == "defective"
    assert check.summary().startswith(f"{40 - check.n_fail} of 40 copies below FAIL")
    assert "leaves the nominal range" in check.summary()
    assert check.n_review == int(np.sum((check.copy_scores >= 6.0) & (check.copy_scores < 10.0)))


def test_copies_are_the_ones_the_fit_makes():
    images = _images(10)
    policy = replace(AugmentationPolicy(translate=Translate(3, 3), add=Range(-5, 5)), seed=9)
    seen: list[np.ndarray] = []

    def record(batch):
        seen.extend(batch)
        return [0.0] * len(batch)

    check = check_policy(images, policy, record, fail=1.0, factor=3, n_copies=12, seed=2)
    assert check.image_indices == (0, 3, 6, 9) and check.factor == 3
    fit_copies = {i: c for i, c in iter_augmented_copies(images, policy, 3, seed=2)}
    expected = [copy for i in check.image_indices for copy in fit_copies[i]]
    assert len(seen) == len(expected) and all(np.array_equal(a, b) for a, b in zip(seen, expected))


def test_unscored_copies_fail_closed():
    images = _images(4)

    def flaky(batch):
        return [None if i == 0 else float("nan") if i == 1 else 0.0 for i in range(len(batch))]

    check = check_policy(images, AugmentationPolicy(add=Range(-1, 1)), flaky, fail=1.0, factor=2, n_copies=8)
    assert check.n_errors == 2 and check.status == "error"
    assert "could not be scored" in check.summary() and "nominal" not in check.summary()
    with pytest.raises(InspectorError, match="returned"):
        check_policy(images, AugmentationPolicy(add=Range(-1, 1)), lambda b: [0.0], fail=1.0, factor=2)


def test_refusals_and_cancel():
    images = _images(4)
    policy = AugmentationPolicy(add=Range(-1, 1))
    with pytest.raises(InspectorError, match="changes nothing"):
        check_policy(images, AugmentationPolicy(), brightness_score, fail=1.0)
    with pytest.raises(InspectorError, match="finite FAIL"):
        check_policy(images, policy, brightness_score, fail=float("nan"))
    with pytest.raises(InspectorError, match="factor"):
        check_policy(images, policy, brightness_score, fail=1.0, factor=0)
    with pytest.raises(InspectorError, match="training images"):
        check_policy([], policy, brightness_score, fail=1.0)
    token = CancelToken()
    progress = []

    def score_then_cancel(batch):
        token.cancel()
        return brightness_score(batch)

    with pytest.raises(Cancelled):
        check_policy(images, policy, score_then_cancel, fail=1.0, factor=4, n_copies=16,
                     reporter=Reporter(progress.append, token))
    assert progress and progress[0].done == 0 and progress[0].total == 16


def test_pick_images_spreads_and_covers():
    assert pick_images(10, 4, 40) == list(range(10))
    assert pick_images(100, 4, 40) == [int(round(x)) for x in np.linspace(0, 99, 10)]
    assert pick_images(0, 4) == []
    assert pick_images(3, 1, 1) == [0]


def test_borderline_status():
    check = PolicyCheck(np.array([0.0] * 18 + [5.0, 5.0]), fail=5.0, review=None, n_requested=20)
    assert check.n_fail == 2 and check.status == "borderline"
    assert check.summary().startswith("18 of 20 copies below FAIL: some copies")
