"""SROC and its baselines on features with planted outliers."""
from __future__ import annotations

import json
from typing import Any, Optional

import numpy as np
import pytest

from inspector.detectors.base import Detector
from inspector.features.maps import FeatureMaps
from inspector.refine.sroc import (
    RefinementRanking,
    cross_validation_refinement,
    n_flagged,
    random_refinement,
    refine,
    refinement_prf,
    sroc,
    stoc_refinement,
)
from inspector.types import InspectorError, Reporter, ScoreResult

N_GOOD, N_BAD = 36, 4


def _planted(seed: int = 0) -> tuple[FeatureMaps, np.ndarray]:
    """Good images: Gaussian features; the last N_BAD are shifted far away (shuffled in)."""
    rng = np.random.default_rng(seed)
    n = N_GOOD + N_BAD
    levels = {3: rng.normal(size=(n, 6, 2, 2)), 5: rng.normal(size=(n, 4, 1, 1)), 6: rng.normal(size=(n, 4, 1, 1))}
    truth = np.zeros(n, bool)
    truth[N_GOOD:] = True
    for level in levels.values():
        level[truth] += 6.0
    order = rng.permutation(n)
    return FeatureMaps({k: v[order].astype(np.float32) for k, v in levels.items()}, (8, 8)), truth[order]


class CentroidDetector(Detector):
    """A tiny local detector: distance of the pooled level-3 features to their mean."""

    name = "test_centroid"

    def __init__(self, scale: float = 1.0, layers: tuple[int, ...] = (3,)) -> None:
        super().__init__(layers)
        self.scale = scale

    def fit(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> "CentroidDetector":
        self.mean_ = features.levels[3].mean(axis=(0, 2, 3))
        self.fitted_ = True
        return self

    def score(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> ScoreResult:
        self._check_fitted()
        return ScoreResult(self.scale * np.linalg.norm(features.levels[3].mean(axis=(2, 3)) - self.mean_, axis=1))

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"mean": self.mean_}

    def _set_state(self, state, arrays) -> None:
        self.mean_ = arrays["mean"]


@pytest.mark.parametrize("detector", ["mahalanobis", CentroidDetector()])
def test_sroc_flags_exactly_the_planted_outliers(detector):
    features, truth = _planted()
    ranking = sroc(features, ratio=N_BAD / len(truth), detector=detector)
    assert ranking.method == "sroc" and ranking.flagged.sum() == N_BAD
    assert set(ranking.order[:N_BAD]) == set(np.flatnonzero(truth))
    assert np.array_equal(ranking.flagged, truth)
    assert refinement_prf(ranking.flagged, truth) == (1.0, 1.0, 1.0)
    assert set(ranking.kept_indices()) == set(np.flatnonzero(~truth))
    # scores of the outliers are above every inlier's, and the order sorts the scores
    assert ranking.scores[truth].min() > ranking.scores[~truth].max()
    assert np.all(np.diff(ranking.scores[ranking.order]) <= 0)


def test_a_larger_ratio_keeps_full_recall_and_lowers_precision():
    features, truth = _planted(1)
    ranking = sroc(features, 0.2, "mahalanobis")
    precision, recall, f1 = refinement_prf(ranking.flagged, truth)
    assert ranking.flagged.sum() == 8 and recall == 1.0 and precision == pytest.approx(0.5)
    assert f1 == pytest.approx(2 * 0.5 / 1.5)


def test_with_ratio_reflags_without_refitting():
    features, truth = _planted(2)
    ranking = sroc(features, 0.0, "mahalanobis")
    assert not ranking.flagged.any() and len(ranking.kept_indices()) == len(truth)
    assert np.array_equal(ranking.with_ratio(0.1).flagged, truth)
    assert list(ranking.with_ratio(0.1).flagged_indices()) == list(ranking.order[:N_BAD])


def test_detector_params_are_passed():
    features, truth = _planted(3)
    ranking = sroc(features, 0.1, CentroidDetector(), detector_params={"scale": 3.0})
    plain = sroc(features, 0.1, CentroidDetector())
    assert np.allclose(ranking.scores, 3.0 * plain.scores)


@pytest.mark.parametrize("strategy", [cross_validation_refinement, stoc_refinement])
def test_cross_validation_and_stoc_find_the_outliers(strategy):
    features, truth = _planted(4)
    ranking = strategy(features, 0.1, CentroidDetector(), s=5, seed=0)
    assert ranking.params["s"] == 5
    assert np.array_equal(ranking.flagged, truth)


def test_random_baseline_is_seeded_and_flags_the_ratio():
    a = random_refinement(40, 0.25, seed=3)
    b = random_refinement(40, 0.25, seed=3)
    c = random_refinement(40, 0.25, seed=4)
    assert a.flagged.sum() == 10 and np.array_equal(a.flagged, b.flagged)
    assert not np.array_equal(a.flagged, c.flagged)
    assert np.all(np.diff(a.scores[a.order]) < 0)


def test_refine_dispatch_and_unknown_method():
    features, truth = _planted(5)
    for method in ("sroc", "random", "cv", "stoc"):
        ranking = refine(method, features, 0.1, CentroidDetector(), s=4)
        assert ranking.flagged.sum() == N_BAD
    with pytest.raises(InspectorError, match="Unknown refinement method"):
        refine("magic", features, 0.1)


def test_json_round_trip_keeps_the_review_list(tmp_path):
    features, truth = _planted(6)
    names = [f"img_{i:03d}.png" for i in range(len(truth))]
    ranking = sroc(features, 0.1, "mahalanobis", names=names)
    back = RefinementRanking.from_json(json.loads(json.dumps(ranking.to_json())))
    assert np.allclose(back.scores, ranking.scores) and np.array_equal(back.order, ranking.order)
    assert np.array_equal(back.flagged, ranking.flagged) and back.names == names
    assert back.method == "sroc" and back.detector == "mahalanobis" and back.ratio == pytest.approx(0.1)
    with pytest.raises(InspectorError):
        RefinementRanking.from_json({"format": "nope"})


def test_prf_edge_cases():
    assert refinement_prf([True, True, False, False], [True, False, True, False]) == (0.5, 0.5, 0.5)
    precision, recall, f1 = refinement_prf([False, False], [True, False])
    assert np.isnan(precision) and recall == 0.0 and np.isnan(f1)
    assert refinement_prf([True, False], [False, True]) == (0.0, 0.0, 0.0)
    with pytest.raises(InspectorError):
        refinement_prf([True], [True, False])


def test_ratio_bounds_and_rounding():
    assert n_flagged(10, 0.25) == 2 and n_flagged(10, 0.0) == 0 and n_flagged(3, 0.9) == 2
    with pytest.raises(InspectorError, match="refinement ratio"):
        n_flagged(10, 1.0)
    features, _ = _planted()
    with pytest.raises(InspectorError, match="refinement ratio"):
        sroc(features, -0.1)
    with pytest.raises(InspectorError, match="splits"):
        cross_validation_refinement(features.subset(np.arange(3)), 0.1, CentroidDetector(), s=5)


def test_degenerate_rankers_are_refused():
    features, _ = _planted()
    with pytest.raises(InspectorError, match="k=1"):
        sroc(features, 0.1, "knn", {"k": 1})
    flat = FeatureMaps({3: np.ones((6, 2, 1, 1), np.float32)}, (4, 4))
    with pytest.raises(InspectorError, match="same score"):
        sroc(flat, 0.2, CentroidDetector())
    assert sroc(features, 0.1, "knn", {"k": 5}).flagged.sum() == N_BAD


def test_progress_is_reported():
    features, _ = _planted()
    stages = []
    stoc_refinement(features, 0.1, CentroidDetector(), s=3, reporter=Reporter(lambda p: stages.append(p)))
    assert stages[0].stage == "refine" and stages[-1].done == stages[-1].total == 3


class RecordingCentroid(CentroidDetector):
    """CentroidDetector that remembers how many images each fit saw (class-wide, for the test)."""

    name = "test_recording_centroid"
    fits: list[int] = []

    def fit(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> "RecordingCentroid":
        RecordingCentroid.fits.append(len(features))
        return super().fit(features, reporter)


def test_iterative_sroc_refits_without_what_each_round_flagged():
    features, truth = _planted(5)
    RecordingCentroid.fits = []
    ranking = refine("sroc_iterative", features, N_BAD / len(truth), RecordingCentroid(), rounds=4)
    # round r fits on n minus the round(r-1)/4 * 4 images the previous round ranked highest
    assert RecordingCentroid.fits == [40, 39, 38, 37]
    assert ranking.method == "sroc_iterative" and ranking.params["rounds"] == 4
    assert ranking.params["made_for_ratio"] == pytest.approx(0.1)
    assert np.array_equal(ranking.flagged, truth)
    # the last round's model never saw its most anomalous images: their scores are out-of-sample
    last_fit = CentroidDetector().fit(features.subset(np.sort(np.argsort(-ranking.scores)[3:])))
    assert np.allclose(ranking.scores, last_fit.score(features).image_scores)
    RecordingCentroid.fits = []
    refine("sroc_iterative", features, 0.0, RecordingCentroid(), rounds=4)
    assert RecordingCentroid.fits == [40]  # nothing to flag: one fit
    with pytest.raises(InspectorError, match="round"):
        sroc(features, 0.1, CentroidDetector(), rounds=0)


def test_iterative_sroc_recovers_outliers_masked_by_a_larger_group():
    """Two groups of outliers on one side: the far one drags the one-shot centroid onto the near one, which
    single-fit SROC then ranks as the most normal; refitting without the far group finds it."""
    rng = np.random.default_rng(7)
    good = rng.normal(size=(60, 2))
    far = np.array([40.0, 0.0]) + rng.normal(scale=0.5, size=(8, 2))
    near = np.array([5.0, 0.0]) + rng.normal(scale=0.3, size=(4, 2))
    points = np.concatenate([good, far, near]).astype(np.float32)
    truth = np.r_[np.zeros(60, bool), np.ones(12, bool)]
    features = FeatureMaps({3: points[:, :, None, None]}, (8, 8))
    ratio = 12 / 72
    one_shot = sroc(features, ratio, CentroidDetector())
    iterative = refine("sroc_iterative", features, ratio, CentroidDetector(), rounds=3)
    assert refinement_prf(one_shot.flagged, truth)[1] <= 8 / 12  # the near group is masked
    assert refinement_prf(iterative.flagged, truth) == (1.0, 1.0, 1.0)
