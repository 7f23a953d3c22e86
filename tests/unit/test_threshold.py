"""Working-point calibration from good images alone, and the REVIEW band."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from inspector.threshold import FAIL, PASS, REVIEW, Threshold, calibrate
from inspector.types import InspectorError


def test_quantile_and_sigma_calibration():
    scores = np.arange(1, 101, dtype=float)
    assert calibrate(scores, "quantile", 0.9) == pytest.approx(np.quantile(scores, 0.9))
    assert calibrate(scores, "sigma", 2.0) == pytest.approx(scores.mean() + 2 * scores.std(ddof=1))


def test_chi_square_calibration_is_refused_because_its_claim_fails_in_simulation():
    """Why chi2 was removed: on ideal Gaussian features, a Mahalanobis model fitted on 20 images
    rejects several times the false-reject rate the population chi-square quantile claims."""
    from inspector.detectors import create_detector
    from inspector.features.maps import FeatureMaps

    rng = np.random.default_rng(0)
    dims, claimed = 8, 0.03
    train = FeatureMaps({3: rng.normal(size=(20, dims, 1, 1)).astype(np.float32)}, (8, 8))
    test = FeatureMaps({3: rng.normal(size=(4000, dims, 1, 1)).astype(np.float32)}, (8, 8))
    detector = create_detector("mahalanobis", layers=(3,), covariance="empirical").fit(train)
    population_threshold = np.sqrt(stats.chi2.ppf(1 - claimed, dims))
    false_rejects = np.mean(detector.score(test).image_scores >= population_threshold)
    assert false_rejects > 2 * claimed
    with pytest.raises(InspectorError, match="removed"):
        calibrate([1.0, 2.0], "chi2", 0.99)


def test_cross_validated_sigma_calibration_holds_its_rate_in_simulation():
    """The replacement: mean + 3 sigma of cross-validated good scores keeps false rejects low."""
    from inspector.detectors import create_detector
    from inspector.features.maps import FeatureMaps

    rng = np.random.default_rng(1)
    good = rng.normal(size=(40, 8, 1, 1)).astype(np.float32)
    folds = np.arange(40) % 5
    nominal = np.empty(40)
    for fold in range(5):
        model = create_detector("mahalanobis", layers=(3,)).fit(FeatureMaps({3: good[folds != fold]}, (8, 8)))
        nominal[folds == fold] = model.score(FeatureMaps({3: good[folds == fold]}, (8, 8))).image_scores
    final = create_detector("mahalanobis", layers=(3,)).fit(FeatureMaps({3: good}, (8, 8)))
    fresh = final.score(FeatureMaps({3: rng.normal(size=(4000, 8, 1, 1)).astype(np.float32)}, (8, 8))).image_scores
    assert np.mean(fresh >= calibrate(nominal, "sigma", 3.0)) <= 0.03


def test_bad_parameters_are_refused():
    with pytest.raises(InspectorError):
        calibrate([1, 2, 3], "quantile", 1.5)
    with pytest.raises(InspectorError):
        calibrate([], "quantile", 0.9)
    with pytest.raises(InspectorError):
        calibrate([1, 2], "magic", 1)
    with pytest.raises(InspectorError, match="REVIEW"):
        Threshold(1.0, review=2.0)


def test_verdicts_with_review_band_and_rejudging_without_rescoring():
    threshold = Threshold(10.0, review=7.0, nominal_scores=[1, 2, 3, 8])
    assert [threshold.verdict(s) for s in (5, 7, 9.99, 10, 50)] == [PASS, REVIEW, REVIEW, FAIL, FAIL]
    assert threshold.expected_false_reject_rate == 0.0
    moved = threshold.with_values(7.5)
    assert moved.verdict(8) == FAIL and moved.review is None and moved.method == "manual"
    np.testing.assert_array_equal(moved.nominal_scores, threshold.nominal_scores)
    assert moved.expected_false_reject_rate == 0.25
    again = Threshold.from_json(threshold.to_json())
    assert again.fail == 10.0 and again.review == 7.0 and list(again.nominal_scores) == [1, 2, 3, 8]


def test_legacy_threshold_keys_are_read_and_ignored_and_never_written():
    """defect_scores / f1_threshold were stored fields no fit filled (issue 14): gone, old data still reads."""
    written = Threshold(10.0, review=7.0, nominal_scores=[1, 2]).to_json()
    assert "defect_scores" not in written and "f1_threshold" not in written
    old = dict(written, defect_scores=[12.0], f1_threshold=11.0)
    again = Threshold.from_json(old)
    assert again.fail == 10.0 and not hasattr(again, "defect_scores") and not hasattr(again, "f1_threshold")
