"""Heatmap colours anchored to the model's working point, for the GUI and for files the CLI writes.

A heatmap must say what the verdict says. Its colour scale is therefore fixed by the working point,
never stretched to each image (a min-max stretch paints the highest pixel of every good part hot):

- below the lower alert level (REVIEW when the model has a band, FAIL otherwise) a pixel is fully
  transparent: a PASS part scores below it everywhere (its score is its map's maximum), so it shows
  no colour at all;
- in the REVIEW band [review, fail) colours are the cool lower part of the colour map, at most
  half opaque ("look here");
- at and above FAIL they are the hot upper half, opaque, hotter up to `high` (FAIL plus the spread
  from the median good score to FAIL).

`threshold_levels` gives the (low, high) levels (`nominal_levels` a cool band from the median good
score, for the Review page's training images); `working_point_ramp` what each level looks like
(the GUI turns it into a pyqtgraph lookup table, `heatmap_overlay` into OpenCV colours).
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from inspector.threshold import Threshold

#: Colour-map positions (0 = coolest, 1 = hottest) the REVIEW band spans, and where FAIL starts.
REVIEW_COLOURS = (0.1, 0.4)
FAIL_COLOUR = 0.55
#: Opacity at the top of the REVIEW band, and at FAIL (a FAIL pixel is never faint).
REVIEW_MAX_ALPHA = 0.55
FAIL_ALPHA = 0.75
#: Overlay opacity at or above which a pixel counts as "hot" (FAIL-level) in checks and tests.
HOT_ALPHA = 0.7


class HeatmapLevels(tuple):
    """The (low, high) colour levels, which unpack as a pair, with `fail`: where the hot colours start."""

    fail: float

    def __new__(cls, low: float, high: float, fail: float) -> "HeatmapLevels":
        levels = super().__new__(cls, (float(low), float(high)))
        levels.fail = float(fail)
        return levels


def threshold_levels(threshold: Threshold) -> HeatmapLevels:
    """(low, high) colour levels: low is the lower alert level (REVIEW if set, else FAIL), high is FAIL
    plus the spread from the median good score to FAIL (half FAIL when there are no good scores)."""
    fail = float(threshold.fail)
    reference = float(np.median(threshold.nominal_scores)) if len(threshold.nominal_scores) else 0.0
    if fail > 0:
        reference = min(reference, fail * 0.5)
    spread = max(fail - reference, abs(fail) * 0.05, 1e-6)
    low = fail if threshold.review is None else min(float(threshold.review), fail)
    return HeatmapLevels(low, fail + spread, fail)


def nominal_levels(threshold: Threshold) -> HeatmapLevels:
    """Levels whose cool band starts at the median good score instead of REVIEW / FAIL: for the Review
    page, where a training image scores below FAIL by construction and the question is where the
    model finds it most unusual. FAIL still starts the hot colours, so hot means the same everywhere."""
    levels = threshold_levels(threshold)
    median = float(np.median(threshold.nominal_scores)) if len(threshold.nominal_scores) else levels[0]
    return HeatmapLevels(min(median, levels[0]), levels[1], levels.fail)


def working_point_ramp(low: float, high: float, fail: Optional[float] = None,
                       points: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(colour position, opacity), each (points,) in [0, 1], for values evenly spaced over [low, high].

    Values below `low` take entry 0, which is transparent. `fail` None puts FAIL at `low` (no band).
    """
    values = np.linspace(low, high, points)
    fail = low if fail is None else float(np.clip(fail, low, high))
    colour = np.empty(points)
    alpha = np.empty(points)
    band = values < fail
    if np.any(band):
        share = (values[band] - low) / max(fail - low, 1e-12)
        colour[band] = REVIEW_COLOURS[0] + (REVIEW_COLOURS[1] - REVIEW_COLOURS[0]) * share
        alpha[band] = REVIEW_MAX_ALPHA * share
    above = ~band
    share = (values[above] - fail) / max(high - fail, 1e-12)
    colour[above] = FAIL_COLOUR + (1.0 - FAIL_COLOUR) * share
    alpha[above] = FAIL_ALPHA + (1.0 - FAIL_ALPHA) * share
    alpha[0] = 0.0  # everything at or below the alert level (values below low clip to this entry)
    return colour, alpha


def heatmap_weights(anomaly_map: np.ndarray, levels: tuple[float, float], fail: Optional[float] = None,
                    points: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (colour position, opacity) of `anomaly_map` on the working-point ramp (`fail` defaults
    to that of `levels` when they come from `threshold_levels`)."""
    low, high = levels
    fail = getattr(levels, "fail", None) if fail is None else fail
    colour, alpha = working_point_ramp(low, high, fail, points)
    index = np.clip(np.floor((np.asarray(anomaly_map, dtype=np.float64) - low) / max(high - low, 1e-12) * (points - 1)),
                    0, points - 1).astype(np.int64)
    index[np.asarray(anomaly_map) <= low] = 0
    return colour[index], alpha[index]


def heatmap_overlay(image: np.ndarray, anomaly_map: np.ndarray, levels: tuple[float, float], alpha: float = 0.6,
                    fail: Optional[float] = None) -> np.ndarray:
    """RGB uint8 image with the map blended on top (inferno colours on the working-point ramp)."""
    colour, opacity = heatmap_weights(anomaly_map, levels, fail)
    colours = cv2.applyColorMap((colour * 255).round().astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
    weight = (alpha * opacity)[:, :, None]
    return (image.astype(np.float32) * (1 - weight) + colours.astype(np.float32) * weight).round().astype(np.uint8)


def annotate(image: np.ndarray, text: str, colour: tuple[int, int, int]) -> np.ndarray:
    """Write a verdict banner on a copy of the image."""
    out = image.copy()
    scale = max(0.5, image.shape[1] / 600)
    cv2.rectangle(out, (0, 0), (image.shape[1], int(34 * scale)), (0, 0, 0), thickness=-1)
    cv2.putText(out, text, (int(8 * scale), int(25 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, colour,
                max(1, int(2 * scale)), cv2.LINE_AA)
    return out


VERDICT_COLOURS = {"PASS": (60, 200, 90), "REVIEW": (240, 180, 40), "FAIL": (230, 50, 50), "ERROR": (160, 160, 160)}
