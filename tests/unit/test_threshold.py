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


def test_chi_square_calibration_sums_level_quantiles():
    value = calibrate([], "chi2", 0.99, chi2_dofs=[4, 9])
    assert value == pytest.approx(np.sqrt(stats.chi2.ppf(0.99, 4)) + np.sqrt(stats.chi2.ppf(0.99, 9)))
    with pytest.raises(InspectorError, match="Mahalanobis"):
        calibrate([1.0], "chi2", 0.99)


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
    threshold = Threshold(10.0, review=7.0, nominal_scores=[1, 2, 3, 8], defect_scores=[12])
    assert [threshold.verdict(s) for s in (5, 7, 9.99, 10, 50)] == [PASS, REVIEW, REVIEW, FAIL, FAIL]
    assert threshold.expected_false_reject_rate == 0.0
    moved = threshold.with_values(7.5)
    assert moved.verdict(8) == FAIL and moved.review is None and moved.method == "manual"
    np.testing.assert_array_equal(moved.nominal_scores, threshold.nominal_scores)
    assert moved.expected_false_reject_rate == 0.25
    again = Threshold.from_json(threshold.to_json())
    assert again.fail == 10.0 and again.review == 7.0 and list(again.defect_scores) == [12]
