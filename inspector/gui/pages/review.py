"""Review (SROC): the training images ranked by refinement score; keep or remove each, then refit.

The ranking comes from the class's newest model fitted with SROC. Flagged images are marked;
every decision is saved with the class at once (image id -> keep | remove), and "Refit with
these decisions" fits again on the kept images without re-running SROC.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from inspector.gui.context import AppContext
from inspector.gui.widgets.imaging import to_pixmap

FLAG_BG = QColor("#ffebe9")
REMOVED_FG = QColor("#b31d28")
KEEP_FG = QColor("#1a7f37")


class ReviewPage(QWidget):
    title = "4  Review"
    refitRequested = Signal()

    COLUMNS = ("Rank", "Image", "SROC score", "Flagged", "Decision")

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Most suspicious first. K = keep, R = remove the selected images.")
        self.table.setIconSize(QSize(44, 44))
        self.table.verticalHeader().setDefaultSectionSize(50)
        self.preview = QLabel("Select an image to see it.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(200, 200)
        self.preview.setStyleSheet("QLabel { background: #202124; color: #c9d1d9; border-radius: 4px; }")
        self.keep_button = QPushButton("Keep  (K)")
        self.keep_button.setToolTip("Use the selected images for fitting")
        self.remove_button = QPushButton("Remove  (R)")
        self.remove_button.setToolTip("Leave the selected images out of fitting")
        self.remove_flagged_button = QPushButton("Remove all flagged")
        self.keep_all_button = QPushButton("Keep all")
        self.refit_button = QPushButton("Refit with these decisions")
        self.refit_button.setToolTip("Fit again on the kept images (SROC is not run again: you decided)")
        self.refit_button.setStyleSheet("QPushButton { font-weight: bold; }")
        self.counts = QLabel("")

        buttons = QHBoxLayout()
        for button in (self.keep_button, self.remove_button, self.remove_flagged_button, self.keep_all_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        refit_row = QHBoxLayout()
        refit_row.addWidget(self.counts)
        refit_row.addStretch(1)
        refit_row.addWidget(self.refit_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.header)
        left_layout.addWidget(self.table, 1)
        left_layout.addLayout(buttons)
        left_layout.addLayout(refit_row)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("reviewSplitter")
        splitter.addWidget(left)
        splitter.addWidget(self.preview)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.keep_button.clicked.connect(lambda: self.decide_selected("keep"))
        self.remove_button.clicked.connect(lambda: self.decide_selected("remove"))
        self.remove_flagged_button.clicked.connect(self.remove_all_flagged)
        self.keep_all_button.clicked.connect(self.keep_all)
        self.refit_button.clicked.connect(self.refitRequested)
        self.table.itemSelectionChanged.connect(self._show_selected)
        for key, slot in ((Qt.Key.Key_K, lambda: self.decide_selected("keep")),
                          (Qt.Key.Key_R, lambda: self.decide_selected("remove"))):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(slot)
        for signal in (self.session.class_changed, self.session.model_changed, self.session.project_changed):
            signal.connect(self.refresh)
        self.session.review_changed.connect(self._update_decisions)
        self.ranking: Any = None
        self.row_ids: list[Optional[str]] = []
        self.row_paths: dict[str, int] = {}
        ctx.thumbnails.ready.connect(self._on_thumbnail)
        self.refresh()

    # -- data -------------------------------------------------------------------------------------
    def _latest_ranking(self) -> tuple[Any, Optional[str]]:
        """(RefinementRanking, model id) of the newest model of the class fitted with SROC.

        The ranking's `names` are the training file names; when the engine left them out, the
        model's `training_names` (same order) stand in.
        """
        from inspector.refine.sroc import RefinementRanking

        project, part = self.session.project, self.session.part
        if project is None or part is None:
            return None, None
        for info in reversed(project.list_models(part.name)):
            model_info = (info.meta or {}).get("info") or {}
            refinement = model_info.get("refinement")
            if refinement:
                try:
                    ranking = RefinementRanking.from_json(refinement)
                    names = model_info.get("training_names") or []
                    if ranking.names is None and len(names) == len(ranking):
                        ranking.names = [str(n) for n in names]
                    return ranking, info.id
                except Exception as exc:  # noqa: BLE001
                    self.ctx.messages.warning(f"Model {info.id}: its SROC ranking is unreadable ({exc}).")
        return None, None

    def refresh(self) -> None:
        part = self.session.part
        self.ranking, model_id = self._latest_ranking()
        self.table.setRowCount(0)
        self.row_ids = []
        self.row_paths = {}
        has = self.ranking is not None
        for widget in (self.keep_button, self.remove_button, self.remove_flagged_button, self.keep_all_button):
            widget.setEnabled(has)
        self.refit_button.setEnabled(part is not None and bool(part.review_decisions or has))
        if part is None:
            self.header.setText("Select a part class on the left.")
            self.counts.setText("")
            return
        if not has:
            self.header.setText("No SROC ranking yet. On the Fit page, set <b>SROC refinement</b> above 0 % and fit: "
                                "the training images are then ranked by how anomalous they look, so that defective "
                                "parts hidden among the good ones can be found and removed here.")
            self.counts.setText("")
            return
        by_name = {r.filename: r for r in part.images}
        names = self.ranking.names or [str(i) for i in range(len(self.ranking))]
        ranks = self.ranking.rank_of()
        self.header.setText(f"{len(self.ranking)} training image(s) of '{part.name}' ranked by model {model_id} "
                            f"({self.ranking.method}, {self.ranking.detector or 'same detector'}); the top "
                            f"{100 * self.ranking.ratio:.1f} % are flagged. Most suspicious first.")
        self.table.setRowCount(len(self.ranking))
        for row, index in enumerate(self.ranking.order):
            index = int(index)
            record = by_name.get(names[index])
            self.row_ids.append(record.id if record is not None else None)
            flagged = bool(self.ranking.flagged[index])
            cells = [str(int(ranks[index]) + 1), names[index] + ("" if record is not None else "  (no longer in the class)"),
                     f"{self.ranking.scores[index]:.4g}", "FLAGGED" if flagged else "", ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (0, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if flagged:
                    item.setBackground(QBrush(FLAG_BG))
                self.table.setItem(row, column, item)
            if record is not None:
                path = self.session.image_path(record)
                self.row_paths[str(path)] = row
                self._set_icon(row, path)
        self.ctx.thumbnails.request([self.session.image_path(r) for r in by_name.values()
                                     if str(self.session.image_path(r)) in self.row_paths])
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(2)
        self._update_decisions()

    def _set_icon(self, row: int, path) -> None:
        image = self.ctx.thumbnails.get(path)
        item = self.table.item(row, 1)
        if image is not None and not image.isNull() and item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def _on_thumbnail(self, path: str) -> None:
        row = self.row_paths.get(path)
        if row is not None:
            from pathlib import Path

            self._set_icon(row, Path(path))

    def decision(self, image_id: Optional[str]) -> str:
        part = self.session.part
        if part is None or image_id is None:
            return ""
        return part.review_decisions.get(image_id, "keep")

    def _update_decisions(self) -> None:
        part = self.session.part
        if part is None or self.ranking is None:
            return
        removed = 0
        for row, image_id in enumerate(self.row_ids):
            decision = self.decision(image_id)
            removed += decision == "remove"
            item = self.table.item(row, 4)
            if item is None:
                continue
            item.setText({"keep": "keep", "remove": "REMOVE", "": "-"}[decision])
            item.setForeground(QBrush(REMOVED_FG if decision == "remove" else KEEP_FG))
        self.counts.setText(f"{len(self.row_ids) - removed} kept, {removed} removed")
        self.refit_button.setEnabled(True)

    # -- decisions --------------------------------------------------------------------------------
    def _save(self, changes: dict[str, str]) -> None:
        part = self.session.part
        if part is None:
            return
        decisions = dict(part.review_decisions)
        for image_id, decision in changes.items():
            if decision == "keep":
                decisions[image_id] = "keep"
            else:
                decisions[image_id] = "remove"
        try:
            self.session.set_review_decisions(decisions)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the review decisions", exc, self)

    def selected_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.row_ids[r] for r in rows if self.row_ids[r] is not None]

    def decide_selected(self, decision: str) -> None:
        ids = self.selected_ids()
        if ids:
            self._save({i: decision for i in ids})
            self.ctx.messages.info(f"{len(ids)} image(s) set to {decision}.")
            rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
            if len(rows) == 1 and rows[0] + 1 < self.table.rowCount():  # move on, like a review queue
                self.table.selectRow(rows[0] + 1)

    def remove_all_flagged(self) -> None:
        if self.ranking is None:
            return
        ids = [self.row_ids[row] for row, index in enumerate(self.ranking.order)
               if self.ranking.flagged[int(index)] and self.row_ids[row] is not None]
        self._save({i: "remove" for i in ids})
        self.ctx.messages.info(f"All {len(ids)} flagged image(s) removed from fitting.")

    def keep_all(self) -> None:
        self._save({i: "keep" for i in self.row_ids if i is not None})

    def _show_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        path = self.session.image_path(ids[0])
        try:
            from inspector.io.images import load_image

            image = load_image(path, max_side=512)  # small and local: fast enough on the GUI thread
        except Exception as exc:  # noqa: BLE001
            self.preview.setText(str(exc))
            return
        pixmap = to_pixmap(np.ascontiguousarray(image))
        self.preview.setPixmap(pixmap.scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))
