"""The Inspect page's results box: the sortable table of inspected parts, the summary and its buttons.

The table shows a ResultsModel through a sort proxy; this widget owns that wiring and the
row <-> result-index mapping, so the page speaks only in result indices. A second tab holds the
per-defect-type breakdown (gui.widgets.defect_breakdown); "Follow newest" keeps the newest part
of a running batch in view.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableView, QTabWidget, QVBoxLayout, QWidget)

from inspector.gui.widgets.defect_breakdown import DefectBreakdown
from inspector.gui.widgets.results_model import SORT_ROLE, ResultsModel

#: Rows the table shows at least (a batch was judged through a 4-row slot before).
MIN_ROWS = 5


class ResultsTable(QGroupBox):
    """Results table (inspection order until the user sorts), summary line, Previous / Next / Export."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Results", parent)
        self.prev_button = QPushButton("< Previous")
        self.prev_button.setToolTip("Previous result (B)")
        self.next_button = QPushButton("Next >")
        self.next_button.setToolTip("Next result (N)")
        self.export_button = QPushButton("Export CSV...")
        self.export_button.setToolTip("Save the results table as CSV (Ctrl+E)")
        self.model = ResultsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # inspection order until the user sorts
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for column in range(len(ResultsModel.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)  # defect types are long: room, not elision
        header.resizeSection(2, 140)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setToolTip("Click a row to view it; click a header to sort")
        self.table.setMinimumHeight(24 * (MIN_ROWS + 1) + 4)
        self.breakdown = DefectBreakdown()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.table, "Parts")
        self.tabs.addTab(self.breakdown, "Per defect type")
        self.follow_check = QCheckBox("Follow newest")
        self.follow_check.setChecked(True)
        self.follow_check.setToolTip("During a batch, show each newest part as it is inspected")
        self.summary = QLabel("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.tabs, 1)
        self.summary.setWordWrap(True)  # a long summary wraps instead of widening the page
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        for widget in (self.follow_check, self.prev_button, self.next_button, self.export_button):
            bar.addWidget(widget)
        layout.addLayout(bar)

    def step(self, delta: int) -> None:
        """Select the next / previous row in the table's current sort order."""
        rows = self.proxy.rowCount()
        current = self.table.currentIndex().row()
        row = 0 if current < 0 else min(max(current + delta, 0), rows - 1)
        self.table.selectRow(row)
        self.table.setCurrentIndex(self.proxy.index(row, 0))

    def select_index(self, index: int) -> None:
        """Make the row of result `index` current (if it has one)."""
        row = self.model.row_of(index)
        if row >= 0:
            proxy_row = self.proxy.mapFromSource(self.model.index(row, 0)).row()
            self.table.setCurrentIndex(self.proxy.index(proxy_row, 0))
            self.table.selectRow(proxy_row)

    def index_at(self, proxy_index: QModelIndex) -> int:
        """The result index shown on a (proxy) row of the table."""
        source = self.proxy.mapToSource(proxy_index)
        return self.model.item(source.row(), 0).data(Qt.ItemDataRole.UserRole)
