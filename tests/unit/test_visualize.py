"""Heatmap colours follow the working point (issue 15): transparent below REVIEW / FAIL, never stretched per image."""
from __future__ import annotations

import numpy as np
import pytest

from inspector.threshold import Threshold
from inspector.visualize import (FAIL_ALPHA, HOT_ALPHA, REVIEW_MAX_ALPHA, heatmap_overlay, heatmap_weights,
                                 threshold_levels, working_point_ramp)


def _threshold(review=None) -> Threshold:
    return Threshold(10.0, review, nominal_scores=np.linspace(5.0, 9.0, 21))


def test_levels_start_at_the_lower_alert_level_and_carry_fail():
    levels = threshold_levels(_threshold())
    low, high = levels
    assert low == 10.0 and high == pytest.approx(15.0) and levels.fail == 10.0
    banded = threshold_levels(_threshold(review=8.0))
    assert tuple(banded) == (8.0, pytest.approx(15.0)) and banded.fail == 10.0


def test_ramp_is_transparent_below_the_alert_cool_in_the_band_hot_from_fail():
    colour, alpha = working_point_ramp(8.0, 15.0, 10.0, points=71)  # a value every 0.1
    values = np.linspace(8.0, 15.0, 71)
    assert alpha[0] == 0.0
    band = values < 10.0
    assert np.all(alpha[band] <= REVIEW_MAX_ALPHA) and np.all(alpha[band] < HOT_ALPHA)
    assert np.all(alpha[~band] >= FAIL_ALPHA) and np.all(alpha[~band] >= HOT_ALPHA)
    assert colour[band].max() < colour[~band].min()  # cool below FAIL, hot from it
    assert np.all(np.diff(colour) >= 0) and np.all(np.diff(alpha[1:]) >= 0)


def test_a_good_map_gets_no_colour_however_its_pixels_spread():
    """0.1.0 and a min-max stretch paint a good part's highest pixels hot; here they stay clear."""
    levels = threshold_levels(_threshold())
    rng = np.random.default_rng(0)
    good = rng.uniform(4.0, 9.9, size=(32, 32))  # its score, the max, is just under FAIL
    defect = good.copy()
    defect[10:16, 10:16] = 13.0
    _, good_alpha = heatmap_weights(good, levels)
    _, defect_alpha = heatmap_weights(defect, levels)
    assert good_alpha.max() == 0.0
    assert np.all(defect_alpha[10:16, 10:16] >= HOT_ALPHA) and defect_alpha.sum() == pytest.approx(defect_alpha[10:16, 10:16].sum())
    image = np.full((32, 32, 3), 128, np.uint8)
    assert np.array_equal(heatmap_overlay(image, good, levels), image)  # the CLI's overlay: untouched
    painted = heatmap_overlay(image, defect, levels)
    assert not np.array_equal(painted[10:16, 10:16], image[10:16, 10:16])
    assert np.array_equal(painted[20:, 20:], image[20:, 20:])


def test_review_levels_start_cool_at_the_median_good_score_and_keep_fail_hot():
    from inspector.visualize import nominal_levels

    threshold = _threshold(review=8.0)
    levels = nominal_levels(threshold)
    assert levels[0] == pytest.approx(7.0) and levels.fail == 10.0 and levels[1] == threshold_levels(threshold)[1]
    flagged = np.full((8, 8), 9.0)  # a training image above the median, below FAIL: cool, visible, never hot
    _, alpha = heatmap_weights(flagged, levels)
    assert 0 < alpha.max() < HOT_ALPHA
