"""The Inspect page's per-defect-type table: recall per type and how the heatmap covers the defect.

One "wrong" count hides which defects a working point misses; a line per defect type shows it
(scratches caught, small cracks missed). Where ground-truth masks are known, two more figures
say whether the heatmap points at the defect: the fraction of the mask's pixels whose map value
reaches FAIL (what the operator sees coloured) and the map's pixel AUROC against the mask
(threshold-free). Figures are recomputed from the results whenever the working point moves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from inspector.gui.widgets.results_model import InspectionResult


@dataclass
class DefectRow:
    """Counts and figures of one defect type at the working point."""

    kind: str
    parts: int
    failed: int
    review: int
    passed: int
    coverage: float  # mean fraction of mask pixels with map >= FAIL (nan without masks)
    pixel_auroc: float  # mean per-part pixel AUROC (nan without masks)
    masks: int

    @property
    def recall(self) -> float:
        return self.failed / self.parts if self.parts else float("nan")


def mask_coverage(result: InspectionResult, fail: float) -> float:
    """Fraction of the defect's mask pixels where the map reaches FAIL (nan without mask or map)."""
    if result.mask is None or result.anomaly_map is None or not result.mask.any():
        return float("nan")
    return float(np.mean(np.asarray(result.anomaly_map, dtype=np.float32)[result.mask] >= fail))


def breakdown(results: Sequence[InspectionResult], verdict_of: Callable[[InspectionResult], str],
              fail: float) -> list[DefectRow]:
    """One row per defect type among the defective results (sorted by name), then 'all defects'."""
    groups: dict[str, list[InspectionResult]] = {}
    for result in results:
        if result.label == "defect":
            groups.setdefault(result.defect_type or "defect (no type)", []).append(result)
    rows = [_row(kind, groups[kind], verdict_of, fail) for kind in sorted(groups)]
    if len(rows) > 1:
        rows.append(_row("all defects", [r for kind in sorted(groups) for r in groups[kind]], verdict_of, fail))
    return rows


def _row(kind: str, members: list[InspectionResult], verdict_of: Callable[[InspectionResult], str],
         fail: float) -> DefectRow:
    verdicts = [verdict_of(r) for r in members]
    coverages = [c for c in (mask_coverage(r, fail) for r in members) if math.isfinite(c)]
    aurocs = [r.pixel_auroc for r in members if math.isfinite(r.pixel_auroc)]
    return DefectRow(kind, len(members), verdicts.count("FAIL"), verdicts.count("REVIEW"), verdicts.count("PASS"),
                     float(np.mean(coverages)) if coverages else float("nan"),
                     float(np.mean(aurocs)) if aurocs else float("nan"), len(coverages))


def _percent(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{100 * value:.0f} %"


class DefectBreakdown(QTableWidget):
    """Defect type | parts | FAIL | REVIEW | PASS (missed) | recall | map covers defect | pixel AUROC."""

    COLUMNS = ("Defect type", "Parts", "FAIL", "REVIEW", "PASS (missed)", "Recall", "Heatmap covers defect",
               "Pixel AUROC")

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(24)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setToolTip("Recall = share of the type's parts that FAIL at this working point. 'Heatmap covers "
                        "defect' = share of the ground-truth mask where the heatmap reaches FAIL; pixel AUROC "
                        "= how well the heatmap ranks defect pixels above the rest (1 = perfectly).")
        self.rows: list[DefectRow] = []

    def show_rows(self, rows: list[DefectRow]) -> None:
        self.rows = rows
        self.setRowCount(len(rows))
        for index, row in enumerate(rows):
            cells = (row.kind, str(row.parts), str(row.failed), str(row.review), str(row.passed), _percent(row.recall),
                     _percent(row.coverage) + (f" ({row.masks} masks)" if row.masks else ""),
                     "-" if not math.isfinite(row.pixel_auroc) else f"{row.pixel_auroc:.3f}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row.kind == "all defects":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.setItem(index, column, item)
