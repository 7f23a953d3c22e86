"""Run-mode widgets: the big verdict label, shift counters, last-results strip, control chart.

Sized for a line screen: the verdict is readable from 2 m, colours match the verdict everywhere.
"""
from __future__ import annotations

from collections import Counter
from typing import Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QWidget

VERDICT_COLOURS = {"PASS": "#1e8e3e", "REVIEW": "#f9ab00", "FAIL": "#d93025", "ERROR": "#5f6368", "": "#3c4043"}
VERDICTS = ("PASS", "REVIEW", "FAIL", "ERROR")


class VerdictLabel(QLabel):
    """PASS/REVIEW/FAIL/ERROR in very large type on the verdict's colour."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("—", parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(96)
        self.verdict = ""
        self.set_verdict("")

    def set_verdict(self, verdict: str) -> None:
        self.verdict = verdict
        self.setText(verdict or "—")
        self._style()

    def font_px(self) -> int:
        """As large as fits: 96 px on a wide screen, smaller when the page is narrow (never clipped)."""
        by_width = int(self.width() / 4.6)  # "REVIEW", the widest verdict, is about 4.4 em wide in bold
        return max(28, min(96, by_width, int(self.height() * 0.7)))

    def _style(self) -> None:
        colour = VERDICT_COLOURS.get(self.verdict, VERDICT_COLOURS["ERROR"])
        self.setStyleSheet(f"QLabel {{ background: {colour}; color: white; font-size: {self.font_px()}px;"
                           " font-weight: bold; border-radius: 8px; }")

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._style()


class ShiftCounters(QWidget):
    """Parts, PASS, REVIEW, FAIL, ERROR and yield (PASS / parts) for this shift, with a reset."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.counts: Counter = Counter()
        grid = QGridLayout(self)
        self.values: dict[str, QLabel] = {}
        for column, name in enumerate(("parts",) + VERDICTS + ("yield",)):
            title = QLabel(name.upper() if name != "parts" else "PARTS")
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value = QLabel("0")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setStyleSheet(f"QLabel {{ font-size: 28px; font-weight: bold; color: {VERDICT_COLOURS.get(name, '#202124')}; }}")
            grid.addWidget(title, 0, column)
            grid.addWidget(value, 1, column)
            self.values[name] = value
        self.reset_button = QPushButton("Reset shift")
        self.reset_button.clicked.connect(self.reset)
        grid.addWidget(self.reset_button, 0, len(self.values), 2, 1)
        self._refresh()

    def add(self, verdict: str) -> None:
        self.counts[verdict] += 1
        self.counts["parts"] += 1
        self._refresh()

    def reset(self) -> None:
        self.counts.clear()
        self._refresh()

    def yield_percent(self) -> Optional[float]:
        parts = self.counts["parts"]
        return None if parts == 0 else 100.0 * self.counts["PASS"] / parts

    def _refresh(self) -> None:
        for name in ("parts",) + VERDICTS:
            self.values[name].setText(str(self.counts[name]))
        value = self.yield_percent()
        self.values["yield"].setText("—" if value is None else f"{value:.1f} %")


class ResultStrip(QWidget):
    """The last `size` verdicts as coloured tiles, newest on the right."""

    def __init__(self, size: int = 20, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.size = size
        self.verdicts: list[str] = []
        row = QHBoxLayout(self)
        row.setSpacing(3)
        self.tiles = []
        for _ in range(size):
            tile = QLabel("")
            tile.setMinimumSize(8, 22)  # tiles shrink on a narrow screen instead of widening the page
            tile.setMaximumSize(26, 26)
            row.addWidget(tile, 1)
            self.tiles.append(tile)
        row.addStretch(1)
        self._refresh()

    def add(self, verdict: str, part_id: str) -> None:
        self.verdicts = (self.verdicts + [verdict])[-self.size:]
        self.tiles[len(self.verdicts) - 1].setToolTip(f"{part_id}: {verdict}")
        self._refresh()

    def _refresh(self) -> None:
        for index, tile in enumerate(self.tiles):
            verdict = self.verdicts[index] if index < len(self.verdicts) else ""
            colour = VERDICT_COLOURS.get(verdict, "#e8eaed") if verdict else "#e8eaed"
            tile.setStyleSheet(f"QLabel {{ background: {colour}; border-radius: 3px; }}")


class ControlChart(pg.PlotWidget):
    """Scores of the last parts against the FAIL and REVIEW lines."""

    def __init__(self, points: int = 200, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.points = points
        self.setBackground("w")
        self.setLabel("left", "score")
        self.setLabel("bottom", "part")
        self.scores: list[float] = []
        self.curve = self.plot([], [], pen=pg.mkPen("#1a73e8", width=1), symbol="o", symbolSize=5)
        self.fail_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d93025", width=2), label="FAIL")
        self.review_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#f9ab00", width=2, style=Qt.PenStyle.DashLine),
                                           label="REVIEW")
        self.addItem(self.fail_line)
        self.addItem(self.review_line)
        self.set_lines(None, None)
        self.first_index = 0

    def set_lines(self, fail: Optional[float], review: Optional[float]) -> None:
        for line, value in ((self.fail_line, fail), (self.review_line, review)):
            line.setVisible(value is not None)
            if value is not None:
                line.setValue(value)

    def add(self, score: Optional[float]) -> None:
        if score is None:
            return  # an ERROR has no score to chart
        self.scores.append(float(score))
        if len(self.scores) > self.points:
            self.scores.pop(0)
            self.first_index += 1
        self.curve.setData(list(range(self.first_index, self.first_index + len(self.scores))), self.scores)
