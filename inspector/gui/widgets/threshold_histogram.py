"""Threshold editor: score histograms with draggable FAIL and REVIEW lines.

A threshold means little without the scores around it, so the lines sit on top of the
histogram of nominal (good) scores, and of defect scores when any are known. The band between
REVIEW and FAIL is shaded. Dragging a line emits `thresholdsChanged(fail, review_or_nan)`.

While a line is dragged the bins and the axis stay as they were when the drag began: the view
follows the working point, and re-fitting it under the mouse made a 37 px drag move FAIL from
24.86 to 50.41. It re-fits once the line is let go.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from inspector.gui.widgets.plots import fixed_plot, histogram_curve

GOOD_COLOR = (46, 160, 67)
DEFECT_COLOR = (218, 54, 51)
FAIL_COLOR = "#d73a49"
REVIEW_COLOR = "#e3a008"


def _bins(arrays: Sequence[np.ndarray], extra: Sequence[Optional[float]]) -> tuple[np.ndarray, bool]:
    """Shared bin edges around the working point, and whether high scores were clipped.

    The view runs from the lowest score to 1.5 times the distance from there to FAIL beyond it
    (at least up to every threshold), so the region that matters stays readable even when a
    few defects score ten times higher; those land in the last bin.
    """
    values = np.concatenate([np.zeros(0), *[a for a in arrays if len(a)]])
    values = values[np.isfinite(values)]
    points = [float(v) for v in extra if v is not None and math.isfinite(v)]
    everything = np.concatenate([values, np.asarray(points, dtype=np.float64)])
    if not len(everything):
        return np.linspace(0.0, 1.0, 13), False
    low, top = float(everything.min()), float(everything.max())
    high = top
    if points:
        focus = points[0] + 1.5 * (points[0] - low)
        high = min(top, max(focus, max(points)))
    if high <= low:
        high = low + max(abs(low), 1.0) * 0.1
    span = high - low
    count = int(np.clip(np.sqrt(max(len(values), 1)) * 2, 12, 60))
    return np.linspace(low - 0.05 * span, high + 0.05 * span, count + 1), high < top


class ThresholdHistogram(QWidget):
    """Histogram plot + FAIL line (red) + optional REVIEW line (amber) + current score marker."""

    thresholdsChanged = Signal(float, float)  # fail, review (NaN when there is no REVIEW band)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.plot = fixed_plot("anomaly score", "parts")
        self.good_curve = histogram_curve(GOOD_COLOR)
        self.defect_curve = histogram_curve(DEFECT_COLOR)
        self.plot.addItem(self.good_curve)
        self.plot.addItem(self.defect_curve)
        self.band = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(227, 160, 8, 45), pen=pg.mkPen(None))
        self.band.setZValue(-10)
        self.plot.addItem(self.band)
        self.fail_line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(FAIL_COLOR, width=2.5),
                                         hoverPen=pg.mkPen(FAIL_COLOR, width=4), label="FAIL",
                                         labelOpts={"position": 0.93, "color": FAIL_COLOR, "fill": (255, 255, 255, 200)})
        self.review_line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(REVIEW_COLOR, width=2, style=Qt.PenStyle.DashLine),
                                           hoverPen=pg.mkPen(REVIEW_COLOR, width=4), label="REVIEW",
                                           labelOpts={"position": 0.80, "color": REVIEW_COLOR, "fill": (255, 255, 255, 200)})
        self.score_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#1f6feb", width=2, style=Qt.PenStyle.DotLine),
                                          label="this part", labelOpts={"position": 0.55, "color": "#1f6feb", "fill": (255, 255, 255, 200)})
        self.fail_line.setToolTip("Drag to move the FAIL threshold: parts scoring at or above it fail.")
        self.review_line.setToolTip("Drag to move the REVIEW threshold: parts between it and FAIL go to a person.")
        for line in (self.fail_line, self.review_line, self.score_line):
            self.plot.addItem(line)
        self.fail_line.sigPositionChanged.connect(self._on_fail_moved)
        self.review_line.sigPositionChanged.connect(self._on_review_moved)
        for line in (self.fail_line, self.review_line):
            line.sigPositionChangeFinished.connect(lambda _line: self._on_drag_finished())
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        # One line that is cut at narrow widths (full text in the tooltip), never wider than the panel:
        # at 1024 px a wide legend ran over the FAIL / REVIEW rows below it.
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        self._updating = False
        self._review_enabled = False
        self._nominal = np.zeros(0)
        self._defect = np.zeros(0)
        self._edges = np.linspace(0.0, 1.0, 13)
        self._clipped = False
        self._score: Optional[float] = None
        self.review_line.hide()
        self.band.hide()
        self.score_line.hide()

    # -- data ---------------------------------------------------------------------------------
    def set_scores(self, nominal: np.ndarray, defect: Optional[np.ndarray] = None) -> None:
        self._nominal = np.asarray(nominal, dtype=np.float64).ravel()
        self._defect = np.zeros(0) if defect is None else np.asarray(defect, dtype=np.float64).ravel()
        self._redraw()

    @property
    def dragging(self) -> bool:
        """True while the user holds a threshold line (the axis is frozen meanwhile)."""
        return bool(self.fail_line.moving or self.review_line.moving)

    def _on_drag_finished(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        review = self.review() if self._review_enabled else None
        if self.dragging:  # keep the bins and the axis under the mouse; counts may still change
            edges = self._edges
        else:
            edges, self._clipped = _bins([self._nominal, self._defect], [self.fail(), review])
        self._edges = edges
        for curve, values in ((self.good_curve, self._nominal), (self.defect_curve, self._defect)):
            if len(values):
                counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
                curve.setData(edges, counts)
                curve.show()
            else:
                curve.setData([], [])
                curve.hide()
        if not self.dragging:
            self.plot.setXRange(edges[0], edges[-1], padding=0)
            self.fail_line.setBounds((edges[0], edges[-1]))
            self.review_line.setBounds((edges[0], edges[-1]))
        peak = 1
        for values in (self._nominal, self._defect):
            if len(values):
                peak = max(peak, int(np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0].max()))
        self.plot.setYRange(0, peak * 1.25, padding=0)
        good = "#%02x%02x%02x" % GOOD_COLOR
        bad = "#%02x%02x%02x" % DEFECT_COLOR
        parts = [f"<span style='color:{good}'>&#9632;</span> good parts ({len(self._nominal)})"]
        if len(self._defect):
            parts.append(f"<span style='color:{bad}'>&#9632;</span> defective parts ({len(self._defect)})")
        if self._clipped:
            parts.append(f"scores above {edges[-1]:.3g} in the last bin")
        self.legend.setText("&nbsp;&nbsp;".join(parts))
        self.legend.setToolTip("<br>".join(parts))
        if self._score is not None and self.score_line.isVisible():
            self.set_score(self._score)

    # -- thresholds ---------------------------------------------------------------------------
    def fail(self) -> float:
        return float(self.fail_line.value())

    def review(self) -> Optional[float]:
        return float(self.review_line.value()) if self._review_enabled else None

    def set_thresholds(self, fail: float, review: Optional[float]) -> None:
        """Move the lines without emitting (the caller already knows the values)."""
        self._updating = True
        try:
            self._review_enabled = review is not None
            if not self.dragging:
                for line in (self.fail_line, self.review_line):  # old bounds must not clamp new values
                    line.setBounds((None, None))
            self.fail_line.setValue(fail)
            if review is not None:
                self.review_line.setValue(review)
            self.review_line.setVisible(self._review_enabled)
            self.band.setVisible(self._review_enabled)
            self._update_band()
            self._redraw()
        finally:
            self._updating = False

    def set_score(self, score: Optional[float]) -> None:
        if score is None or not math.isfinite(score):
            self._score = None
            self.score_line.hide()
            return
        self._score = score
        low, high = self._edges[0], self._edges[-1]
        self.score_line.setValue(min(max(score, low), high))  # an extreme part is marked at the edge
        text = f"this part ({score:.3g})"
        self.score_line.label.setFormat(text + " >" if score > high else ("< " + text if score < low else text))
        self.score_line.show()

    def _update_band(self) -> None:
        if self._review_enabled:
            self.band.setRegion((self.review_line.value(), self.fail_line.value()))

    def _on_fail_moved(self) -> None:
        self._on_line_moved(check_review=self._review_enabled)

    def _on_review_moved(self) -> None:
        self._on_line_moved(check_review=True)

    def _on_line_moved(self, check_review: bool) -> None:
        """Either line moved: REVIEW never goes above FAIL (it is pushed down to it), then emit."""
        if self._updating:
            return
        if check_review and self.review_line.value() > self.fail_line.value():
            self._updating = True
            self.review_line.setValue(self.fail_line.value())
            self._updating = False
        self._update_band()
        self._emit()

    def _emit(self) -> None:
        review = self.review()
        self.thresholdsChanged.emit(self.fail(), float("nan") if review is None else review)
