"""Seed 000's "area under the AUC-percent curve" (section 4.3, Table 6), exactly as the paper
defines it, and a span-normalised variant kept under its own name.

Paper: "the area under the curve that gives the AUC as a function of the percentage of the total
original data that was used for training". The x axis is the fraction of the training set (0..1)
and the area is NOT divided by the span of fractions: a grid starting at 5 of 209 images and a
constant AUC a gives a * (1 - 5/209), which is why Table 6 entries sit a little below Table 1's.
"""
from __future__ import annotations

import numpy as np

from inspector.types import InspectorError


def _sorted_curve(fractions, aucs) -> tuple[np.ndarray, np.ndarray]:
    fractions = np.asarray(fractions, dtype=np.float64).ravel()
    aucs = np.asarray(aucs, dtype=np.float64).ravel()
    if fractions.shape != aucs.shape or len(fractions) == 0:
        raise InspectorError("The AUC-percent curve needs one AUC per training-set fraction.")
    if (fractions < 0).any() or (fractions > 1).any():
        raise InspectorError("Training-set fractions must lie between 0 and 1.")
    order = np.argsort(fractions, kind="stable")
    return fractions[order], aucs[order]


def area_under_auc_percent(fractions, aucs) -> float:
    """Trapezoidal area under AUC(fraction of the training set), not normalised (seed 000, Table 6)."""
    fractions, aucs = _sorted_curve(fractions, aucs)
    if len(fractions) == 1:
        return 0.0
    return float(np.trapezoid(aucs, fractions))


def normalised_area_under_auc_percent(fractions, aucs) -> float:
    """The same area divided by the span of fractions, so a constant AUC a gives a (not the paper's)."""
    fractions, aucs = _sorted_curve(fractions, aucs)
    if len(fractions) == 1:
        return float(aucs[0])
    span = fractions[-1] - fractions[0]
    if span <= 0:
        raise InspectorError("The AUC-percent curve needs at least two distinct training-set fractions.")
    return float(np.trapezoid(aucs, fractions) / span)
