"""Inspect (operator): score parts, show the heatmap and a big verdict, tune the working point.

Scores are computed once, on a worker; moving a threshold re-judges every result shown without
re-scoring. The heatmap's colours are tied to the working point (`inspector.visualize`): none
below REVIEW / FAIL, so a PASS part is not painted, hot from FAIL. Every inspection goes to the
project's InspectionLog, and the operator's PASS / FAIL decision is stored beside it.

The page holds the logic; its boxes live in inspector.gui.widgets (verdict_panel,
working_point_panel, results_table) and the worker-side jobs in inspect_jobs. The boxes'
children are kept as page attributes (`page.fail_spin`, `page.table`...) for callers and tests.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from inspector.gui.context import AppContext
from inspector.gui.pages.inspect_jobs import (  # noqa: F401
    BATCH,
    Truth,
    inspect_array_job,
    inspect_paths_job,
    results_csv,
)
from inspector.gui.pages.inspect_decisions import DecisionsMixin
from inspector.gui.pages.inspect_working_point import WorkingPointMixin
from inspector.gui.widgets.defect_breakdown import breakdown
from inspector.gui.widgets.part_view_panel import PartViewPanel
from inspector.gui.widgets.results_model import InspectionResult
from inspector.gui.widgets.results_table import ResultsTable
from inspector.gui.widgets.verdict_panel import VERDICT_STYLES, VerdictPanel  # noqa: F401
from inspector.gui.widgets.working_point_panel import WorkingPointPanel
from inspector.gui.workers import LatestOnly, Task
from inspector.gui.widgets.splitter import make_splitter
from inspector.io.datasets import label_from_path


class _Relay(QObject):
    """Carries each batch's results from the worker to the GUI as they come."""

    results = Signal(str, object)  # class name, list[InspectionResult]


class InspectPage(DecisionsMixin, WorkingPointMixin, QWidget):
    title = "5  Inspect"
    inspected = Signal(int)  # number of new results

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.results: list[InspectionResult] = []
        self.current: Optional[int] = None
        self.threshold: Any = None  # working Threshold (may differ from the saved one until saved)
        self.task: Optional[Task] = None
        self.relay = _Relay(self)
        self.relay.results.connect(self._on_batch_results)
        self.display_loader = LatestOnly("inspect-display", self)
        self.display_loader.result.connect(self._on_display_loaded)

        # -- toolbar
        self.open_button = QPushButton("Open image...")
        self.open_button.setToolTip("Inspect one or more image files (Ctrl+I)")
        self.capture_button = QPushButton("Capture && inspect")
        self.capture_button.setToolTip("Grab the live camera frame and inspect it (Space). Start the camera on the Acquire page.")
        self.folder_button = QPushButton("Inspect folder...")
        self.folder_button.setToolTip("Inspect every image of a folder and its sub-folders (Ctrl+B); "
                                      "good/ and test/<defect>/ folders give labels")
        self.test_set_button = QPushButton("Inspect class test images")
        self.test_set_button.setToolTip("Inspect the images marked as test in this class")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the batch (Esc)")
        self.progress_label = QLabel("")
        self.progress_label.setStyleSheet("color: #57606a;")
        toolbar = QHBoxLayout()
        for widget in (self.open_button, self.capture_button, self.folder_button, self.test_set_button):
            toolbar.addWidget(widget)
        toolbar.addWidget(self.cancel_button)
        toolbar.addWidget(self.progress_label, 1)

        # -- image + heatmap
        self.part_view = PartViewPanel()
        self.view = self.part_view.view
        self.overlay_check = self.part_view.overlay_check
        self.opacity = self.part_view.opacity
        self.image_name = self.part_view.image_name
        self.model_label = self.part_view.model_label
        # Status texts may be cut rather than widen the page past a 1024 px window.
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        # -- verdict, working point and results boxes; their children stay reachable as page attributes
        self.verdict_panel = VerdictPanel()
        self.verdict = self.verdict_panel.verdict
        self.score_label = self.verdict_panel.score_label
        self.confirm_button = self.verdict_panel.confirm_button
        self.pass_button = self.verdict_panel.pass_button
        self.fail_button = self.verdict_panel.fail_button
        self.decision_label = self.verdict_panel.decision_label
        self.working_point = WorkingPointPanel()
        self.histogram = self.working_point.histogram
        self.fail_spin = self.working_point.fail_spin
        self.review_check = self.working_point.review_check
        self.review_spin = self.working_point.review_spin
        self.reset_button = self.working_point.reset_button
        self.save_threshold_button = self.working_point.save_threshold_button
        self.threshold_note = self.working_point.threshold_note
        self.results_table = ResultsTable()
        self.model = self.results_table.model
        self.proxy = self.results_table.proxy
        self.table = self.results_table.table
        self.summary = self.results_table.summary
        self.prev_button = self.results_table.prev_button
        self.next_button = self.results_table.next_button
        self.export_button = self.results_table.export_button
        self.follow_check = self.results_table.follow_check
        self.breakdown = self.results_table.breakdown

        right = make_splitter(Qt.Orientation.Vertical, [self.verdict_panel, self.working_point], [0, 1])
        top = make_splitter(Qt.Orientation.Horizontal, [self.part_view, right], [3, 2], [640, 420])
        # About 7 table rows at 1440 x 900; the table never has fewer than 5.
        self.splitter = make_splitter(Qt.Orientation.Vertical, [top, self.results_table], [3, 1], [560, 240],
                                      name="inspectSplitter")
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.splitter, 1)

        # -- wiring
        self.open_button.clicked.connect(self.open_dialog)
        self.capture_button.clicked.connect(self.capture_and_inspect)
        self.folder_button.clicked.connect(self.folder_dialog)
        self.test_set_button.clicked.connect(self.inspect_test_images)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.export_button.clicked.connect(self.export_dialog)
        self.cancel_button.clicked.connect(self.cancel)
        self.confirm_button.clicked.connect(lambda: self.decide(None))
        self.pass_button.clicked.connect(lambda: self.decide("PASS"))
        self.fail_button.clicked.connect(lambda: self.decide("FAIL"))
        self.working_point.edited.connect(self.set_thresholds)
        self.reset_button.clicked.connect(self.reset_threshold)
        self.save_threshold_button.clicked.connect(self.save_threshold)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_row)
        for keys, slot in ((Qt.Key.Key_Space, self.capture_and_inspect), (Qt.Key.Key_N, lambda: self.step(1)),
                           (Qt.Key.Key_B, lambda: self.step(-1)), (Qt.Key.Key_P, lambda: self.decide("PASS")),
                           (Qt.Key.Key_F, lambda: self.decide("FAIL")), (Qt.Key.Key_Return, lambda: self.decide(None)),
                           (Qt.Key.Key_Enter, lambda: self.decide(None)),
                           (Qt.Key.Key_H, self.overlay_check.toggle), ("Ctrl+I", self.open_dialog),
                           ("Ctrl+B", self.folder_dialog), ("Ctrl+E", self.export_dialog), (Qt.Key.Key_Escape, self.cancel)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(lambda slot=slot: self._unless_typing(slot))
        self.session.model_changed.connect(self._on_model_changed)
        self.session.thresholds_changed.connect(self._on_saved_thresholds_changed)
        self.session.class_changed.connect(self._on_class_changed)
        self.session.project_changed.connect(self.clear_results)
        ctx.camera.running_changed.connect(lambda _r: self._update_actions())
        self._on_model_changed()
        self._show_result(None)

    # -- model and threshold ----------------------------------------------------------------------
    def _on_model_changed(self) -> None:
        model = self.session.model
        part = self.session.part
        if part is None:
            self.model_label.setText("Select a part class on the left.")
        elif self.session.model_loading:
            self.model_label.setText("Loading the model...")
        elif model is None:
            self.model_label.setText(f"No model for '{part.name}' yet: fit one on the Fit page."
                                     if not self.session.model_error else f"Model not usable: {self.session.model_error}")
        else:
            name = getattr(model.detector, "display_name", "") or model.settings.detector
            self.model_label.setText(f"{name}, {model.settings.backbone} "
                                     + (f"{'x'.join(map(str, model.feature_config.input_shape))} px" if model.feature_config.tiles is None else
                                        "{} x {} tiles at {} x {} px".format(*model.feature_config.tiles.grid,
                                                                            *model.feature_config.tiles.input))
                                     + ("" if model.localizes else " (score only, no heatmap)"))
            self.model_label.setToolTip(f"Active model {model.model_id}")
        self._on_saved_thresholds_changed()
        self._update_actions()

    # -- running inspections ---------------------------------------------------------------------
    def _update_actions(self) -> None:
        ready = self.session.model is not None and self.task is None
        for widget in (self.open_button, self.folder_button, self.test_set_button):
            widget.setEnabled(ready)
        self.capture_button.setEnabled(ready and self.ctx.camera.running)
        self.cancel_button.setEnabled(self.task is not None)
        self.export_button.setEnabled(bool(self.results))
        self.prev_button.setEnabled(bool(self.results))
        self.next_button.setEnabled(bool(self.results))
        has_current = self.current is not None
        verdict = self.judge(self.results[self.current]) if has_current else ""
        self.confirm_button.setEnabled(has_current and verdict in ("PASS", "FAIL"))
        self.pass_button.setEnabled(has_current)
        self.fail_button.setEnabled(has_current)

    def open_dialog(self) -> None:
        if self.session.model is None:
            return
        from inspector.io.images import IMAGE_SUFFIXES

        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Inspect images", "", f"Images ({patterns});;All files (*)")
        if files:
            self.inspect_paths([Path(f) for f in files])

    def folder_dialog(self) -> None:
        if self.session.model is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Inspect every image of a folder")
        if folder:
            self.inspect_folder(Path(folder))

    def inspect_folder(self, folder: Path) -> Optional[Task]:
        from inspector.io.datasets import collect_image_files

        files = collect_image_files([folder])
        if not files:
            self.ctx.report_error("Inspect folder", f"{folder} holds no image files.", self)
            return None
        return self.inspect_paths(files, [label_from_path(p) for p in files], [_folder_truth(p) for p in files])

    def inspect_test_images(self) -> Optional[Task]:
        records = self.session.records("test")
        if not records:
            self.ctx.report_error("Inspect test images", "This class has no test images: mark some as Test on the "
                                  "Acquire page, or import a dataset.", self)
            return None
        from inspector.store.image_import import mask_path

        project, part = self.session.project, self.session.part
        truths = [(r.defect_type, mask_path(project, part, r)) for r in records]
        return self.inspect_paths([self.session.image_path(r) for r in records], [r.label for r in records], truths)

    def inspect_paths(self, paths: Sequence[Path], labels: Optional[Sequence[Optional[str]]] = None,
                      truths: Optional[Sequence[Truth]] = None) -> Optional[Task]:
        """Score files on a worker, in batches; rows appear as batches finish; all are logged.

        `truths` (defect type, mask file) per path feed the per-defect-type breakdown."""
        model, part, project = self.session.model, self.session.part, self.session.project
        if model is None or part is None or project is None or self.task is not None:
            return None
        paths = list(paths)
        labels = list(labels) if labels is not None else [label_from_path(p) for p in paths]
        work = inspect_paths_job(model, project, part.name, self.threshold, paths, labels, self.relay.results.emit,
                                 truths)
        return self._start(work, f"Inspect {len(paths)} image(s)")

    def capture_and_inspect(self) -> Optional[Task]:
        if not self.ctx.camera.running:
            self.progress_label.setText("Start the camera on the Acquire page to capture parts.")
            return None
        frame = self.ctx.camera.latest_frame()
        if frame is None:
            self.progress_label.setText("No camera image yet.")
            return None
        return self.inspect_array(frame, save=True)

    def inspect_array(self, image: np.ndarray, save: bool = True, label: Optional[str] = None) -> Optional[Task]:
        """Inspect an in-memory image (camera frame); it is saved under inspected/ for the log."""
        model, part, project = self.session.model, self.session.part, self.session.project
        if model is None or part is None or project is None or self.task is not None:
            return None
        work = inspect_array_job(model, project, part.name, self.threshold, image, save, label, self.relay.results.emit)
        return self._start(work, "Inspect captured part")

    def _start(self, work, label: str) -> Task:
        self._batch_first = len(self.results)
        self.task = self.ctx.run(work, label, on_progress=lambda p: self.progress_label.setText(p.message),
                                 on_finished=self._on_task_finished, on_result=self._on_task_result, parent=self)
        self._update_actions()
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.progress_label.setText("Cancelling...")

    def _on_batch_results(self, class_name: str, batch: list[InspectionResult]) -> None:
        if class_name != self.session.class_name:
            return  # the user switched class meanwhile: these parts are logged, not shown here
        first_new = len(self.results)
        for result in batch:
            index = len(self.results)
            self.results.append(result)
            self.model.add(index, result, self.judge(result))
        if any(r.label for r in batch):
            self._sync_threshold_widgets()  # labelled scores join the histogram
        self._update_summary()
        if self.follow_check.isChecked() and batch:  # follow the newest part of a running batch
            self.show_index(len(self.results) - 1)
        elif first_new == self._batch_first:  # else show the first part of a run at once
            self.show_index(first_new)
        self.inspected.emit(len(batch))

    def _on_task_result(self, count: int) -> None:
        self.progress_label.setText(f"{count} part(s) inspected.")

    def _on_task_finished(self) -> None:
        self.task = None
        self._update_actions()
        self._update_summary()

    # -- showing ----------------------------------------------------------------------------------
    def _on_class_changed(self) -> None:
        self.cancel()  # a batch of another class's parts must not continue under this one
        self.clear_results()

    def clear_results(self) -> None:
        self.results = []
        self.progress_label.setText("")
        self.histogram.set_score(None)
        self.model.removeRows(0, self.model.rowCount())
        self.current = None
        self._show_result(None)
        self._update_summary()
        self._update_actions()

    def _update_summary(self) -> None:
        if not self.results:
            self.summary.setText("No parts inspected yet.")
            self.breakdown.show_rows([])
            return
        counts = {"PASS": 0, "REVIEW": 0, "FAIL": 0}
        for result in self.results:
            verdict = result.decision or self.judge(result)
            counts[verdict] = counts.get(verdict, 0) + 1
        text = f"{len(self.results)} part(s): {counts['PASS']} PASS, {counts['REVIEW']} REVIEW, {counts['FAIL']} FAIL"
        if counts.get("ERROR"):
            text += f", {counts['ERROR']} ERROR"
        labelled = [r for r in self.results if r.label in ("good", "defect") and self.is_current(r)]
        if labelled:
            wrong = sum((self.verdict_of(r.score) == "FAIL") != (r.label == "defect") for r in labelled)
            text += f"  |  against the {len(labelled)} known labels: {wrong} wrong at this working point"
        rows = breakdown([r for r in self.results if self.is_current(r)], self.judge, self.threshold.fail) \
            if self.threshold is not None else []
        self.breakdown.show_rows(rows)
        if rows:
            text += "  |  recall " + ", ".join(f"{r.kind} {100 * r.recall:.0f} %" for r in rows if r.kind != "all defects")
        self.summary.setText(text)
        self.export_button.setEnabled(True)

    def step(self, delta: int) -> None:
        """Next / previous row in the table's current sort order."""
        if not self.results:
            return
        self.results_table.step(delta)

    def show_index(self, index: int) -> None:
        self.results_table.select_index(index)
        self._show_result(index)

    def _on_table_row(self, current, _previous) -> None:
        if not current.isValid():
            return
        index = self.results_table.index_at(current)
        if index != self.current:
            self._show_result(index)

    def _show_result(self, index: Optional[int]) -> None:
        self.current = index
        if index is None:
            self.view.set_image(None)
            self.image_name.setText("")
            self._show_verdict()
            self._update_actions()
            return
        result = self.results[index]
        self.image_name.setText(result.name)
        self.image_name.setToolTip(str(result.path) if result.path else "camera frame (not saved)")
        self.histogram.set_score(result.score if self.is_current(result) else None)
        if result.image is not None:
            self._on_display_loaded((index, result.image))
        elif result.path is not None:
            path = result.path

            def load(_reporter, index=index):
                from inspector.io.images import load_image

                return index, load_image(path, max_side=1024)

            self.display_loader.submit(load)
        self._show_verdict()
        self._update_actions()

    def _on_display_loaded(self, payload) -> None:
        index, image = payload
        if index != self.current:
            return
        result = self.results[index]
        self.view.set_image(image)
        model = self.session.model
        reason = ""
        if result.anomaly_map is None and model is not None and not model.localizes:
            name = getattr(model.detector, "display_name", "") or model.settings.detector
            reason = f"{name} scores whole parts: it gives no anomaly map, so no heatmap is shown."
        self.view.set_map(None if result.anomaly_map is None else result.anomaly_map.astype(np.float32), reason)

    # -- operator decisions ----------------------------------------------------------------------
    def _unless_typing(self, slot) -> None:
        """Run a page shortcut unless a text or number box has focus: Enter there commits the value, not a verdict."""
        from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit
        if isinstance(QApplication.focusWidget(), (QAbstractSpinBox, QLineEdit)):
            return
        slot()


def _folder_truth(path: Path) -> Truth:
    """Defect type and mask of a file in an MVTec-style folder (test/<defect>/x.png, ground_truth/<defect>/x_mask.png)."""
    if label_from_path(path) != "defect":
        return None, None
    mask = path.parent.parent.parent / "ground_truth" / path.parent.name / f"{path.stem}_mask.png"
    return path.parent.name, mask if mask.is_file() else None
