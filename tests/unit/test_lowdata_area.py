"""Seed 000's area under the AUC-percent curve, against a hand computation."""
import numpy as np
import pytest

from inspector.evaluation.lowdata_area import area_under_auc_percent, normalised_area_under_auc_percent
from inspector.types import InspectorError


def test_area_is_not_normalised_by_the_span():
    # bottle-like grid: 5, 10, 20 of 20 images -> fractions 0.25, 0.5, 1.0
    fractions, aucs = [0.25, 0.5, 1.0], [0.8, 0.9, 1.0]
    hand = (0.5 - 0.25) * (0.8 + 0.9) / 2 + (1.0 - 0.5) * (0.9 + 1.0) / 2  # 0.2125 + 0.475
    assert area_under_auc_percent(fractions, aucs) == pytest.approx(0.6875)
    assert area_under_auc_percent(fractions, aucs) == pytest.approx(hand)
    assert normalised_area_under_auc_percent(fractions, aucs) == pytest.approx(hand / 0.75)
    # a constant AUC a over [5/209, 1] gives a * (1 - 5/209), as in Table 6 vs Table 1
    grid = np.array([5, 50, 100, 209]) / 209
    assert area_under_auc_percent(grid, [0.97] * 4) == pytest.approx(0.97 * (1 - 5 / 209))
    assert area_under_auc_percent(fractions[::-1], aucs[::-1]) == pytest.approx(hand)  # order does not matter


def test_area_rejects_bad_curves():
    with pytest.raises(InspectorError):
        area_under_auc_percent([0.5, 1.5], [0.9, 0.9])
    with pytest.raises(InspectorError):
        area_under_auc_percent([0.5], [0.9, 0.8])
    assert area_under_auc_percent([1.0], [0.9]) == 0.0
