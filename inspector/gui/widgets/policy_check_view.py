"""The policy check's plot: augmented copies' scores on the working-point histogram.

Good parts (green), defective parts (red) and the copies (blue) share one set of bins, with the
FAIL (red) and REVIEW (amber) lines of the working point in force; the lines are not draggable
here (the working point is set on the Inspect page). A one-line summary says what it means.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from inspector.gui.widgets.plots import fixed_plot
from inspector.gui.widgets.threshold_histogram import (
    DEFECT_COLOR,
    FAIL_COLOR,
    GOOD_COLOR,
    REVIEW_COLOR,
)

COPY_COLOR = (31, 111, 235)
STATUS_COLORS = {"nominal": "#1a7f37", "borderline": "#8a6100", "defective": "#cf222e", "error": "#cf222e"}


def shared_bins(arrays: Sequence[np.ndarray], lines: Sequence[Optional[float]], count: int = 40) -> np.ndarray:
    """Bin edges covering every finite score and line, with a 5 % margin either side."""
    values = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    values.append(np.asarray([v for v in lines if v is not None and math.isfinite(v)], dtype=np.float64))
    everything = np.concatenate(values)
    everything = everything[np.isfinite(everything)]
    if not len(everything):
        return np.linspace(0.0, 1.0, count + 1)
    low, high = float(everything.min()), float(everything.max())
    if high <= low:
        high = low + max(abs(low), 1.0) * 0.1
    span = high - low
    return np.linspace(low - 0.05 * span, high + 0.05 * span, count + 1)


class PolicyCheckView(QWidget):
    """`show_check(check)` plots a `PolicyCheck`; `series` holds what is drawn (for tests)."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.plot = fixed_plot("anomaly score", "images")
        self.plot.setMinimumHeight(160)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.summary = QLabel("Run the check to see how the policy's copies score against the working point.")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.summary)
        self.series: dict[str, np.ndarray] = {}
        self.lines: dict[str, float] = {}
        self.check: Any = None

    def clear(self, text: str = "") -> None:
        self.plot.clear()
        self.series, self.lines, self.check = {}, {}, None
        if text:
            self.summary.setText(text)
            self.summary.setStyleSheet("")

    def show_check(self, check: Any) -> None:
        self.clear()
        self.check = check
        data = {"good parts": (check.good_scores, GOOD_COLOR), "defective parts": (check.defect_scores, DEFECT_COLOR),
                "augmented copies": (check.copy_scores, COPY_COLOR)}
        edges = shared_bins([d for d, _ in data.values()], [check.fail, check.review])
        width = edges[1] - edges[0]
        for index, (name, (scores, color)) in enumerate(data.items()):
            scores = np.asarray(scores, dtype=np.float64)
            scores = scores[np.isfinite(scores)]
            if not len(scores):
                continue
            counts, _ = np.histogram(np.clip(scores, edges[0], edges[-1]), bins=edges)
            # Three bars side by side in each bin, so none hides another.
            bar = pg.BarGraphItem(x=edges[:-1] + width * (index + 0.5) / 3, height=counts, width=width / 3,
                                  brush=pg.mkBrush(*color, 200), pen=pg.mkPen(None), name=f"{name} ({len(scores)})")
            self.plot.addItem(bar)  # named: the legend lists it
            self.series[name] = scores
        for name, value, color in (("FAIL", check.fail, FAIL_COLOR), ("REVIEW", check.review, REVIEW_COLOR)):
            if value is None or not math.isfinite(value):
                continue
            line = pg.InfiniteLine(pos=value, angle=90, movable=False, pen=pg.mkPen(color, width=2),
                                   label=f"{name} {value:.4g}", labelOpts={"position": 0.92, "color": color})
            self.plot.addItem(line)
            self.lines[name] = float(value)
        self.summary.setText(check.summary())
        self.summary.setStyleSheet(f"color: {STATUS_COLORS.get(check.status, '#24292f')}; font-weight: bold;")
