"""Heatmap overlays for files written by the CLI (the GUI draws its own with pyqtgraph).

Colours are tied to the threshold, not stretched per image: 0 is the lower level (typically the
median nominal score), 1 is twice the distance from there to the threshold, so a good part stays
cool and a part at the threshold is mid-scale.
"""
from __future__ import annotations

import cv2
import numpy as np

from inspector.threshold import Threshold


def threshold_levels(threshold: Threshold) -> tuple[float, float]:
    """(low, high) colour levels tied to the working point."""
    low = float(np.median(threshold.nominal_scores)) if len(threshold.nominal_scores) else 0.0
    low = min(low, threshold.fail * 0.5) if threshold.fail > 0 else low
    high = threshold.fail + (threshold.fail - low)
    return low, max(high, low + 1e-6)


def heatmap_overlay(image: np.ndarray, anomaly_map: np.ndarray, levels: tuple[float, float], alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 image with the map blended on top (JET colours on the given levels)."""
    low, high = levels
    scaled = np.clip((anomaly_map - low) / (high - low), 0.0, 1.0)
    colours = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    weight = (alpha * np.clip(scaled * 1.5, 0.15, 1.0))[:, :, None]
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
