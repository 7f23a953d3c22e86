"""Metrics against values computed by hand."""
from __future__ import annotations

import numpy as np
import pytest

from inspector.evaluation.metrics import (area_under_auc_percent, au_iou, au_pro, f1_optimal_threshold, image_auroc,
                                          pixel_auroc)
from inspector.types import InspectorError


def test_image_auroc_known_values():
    assert image_auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert image_auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert image_auroc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.75)
    with pytest.raises(InspectorError):
        image_auroc([0, 0], [0.1, 0.2])


def test_pixel_auroc_perfect_and_shape_check():
    masks = np.zeros((2, 4, 4), bool)
    masks[1, 1:3, 1:3] = True
    assert pixel_auroc(masks, masks.astype(np.float32)) == 1.0
    with pytest.raises(InspectorError):
        pixel_auroc(masks, np.zeros((2, 5, 5)))


def test_au_pro_perfect_map_is_one_and_random_is_low():
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 32, 32), bool)
    masks[0, 4:10, 4:10] = True
    masks[1, 20:30, 2:6] = True
    assert au_pro(masks, masks.astype(np.float32)) == pytest.approx(1.0)
    noise = rng.random(masks.shape).astype(np.float32)
    # a random map has PRO ~= FPR, so the normalised area up to 30 % FPR is about 0.15
    assert au_pro(masks, noise) == pytest.approx(0.15, abs=0.03)


def test_au_pro_averages_regions_not_pixels():
    masks = np.zeros((1, 20, 20), bool)
    masks[0, 0:10, 0:10] = True  # a large region (100 px)
    masks[0, 15:17, 15:17] = True  # a small region (4 px)
    maps = np.zeros((1, 20, 20), np.float32)
    maps[0, 0:10, 0:10] = 1.0  # only the large region is found
    # PRO jumps to 0.5 (one region of two) at FPR 0, then reaches 1 only when every pixel is positive
    value = au_pro(masks, maps, fpr_limit=0.3)
    assert 0.5 <= value < 0.6
    # IoU: 100/104 at FPR 0, linear towards 104/400 at FPR 1; mean over [0, 0.3]
    iou0, iou1 = 100 / 104, 104 / 400
    assert au_iou(masks, maps, 0.3) == pytest.approx((iou0 + iou0 + 0.3 * (iou1 - iou0)) / 2)


def test_f1_optimal_threshold():
    threshold, f1 = f1_optimal_threshold([0, 0, 0, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.9])
    # best cut: >= 0.5 gives P=2/3 R=1 (F1 0.8); >= 0.9 gives P=1 R=0.5 (F1 0.667)
    assert threshold == pytest.approx(0.5) and f1 == pytest.approx(0.8)


def test_area_under_auc_percent():
    assert area_under_auc_percent([0.1, 0.5, 1.0], [0.9, 0.9, 0.9]) == pytest.approx(0.9)
    assert area_under_auc_percent([0.0, 1.0], [0.5, 1.0]) == pytest.approx(0.75)
    assert area_under_auc_percent([1.0, 0.0], [1.0, 0.5]) == pytest.approx(0.75)  # order does not matter
