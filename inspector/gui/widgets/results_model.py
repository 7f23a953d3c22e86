"""Inspection results: one record per inspected part, and the sortable table model showing them.

Scores are fixed once computed; verdicts are re-derived from the working point whenever it
changes (the model only shows them). Maps are kept small, as float16, so big batches fit in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel

from inspector.io.datasets import kind_name

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # numbers sort as numbers, shown formatted
#: Results keep their maps at most this large, as float16 (about 130 kB a part), so a batch of a
#: thousand parts stays near 130 MB; the overlay is stretched back onto the part when shown.
MAP_SIDE = 256


@dataclass
class InspectionResult:
    """One inspected part: its score (fixed), label if known, map (small), log row and decision."""

    path: Optional[Path]
    score: float
    anomaly_map: Optional[np.ndarray]
    label: Optional[str] = None  # 'good' | 'defect' when known (dataset folders, labelled records)
    log_id: Optional[int] = None
    decision: Optional[str] = None
    image: Optional[np.ndarray] = None  # kept only for camera frames without a saved file
    model_id: Optional[str] = None  # the model that scored it: scores of different models are not comparable
    recorded_verdict: str = ""  # the verdict logged when it was inspected (kept once the model changes)
    defect_type: Optional[str] = None  # e.g. the test/<defect>/ folder or the record's defect type
    mask: Optional[np.ndarray] = None  # ground-truth mask at the map's size (bool), when known
    pixel_auroc: float = float("nan")  # how well the map ranks the mask's pixels above the rest

    @property
    def kind(self) -> str:
        """'good', the defect type, 'defect', or '' (unlabelled)."""
        return kind_name(self.label, self.defect_type)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "camera frame"


def small_map(anomaly_map: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if anomaly_map is None:
        return None
    height, width = anomaly_map.shape
    scale = MAP_SIDE / max(height, width)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        anomaly_map = cv2.resize(anomaly_map.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return np.clip(anomaly_map, -65000.0, 65000.0).astype(np.float16)


class ResultsModel(QStandardItemModel):
    COLUMNS = ("#", "Image", "Label", "Score", "Verdict", "Operator")

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(self.COLUMNS))

    def add(self, index: int, result: InspectionResult, verdict: str) -> None:
        number = QStandardItem(str(index + 1))
        number.setData(index, Qt.ItemDataRole.UserRole)
        number.setData(index, SORT_ROLE)
        score = QStandardItem(f"{result.score:.4g}")
        score.setData(float(result.score), SORT_ROLE)
        score.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row = [number, QStandardItem(result.name), QStandardItem(result.kind), score,
               QStandardItem(verdict), QStandardItem(result.decision or "")]
        for item in row:
            item.setEditable(False)
            if item.data(SORT_ROLE) is None:
                item.setData(item.text(), SORT_ROLE)
        row[1].setToolTip(str(result.path) if result.path else "camera frame")
        self.appendRow(row)
        self._color(self.rowCount() - 1, verdict)

    def _color(self, row: int, verdict: str) -> None:
        color = {"PASS": "#1a7f37", "REVIEW": "#9a6700", "FAIL": "#cf222e"}.get(verdict, "#1f2328")
        self.item(row, 4).setForeground(QColor(color))

    def row_of(self, index: int) -> int:
        for row in range(self.rowCount()):
            if self.item(row, 0).data(Qt.ItemDataRole.UserRole) == index:
                return row
        return -1

    def set_verdict(self, row: int, verdict: str) -> None:
        self.item(row, 4).setText(verdict)
        self.item(row, 4).setData(verdict, SORT_ROLE)
        self._color(row, verdict)

    def set_decision(self, row: int, decision: Optional[str]) -> None:
        self.item(row, 5).setText(decision or "")
        self.item(row, 5).setData(decision or "", SORT_ROLE)
