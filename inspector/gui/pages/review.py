"""Review (SROC): the training images ranked by refinement score; keep or remove each, then refit.

The ranking comes from the class's newest model fitted with SROC. Each selected image is shown
with its reasons (gui.widgets.review_reasons): its heatmap, its nearest kept image with that
one's heatmap, and where its score falls against the cut. Flagged images nobody has decided on
are 'undecided': a fit leaves them out, as SROC did, and the refit says so. Every decision is
saved with the class at once (image id -> keep | remove), and "Refit with these decisions"
fits again on the kept images without re-running SROC.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from inspector.gui.context import AppContext
from inspector.gui.pages.review_jobs import Reasons, reasons_job
from inspector.gui.widgets.review_reasons import ReviewReasons, score_format
from inspector.gui.workers import LatestOnly
from inspector.gui.widgets.splitter import make_splitter

FLAG_BG = QColor("#ffebe9")
REMOVED_FG = QColor("#b31d28")
KEEP_FG = QColor("#1a7f37")
UNDECIDED_FG = QColor("#9a6700")
DECISION_TEXT = {"keep": "keep", "remove": "REMOVE", "undecided": "undecided", "": "-"}


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
        self.reasons = ReviewReasons()
        self.keep_button = QPushButton("Keep  (K)")
        self.keep_button.setToolTip("Use the selected images for fitting")
        self.remove_button = QPushButton("Remove  (R)")
        self.remove_button.setToolTip("Leave the selected images out of fitting")
        self.remove_flagged_button = QPushButton("Remove all flagged")
        self.keep_all_button = QPushButton("Keep all")
        self.refit_button = QPushButton("Refit with these decisions")
        self.refit_button.setToolTip("Fit again on the kept images (SROC is not run again: you decided). "
                                     "Flagged images still undecided are left out, as SROC did.")
        self.refit_button.setStyleSheet("QPushButton { font-weight: bold; }")
        self.counts = QLabel("")
        self.counts.setWordWrap(True)

        buttons = QHBoxLayout()
        for button in (self.keep_button, self.remove_button, self.remove_flagged_button, self.keep_all_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        refit_row = QHBoxLayout()
        refit_row.addWidget(self.counts, 1)
        refit_row.addWidget(self.refit_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.header)
        left_layout.addWidget(self.table, 1)
        left_layout.addLayout(buttons)
        left_layout.addLayout(refit_row)
        splitter = make_splitter(Qt.Orientation.Horizontal, [left, self.reasons], [1, 1], name="reviewSplitter",
                                 collapsible=False)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.keep_button.clicked.connect(lambda: self.decide_selected("keep"))
        self.remove_button.clicked.connect(lambda: self.decide_selected("remove"))
        self.remove_flagged_button.clicked.connect(self.remove_all_flagged)
        self.keep_all_button.clicked.connect(self.keep_all)
        self.refit_button.clicked.connect(self.refit)
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
        self.row_index: list[int] = []  # ranking index shown on each row
        self.row_paths: dict[str, int] = {}
        self.format = lambda value: f"{value:.4g}"
        self.loader = LatestOnly("review-reasons", self)
        self.loader.result.connect(self._on_reasons)
        self.loader.error.connect(lambda info: self.reasons.status.setText(f"Could not show the reasons: {info.message}"))
        self._signatures: dict[str, Any] = {}  # nearest-image thumbnails, per file, for the session
        self.shown: Optional[Reasons] = None
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
        self.row_ids, self.row_index, self.row_paths = [], [], {}
        self.reasons.clear()
        has = self.ranking is not None
        for widget in (self.keep_button, self.remove_button, self.remove_flagged_button, self.keep_all_button):
            widget.setEnabled(has)
        self.refit_button.setEnabled(part is not None and bool(part.review_decisions or has))
        if part is None or not has:
            self.header.setText("Select a part class on the left." if part is None else
                                "No SROC ranking yet. On the Fit page, set <b>SROC refinement</b> above 0 % and fit: "
                                "the training images are then ranked by how anomalous they look, so that defective "
                                "parts hidden among the good ones can be found and removed here.")
            self.counts.setText("")
            self.reasons.distribution.set_ranking([], [])
            return
        by_name = {r.filename: r for r in part.images}
        names = self.ranking.names or [str(i) for i in range(len(self.ranking))]
        ranks = self.ranking.rank_of()
        self.format = score_format(self.ranking.scores, self.ranking.flagged)
        self.reasons.distribution.set_ranking(self.ranking.scores, self.ranking.flagged, self.format)
        self.header.setText(f"{len(self.ranking)} training image(s) of '{part.name}' ranked by model {model_id} "
                            f"({self.ranking.method}, {self.ranking.detector or 'same detector'}); the top "
                            f"{100 * self.ranking.ratio:.1f} % are flagged. Most suspicious first: select one to see "
                            "its heatmap beside the nearest kept image.")
        self.table.setRowCount(len(self.ranking))
        for row, index in enumerate(self.ranking.order):
            index = int(index)
            record = by_name.get(names[index])
            self.row_ids.append(record.id if record is not None else None)
            self.row_index.append(index)
            flagged = bool(self.ranking.flagged[index])
            cells = [str(int(ranks[index]) + 1), names[index] + ("" if record is not None else "  (no longer in the class)"),
                     self.format(self.ranking.scores[index]), "FLAGGED" if flagged else "", ""]
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
            self._set_icon(row, Path(path))

    def decision(self, image_id: Optional[str], row: Optional[int] = None) -> str:
        """keep | remove | undecided (flagged, nobody decided: left out as SROC did) | '' (no record)."""
        part = self.session.part
        if part is None or image_id is None:
            return ""
        stored = part.review_decisions.get(image_id)
        if stored is not None:
            return stored
        flagged = row is not None and self.ranking is not None and bool(self.ranking.flagged[self.row_index[row]])
        return "undecided" if flagged else "keep"

    def decision_counts(self) -> dict[str, int]:
        counts = {"keep": 0, "remove": 0, "undecided": 0}
        for row, image_id in enumerate(self.row_ids):
            decision = self.decision(image_id, row)
            if decision in counts:
                counts[decision] += 1
        return counts

    def _update_decisions(self) -> None:
        part = self.session.part
        if part is None or self.ranking is None:
            return
        for row, image_id in enumerate(self.row_ids):
            decision = self.decision(image_id, row)
            item = self.table.item(row, 4)
            if item is None:
                continue
            item.setText(DECISION_TEXT[decision])
            item.setForeground(QBrush({"remove": REMOVED_FG, "undecided": UNDECIDED_FG}.get(decision, KEEP_FG)))
        counts = self.decision_counts()
        text = f"{counts['keep']} kept, {counts['remove']} removed"
        if counts["undecided"]:
            text += f", <b>{counts['undecided']} undecided</b> (left out, as SROC did, until you decide)"
        self.counts.setText(text)
        self.refit_button.setEnabled(True)

    # -- decisions --------------------------------------------------------------------------------
    def _save(self, changes: dict[str, str]) -> bool:
        part = self.session.part
        if part is None:
            return False
        decisions = dict(part.review_decisions)
        for image_id, decision in changes.items():
            decisions[image_id] = "keep" if decision == "keep" else "remove"
        try:
            self.session.set_review_decisions(decisions)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the review decisions", exc, self)
            return False
        return True

    def selected_rows(self) -> list[int]:
        return sorted({index.row() for index in self.table.selectionModel().selectedRows()})

    def selected_ids(self) -> list[str]:
        return [self.row_ids[r] for r in self.selected_rows() if self.row_ids[r] is not None]

    def decide_selected(self, decision: str) -> None:
        """Keep / remove the selection (K / R). The counts line shows it: no Messages line per key press."""
        ids = self.selected_ids()
        if ids and self._save({i: decision for i in ids}):
            rows = self.selected_rows()
            if len(rows) == 1 and rows[0] + 1 < self.table.rowCount():  # move on, like a review queue
                self.table.selectRow(rows[0] + 1)

    def remove_all_flagged(self) -> None:
        if self.ranking is None:
            return
        ids = [self.row_ids[row] for row, index in enumerate(self.row_index)
               if self.ranking.flagged[index] and self.row_ids[row] is not None]
        if self._save({i: "remove" for i in ids}):
            self.ctx.messages.info(f"All {len(ids)} flagged image(s) removed from fitting.")

    def keep_all(self) -> None:
        self._save({i: "keep" for i in self.row_ids if i is not None})

    def refit(self) -> None:
        """Ask for a refit on the kept images, saying what happens to the undecided ones."""
        counts = self.decision_counts() if self.ranking is not None else None
        if counts is not None:
            text = f"Refit on the {counts['keep']} kept image(s); {counts['remove']} removed by you"
            if counts["undecided"]:
                text += (f"; {counts['undecided']} flagged image(s) still undecided are left out, as SROC did "
                         "(keep them on the Review page to use them)")
            self.ctx.messages.info(text + ".")
        self.refitRequested.emit()

    # -- reasons ----------------------------------------------------------------------------------
    def kept_rows(self) -> list[int]:
        return [row for row, image_id in enumerate(self.row_ids)
                if image_id is not None and self.decision(image_id, row) == "keep"]

    def _show_selected(self) -> None:
        rows = self.selected_rows()
        if len(rows) != 1 or self.row_ids[rows[0]] is None or self.ranking is None:
            return
        row = rows[0]
        index = self.row_index[row]
        score = float(self.ranking.scores[index])
        self.reasons.distribution.mark(score)
        model, threshold = self.session.model, self.session.threshold()
        if threshold is not None:
            from inspector.visualize import nominal_levels  # training images: cool from the median good score

            self.reasons.set_levels(nominal_levels(threshold), threshold.fail)
        flagged = bool(self.ranking.flagged[index])
        side = "above" if flagged else "below"
        self.reasons.status.setText(f"Score {self.format(score)}, {side} the cut"
                                    + ("" if self.reasons.distribution.cut is None else
                                       f" ({self.format(self.reasons.distribution.cut)})")
                                    + ". Loading its heatmap and nearest kept image...")
        kept = [(self.row_index[r], self.session.image_path(self.row_ids[r])) for r in self.kept_rows()]
        self.loader.submit(reasons_job(model, index, self.session.image_path(self.row_ids[row]), kept,
                                       self._signatures))

    def _on_reasons(self, reasons: Reasons) -> None:
        rows = self.selected_rows()
        if self.ranking is None or len(rows) != 1 or self.row_index[rows[0]] != reasons.index:
            return  # the selection moved on; its own job follows
        names = self.ranking.names or [str(i) for i in range(len(self.ranking))]
        scores, flagged = self.ranking.scores, self.ranking.flagged
        model = self.session.model
        reason = ""
        if model is None:
            reason = "No active model: fit one to see where the detector localises."
        elif not model.localizes:
            reason = f"{getattr(model.detector, 'display_name', '') or model.settings.detector} gives no anomaly map."
        self.reasons.show_pair(reasons.image, reasons.anomaly_map, reasons.nearest_image, reasons.nearest_map, reason)
        state = "FLAGGED" if flagged[reasons.index] else "kept"
        self.reasons.image_caption.setText(f"<b>{names[reasons.index]}</b> ({state}, score "
                                           f"{self.format(scores[reasons.index])})")
        if reasons.nearest_index is None:
            self.reasons.kept_caption.setText("No kept image to compare with.")
        else:
            self.reasons.kept_caption.setText(f"nearest kept: <b>{names[reasons.nearest_index]}</b> (score "
                                              f"{self.format(scores[reasons.nearest_index])})")
        self.reasons.status.setText("Left: this image, right: the kept image that looks most like it (grey "
                                    "thumbnails). The heatmaps show where the active model finds each unusual.")
        self.shown = reasons
