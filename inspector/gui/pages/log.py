"""Log: the project's inspection history (newest first), filtered, exported to CSV.

Double-clicking a row (or Enter) opens it: the part's image with its heatmap
(gui.widgets.log_row_view). The export dialog starts in the project's folder.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSpinBox, QTableView, QVBoxLayout, QWidget)

from inspector.gui.context import AppContext

SHOWN = ("time", "class_name", "score", "threshold", "verdict", "operator_decision", "final_verdict", "operator",
         "model_id", "image_path")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # the log row (dict), on each row's first cell
HEADERS = ("Time", "Class", "Score", "FAIL at", "Machine", "Operator decision", "Final", "Operator", "Model", "Image")


def local_time(text: Optional[str]) -> str:
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


class LogPage(QWidget):
    title = "6  Log"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.scope = QComboBox()
        self.scope.addItem("This class", "class")
        self.scope.addItem("All classes", "all")
        self.verdict = QComboBox()
        for label, value in (("Any verdict", None), ("PASS", "PASS"), ("REVIEW", "REVIEW"), ("FAIL", "FAIL"),
                             ("ERROR", "ERROR")):
            self.verdict.addItem(label, value)
        self.verdict.setToolTip("Filter on the final verdict (the operator's decision when there is one)")
        self.limit = QSpinBox()
        self.limit.setRange(10, 100_000)
        self.limit.setValue(500)
        self.limit.setSingleStep(100)
        self.limit.setToolTip("Show at most this many of the newest rows")
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export CSV...")
        self.export_button.setToolTip("Export the rows matching the filters (all of them, not only those shown)")
        self.counts = QLabel("")
        top = QHBoxLayout()
        for widget in (QLabel("Show:"), self.scope, self.verdict, QLabel("Newest:"), self.limit, self.refresh_button):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.export_button)
        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.model.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(HEADERS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Double-click a row to see its image and heatmap")
        self.table.doubleClicked.connect(lambda index: self.open_row(index.row()))
        self.table.activated.connect(lambda index: self.open_row(index.row()))
        self.viewers: list = []  # open row viewers (kept alive while shown)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.counts)  # its own line: a long summary never pushes Export off a 1024 px window
        layout.addWidget(self.table, 1)
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self.export_dialog)
        for combo in (self.scope, self.verdict):
            combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.limit.editingFinished.connect(self.refresh)
        for signal in (self.session.project_changed, self.session.class_changed):
            signal.connect(self.refresh)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()  # inspections happen on other pages: always fresh when shown

    def _filters(self) -> dict:
        filters: dict = {}
        if self.scope.currentData() == "class" and self.session.class_name:
            filters["class_name"] = self.session.class_name
        if self.verdict.currentData():
            filters["final_verdict"] = self.verdict.currentData()
        return filters

    def refresh(self) -> None:
        self.model.removeRows(0, self.model.rowCount())
        log = self.session.log if self.session.project is not None else None
        if log is None:
            self.counts.setText("No project open.")
            self.export_button.setEnabled(False)
            return
        try:
            rows = log.query(limit=int(self.limit.value()), **self._filters())
            counts = log.counts(**self._filters())
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not read the inspection log", exc, self)
            return
        self.table.setSortingEnabled(False)
        for row in rows:
            items = []
            for key in SHOWN:
                value = row.get(key)
                item = QStandardItem()
                if key in ("score", "threshold") and value is not None:
                    item.setText(f"{float(value):.4g}")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    item.setData(float(value), SORT_ROLE)
                elif key in ("time",):
                    item.setText(local_time(value))
                elif key == "image_path" and value:
                    item.setText(Path(value).name)
                    item.setToolTip(value)
                else:
                    item.setText("" if value is None else str(value))
                if item.data(SORT_ROLE) is None:
                    item.setData(value if key == "time" else item.text(), SORT_ROLE)
                items.append(item)
            items[0].setData(dict(row), ROW_ROLE)
            final = items[SHOWN.index("final_verdict")]
            final.setForeground(QColor({"PASS": "#1a7f37", "REVIEW": "#9a6700", "FAIL": "#cf222e", "ERROR": "#5f6368"}.get(final.text(), "#1f2328")))
            self.model.appendRow(items)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # newest first, as queried
        self.table.resizeColumnsToContents()
        total = sum(counts.values())
        self.counts.setText(f"{total} inspection(s): {counts.get('PASS', 0)} PASS, {counts.get('REVIEW', 0)} REVIEW, "
                            f"{counts.get('FAIL', 0)} FAIL" + (f" (newest {len(rows)} shown)" if len(rows) < total else ""))
        self.export_button.setEnabled(total > 0)

    def export_dialog(self) -> None:
        project = self.session.project
        start = str(project.root / "inspection-log.csv") if project is not None else "inspection-log.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export the inspection log", start, "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> int:
        log = self.session.log
        if log is None:
            return 0
        try:
            count = log.export_csv(path, **self._filters())
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not export the log", exc, self)
            return 0
        self.ctx.messages.info(f"{count} log row(s) exported to {path}.")
        return count

    def open_row(self, row: int):
        """Show the image and heatmap of the table's row `row` in a viewer; returns the viewer."""
        from inspector.gui.widgets.log_row_view import LogRowView

        item = self.model.item(row, 0)
        data = None if item is None else item.data(ROW_ROLE)
        if not data:
            return None
        threshold = self.session.threshold() if self.session.model is not None else None
        viewer = LogRowView(data, self.session.model, threshold, self)
        viewer.finished.connect(lambda _r, v=viewer: self.viewers.remove(v) if v in self.viewers else None)
        self.viewers.append(viewer)
        viewer.show()
        return viewer
