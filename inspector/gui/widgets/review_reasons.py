"""The Review page's reasons: why an image was flagged, so that a person can judge it.

Three things side by side: the image with its heatmap (where the detector localises what it
finds unusual), the nearest kept image with its heatmap (what "normal" looks like for it), and
the distribution of refinement scores with the cut between flagged and kept, the selected
image marked on it. `score_format` gives scores enough digits that a flagged score and the
highest kept one never read the same (12.57 vs 12.57).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from inspector.gui.widgets.heatmap_view import HeatmapView
from inspector.gui.widgets.plots import fixed_plot, histogram_curve

KEPT_COLOR = (46, 160, 67)
FLAGGED_COLOR = (218, 54, 51)


def cut_between(scores: np.ndarray, flagged: np.ndarray) -> Optional[float]:
    """The score between the lowest flagged and the highest kept image (None without both)."""
    scores, flagged = np.asarray(scores, dtype=np.float64), np.asarray(flagged, dtype=bool)
    if not flagged.any() or flagged.all():
        return None
    return float((scores[flagged].min() + scores[~flagged].max()) / 2)


def score_format(scores: np.ndarray, flagged: np.ndarray, minimum: int = 4, maximum: int = 12) -> Callable[[float], str]:
    """A formatter with the fewest significant digits (>= `minimum`) that tells the cut's two sides apart."""
    scores, flagged = np.asarray(scores, dtype=np.float64), np.asarray(flagged, dtype=bool)
    digits = minimum
    if flagged.any() and not flagged.all():
        low_flagged, high_kept = float(scores[flagged].min()), float(scores[~flagged].max())
        while digits < maximum and low_flagged != high_kept and f"{low_flagged:.{digits}g}" == f"{high_kept:.{digits}g}":
            digits += 1
    return lambda value: f"{value:.{digits}g}"


class ScoreDistribution(QWidget):
    """Histogram of refinement scores, kept (green) and flagged (red), the cut, the selected image."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.plot = fixed_plot("refinement score (higher = more unusual)", "images")
        self.kept_curve = histogram_curve(KEPT_COLOR)
        self.flagged_curve = histogram_curve(FLAGGED_COLOR, 140)
        self.cut_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#d73a49", width=2, style=Qt.PenStyle.DashLine),
                                        label="cut", labelOpts={"position": 0.92, "color": "#d73a49",
                                                                "fill": (255, 255, 255, 200)})
        self.selected_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#1f6feb", width=2),
                                             label="this image", labelOpts={"position": 0.7, "color": "#1f6feb",
                                                                            "fill": (255, 255, 255, 200)})
        for item in (self.kept_curve, self.flagged_curve, self.cut_line, self.selected_line):
            self.plot.addItem(item)
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        self.cut: Optional[float] = None
        self.selected: Optional[float] = None
        self.format: Callable[[float], str] = lambda v: f"{v:.4g}"
        self.cut_line.hide()
        self.selected_line.hide()

    def set_ranking(self, scores: np.ndarray, flagged: np.ndarray, fmt: Optional[Callable[[float], str]] = None) -> None:
        scores, flagged = np.asarray(scores, dtype=np.float64), np.asarray(flagged, dtype=bool)
        self.format = fmt or score_format(scores, flagged)
        self.selected_line.hide()
        if not len(scores):
            self.kept_curve.setData([], [])
            self.flagged_curve.setData([], [])
            self.cut_line.hide()
            self.legend.setText("")
            return
        low, high = float(scores.min()), float(scores.max())
        span = max(high - low, abs(high) * 1e-6, 1e-12)
        bins = int(np.clip(2 * math.sqrt(len(scores)), 10, 50))
        edges = np.linspace(low - 0.05 * span, high + 0.18 * span, bins + 1)  # room right of the top score for its label
        peak = 1
        for curve, values in ((self.kept_curve, scores[~flagged]), (self.flagged_curve, scores[flagged])):
            counts = np.histogram(values, bins=edges)[0]
            curve.setData(edges, counts)
            peak = max(peak, int(counts.max()) if len(counts) else 1)
        self.plot.setXRange(edges[0], edges[-1], padding=0)
        self.plot.setYRange(0, peak * 1.3, padding=0)
        self.cut = cut_between(scores, flagged)
        self.cut_line.setVisible(self.cut is not None)
        if self.cut is not None:
            self.cut_line.setValue(self.cut)
            self.cut_line.label.setFormat(f"cut {self.format(self.cut)}")
        kept = "#%02x%02x%02x" % KEPT_COLOR
        bad = "#%02x%02x%02x" % FLAGGED_COLOR
        text = (f"<span style='color:{kept}'>&#9632;</span> kept ({int((~flagged).sum())})&nbsp;&nbsp;"
                f"<span style='color:{bad}'>&#9632;</span> flagged ({int(flagged.sum())})")
        if flagged.any() and not flagged.all():
            text += (f"&nbsp;&nbsp;lowest flagged {self.format(scores[flagged].min())}, "
                     f"highest kept {self.format(scores[~flagged].max())}")
        self.legend.setText(text)

    def mark(self, score: Optional[float]) -> None:
        self.selected = score
        if score is None or not math.isfinite(score):
            self.selected_line.hide()
            return
        self.selected_line.show()  # first: a hidden line's label ignores new text
        self.selected_line.setValue(score)
        self.selected_line.label.setFormat(f"this image {self.format(score)}")


class ReviewReasons(QWidget):
    """The selected image and its nearest kept image, each with its heatmap, above the score distribution."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.image_view = HeatmapView()
        self.kept_view = HeatmapView()
        self.image_caption = QLabel("Select an image to see why it was ranked there.")
        self.kept_caption = QLabel("")
        for view in (self.image_view, self.kept_view):
            view.setMinimumSize(160, 140)
            view.set_opacity(0.6)
        for caption in (self.image_caption, self.kept_caption):
            caption.setWordWrap(True)
            caption.setTextFormat(Qt.TextFormat.RichText)
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.distribution = ScoreDistribution()
        self.distribution.setMinimumHeight(130)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #57606a;")
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.image_caption, 0, 0)
        grid.addWidget(self.kept_caption, 0, 1)
        grid.addWidget(self.image_view, 1, 0)
        grid.addWidget(self.kept_view, 1, 1)
        grid.setRowStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid, 3)
        layout.addWidget(self.status)
        layout.addWidget(self.distribution, 2)

    def set_levels(self, levels: Optional[tuple[float, float]], fail: Optional[float]) -> None:
        if levels is not None:
            for view in (self.image_view, self.kept_view):
                view.set_levels(levels[0], levels[1], threshold=fail)

    def clear(self, text: str = "") -> None:
        for view in (self.image_view, self.kept_view):
            view.set_image(None)
            view.set_map(None)
        self.image_caption.setText(text or "Select an image to see why it was ranked there.")
        self.kept_caption.setText("")
        self.status.setText("")
        self.distribution.mark(None)

    def show_pair(self, image: Optional[np.ndarray], image_map: Optional[np.ndarray], kept: Optional[np.ndarray],
                  kept_map: Optional[np.ndarray], no_map_reason: str = "") -> None:
        self.image_view.set_image(image)
        self.image_view.set_map(image_map, no_map_reason)
        self.kept_view.set_image(kept)
        self.kept_view.set_map(kept_map, no_map_reason if kept is not None else "")
