"""Inspect (operator): score parts, show the heatmap and a big verdict, tune the working point.

Scores are computed once, on a worker; moving a threshold re-judges every result shown without
re-scoring. The heatmap's colour scale is tied to the working point (`inspector.visualize.
threshold_levels`), so a good part stays cool on every image. Every inspection goes to the
project's InspectionLog, and the operator's PASS / FAIL decision is stored beside it.
"""
from __future__ import annotations

import getpass
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDoubleSpinBox, QFileDialog, QGroupBox,
                               QGridLayout, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QSlider, QSplitter, QTableView,
                               QVBoxLayout, QWidget)

from inspector.gui.context import AppContext
from inspector.gui.widgets.heatmap_view import HeatmapView
from inspector.gui.widgets.results_model import SORT_ROLE, InspectionResult, ResultsModel, label_from_path, small_map
from inspector.gui.widgets.threshold_histogram import ThresholdHistogram
from inspector.gui.workers import LatestOnly, Task

VERDICT_STYLES = {
    "PASS": "background: #1a7f37; color: white;",
    "REVIEW": "background: #d4a72c; color: #1f2328;",
    "FAIL": "background: #cf222e; color: white;",
    "": "background: #eaeef2; color: #57606a;",
}
BATCH = 8


class _Relay(QObject):
    """Carries each batch's results from the worker to the GUI as they come."""

    results = Signal(str, object)  # class name, list[InspectionResult]


class InspectPage(QWidget):
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
        self.prev_button = QPushButton("< Previous")
        self.prev_button.setToolTip("Previous result (B)")
        self.next_button = QPushButton("Next >")
        self.next_button.setToolTip("Next result (N)")
        self.export_button = QPushButton("Export CSV...")
        self.export_button.setToolTip("Save the results table as CSV (Ctrl+E)")
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
        self.view = HeatmapView()
        self.overlay_check = QCheckBox("Heatmap  (H)")
        self.overlay_check.setChecked(True)
        self.overlay_check.setToolTip("Show or hide the anomaly heatmap")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.setMinimumWidth(80)
        self.opacity.setMaximumWidth(200)
        self.image_name = QLabel("")
        self.image_name.setStyleSheet("color: #57606a;")
        self.model_label = QLabel("")
        self.model_label.setStyleSheet("color: #57606a;")
        # Status texts may be cut rather than widen the page past a 1024 px window.
        for label in (self.progress_label, self.image_name, self.model_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        view_controls = QHBoxLayout()
        view_controls.addWidget(self.overlay_check)
        view_controls.addWidget(QLabel("Opacity:"))
        view_controls.addWidget(self.opacity)
        view_controls.addWidget(self.image_name, 1)
        view_controls.addWidget(self.model_label)
        view_box = QWidget()
        view_layout = QVBoxLayout(view_box)
        view_layout.setContentsMargins(0, 0, 0, 0)
        view_layout.addWidget(self.view, 1)
        view_layout.addLayout(view_controls)

        # -- verdict + operator
        self.verdict = QLabel("-")
        self.verdict.setObjectName("verdictLabel")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setMinimumHeight(52)
        self.score_label = QLabel("Open or capture a part to inspect it.")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score_label.setWordWrap(True)
        self.confirm_button = QPushButton("Confirm verdict  (Enter)")
        self.confirm_button.setToolTip("Agree with the machine's PASS or FAIL")
        self.pass_button = QPushButton("PASS  (P)")
        self.pass_button.setToolTip("Operator decision: the part is good (P)")
        self.fail_button = QPushButton("FAIL  (F)")
        self.fail_button.setToolTip("Operator decision: the part is defective (F)")
        self.decision_label = QLabel("")
        self.decision_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Two rows, so the verdict column fits beside the part at 1024 px wide.
        decision_row = QGridLayout()
        decision_row.addWidget(self.confirm_button, 0, 0, 1, 2)
        decision_row.addWidget(self.pass_button, 1, 0)
        decision_row.addWidget(self.fail_button, 1, 1)
        self.decision_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        verdict_box = QWidget()
        verdict_layout = QVBoxLayout(verdict_box)
        verdict_layout.setContentsMargins(0, 0, 0, 4)
        verdict_layout.setSpacing(4)
        verdict_layout.addWidget(self.verdict)
        verdict_layout.addWidget(self.score_label)
        verdict_layout.addLayout(decision_row)
        verdict_layout.addWidget(self.decision_label)

        # -- working point
        self.histogram = ThresholdHistogram()
        self.histogram.setMinimumHeight(110)
        self.fail_spin = QDoubleSpinBox()
        self.fail_spin.setDecimals(4)
        self.fail_spin.setRange(-1e9, 1e9)
        self.fail_spin.setKeyboardTracking(False)
        self.fail_spin.setToolTip("Parts scoring at or above this FAIL")
        self.review_check = QCheckBox("REVIEW from")
        self.review_check.setToolTip("Parts between this and the FAIL threshold go to a person")
        self.review_spin = QDoubleSpinBox()
        self.review_spin.setDecimals(4)
        self.review_spin.setRange(-1e9, 1e9)
        self.review_spin.setKeyboardTracking(False)
        self.review_spin.setEnabled(False)
        self.reset_button = QPushButton("Calibrated")
        self.reset_button.setToolTip("Reset to the working point calibrated from good images when the model was fitted")
        self.save_threshold_button = QPushButton("Save")
        self.save_threshold_button.setToolTip("Save the working point: store these thresholds with the class (used from now on)")
        self.threshold_note = QLabel("")
        self.threshold_note.setWordWrap(True)
        self.threshold_note.setStyleSheet("color: #57606a;")
        thresholds = QGridLayout()
        thresholds.addWidget(QLabel("FAIL at"), 0, 0)
        thresholds.addWidget(self.fail_spin, 0, 1)
        thresholds.addWidget(self.review_check, 1, 0)
        thresholds.addWidget(self.review_spin, 1, 1)
        thresholds.setColumnStretch(1, 1)
        threshold_buttons = QHBoxLayout()
        threshold_buttons.addWidget(self.reset_button)
        threshold_buttons.addWidget(self.save_threshold_button)
        threshold_box = QGroupBox("Working point")
        threshold_layout = QVBoxLayout(threshold_box)
        threshold_layout.addWidget(self.histogram, 1)
        threshold_layout.addLayout(thresholds)
        threshold_layout.addLayout(threshold_buttons)
        threshold_layout.addWidget(self.threshold_note)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(verdict_box)
        right.addWidget(threshold_box)
        right.setStretchFactor(0, 0)
        right.setStretchFactor(1, 1)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(view_box)
        top.addWidget(right)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([640, 420])

        # -- results table
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
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setToolTip("Click a row to view it; click a header to sort")
        self.table.setMinimumHeight(60)
        self.summary = QLabel("")
        table_box = QGroupBox("Results")
        table_layout = QVBoxLayout(table_box)
        table_layout.addWidget(self.table)
        self.summary.setWordWrap(True)  # a long summary wraps instead of widening the page
        table_bar = QHBoxLayout()
        table_bar.addWidget(self.summary, 1)
        for widget in (self.prev_button, self.next_button, self.export_button):
            table_bar.addWidget(widget)
        table_layout.addLayout(table_bar)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("inspectSplitter")
        splitter.addWidget(top)
        splitter.addWidget(table_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([520, 240])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)

        # -- wiring
        self.open_button.clicked.connect(self.open_dialog)
        self.capture_button.clicked.connect(self.capture_and_inspect)
        self.folder_button.clicked.connect(self.folder_dialog)
        self.test_set_button.clicked.connect(self.inspect_test_images)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.export_button.clicked.connect(self.export_dialog)
        self.cancel_button.clicked.connect(self.cancel)
        self.overlay_check.toggled.connect(self.view.set_overlay_visible)
        self.opacity.valueChanged.connect(lambda v: self.view.set_opacity(v / 100.0))
        self.view.set_opacity(0.7)
        self.confirm_button.clicked.connect(lambda: self.decide(None))
        self.pass_button.clicked.connect(lambda: self.decide("PASS"))
        self.fail_button.clicked.connect(lambda: self.decide("FAIL"))
        self.histogram.thresholdsChanged.connect(self._on_histogram_moved)
        self.fail_spin.valueChanged.connect(self._on_spins)
        self.review_spin.valueChanged.connect(self._on_spins)
        self.review_check.toggled.connect(self._on_review_toggled)
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
        self._syncing = False
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
                                     f"{'x'.join(map(str, model.feature_config.input_shape))} px"
                                     + ("" if model.localizes else " (score only, no heatmap)"))
            self.model_label.setToolTip(f"Active model {model.model_id}")
        self._on_saved_thresholds_changed()
        self._update_actions()

    def _on_saved_thresholds_changed(self) -> None:
        self.threshold = self.session.threshold()
        self._sync_threshold_widgets()
        self._rejudge()

    def _sync_threshold_widgets(self) -> None:
        threshold = self.threshold
        self._syncing = True
        try:
            enabled = threshold is not None
            for widget in (self.fail_spin, self.review_check, self.reset_button, self.histogram):
                widget.setEnabled(enabled)
            if threshold is None:
                self.histogram.set_scores(np.zeros(0))
                self.threshold_note.setText("")
                self.review_spin.setEnabled(False)
                self.save_threshold_button.setEnabled(False)
                return
            magnitude = math.floor(math.log10(abs(threshold.fail))) if threshold.fail else 0
            decimals = int(min(8, max(2, 4 - magnitude)))  # about five significant digits
            for spin in (self.fail_spin, self.review_spin):
                spin.setDecimals(decimals)
                spin.setSingleStep(max(abs(threshold.fail) * 0.01, 10.0 ** -decimals))
            self.fail_spin.setValue(threshold.fail)
            self.review_check.setChecked(threshold.review is not None)
            self.review_spin.setEnabled(threshold.review is not None)
            if threshold.review is not None:
                self.review_spin.setValue(threshold.review)
            elif not self.review_spin.value() or self.review_spin.value() > threshold.fail:
                self.review_spin.setValue(threshold.fail * 0.9 if threshold.fail > 0 else threshold.fail - 1)
            good, defect = self._histogram_scores()
            self.histogram.set_scores(good, defect)
            self.histogram.set_thresholds(threshold.fail, threshold.review)
            self._update_levels()
            self._update_threshold_note()
        finally:
            self._syncing = False

    def _histogram_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Good: calibration scores + labelled good results; defect: known defect scores + labelled defects."""
        threshold = self.threshold
        good = [np.asarray(threshold.nominal_scores, dtype=np.float64)]
        defect = [np.asarray(threshold.defect_scores, dtype=np.float64)]
        current = [r for r in self.results if self.is_current(r)]  # another model's scores are another scale
        good.append(np.array([r.score for r in current if r.label == "good"], dtype=np.float64))
        defect.append(np.array([r.score for r in current if r.label == "defect"], dtype=np.float64))
        return np.concatenate(good), np.concatenate(defect)

    def _update_levels(self) -> None:
        from inspector.visualize import threshold_levels

        if self.threshold is not None:
            low, high = threshold_levels(self.threshold)
            self.view.set_levels(low, high, threshold=self.threshold.fail)

    def _update_threshold_note(self) -> None:
        threshold = self.threshold
        if threshold is None:
            return
        parts = []
        rate = threshold.expected_false_reject_rate
        if not math.isnan(rate):
            parts.append(f"{100 * rate:.1f} % of the calibration's good parts would fail")
        good, defect = self._histogram_scores()
        if len(defect):
            caught = float(np.mean(defect >= threshold.fail))
            parts.append(f"{100 * caught:.0f} % of the {len(defect)} known defective parts would fail")
        saved = self.session.threshold()
        changed = saved is not None and (not math.isclose(saved.fail, threshold.fail, rel_tol=1e-9, abs_tol=1e-12)
                                         or saved.review != threshold.review)
        if changed:
            parts.append("<b>not saved</b>")
        calibrated = self.session.model.threshold if self.session.model is not None else None
        if calibrated is not None:
            parts.append(f"calibrated FAIL: {calibrated.fail:.4g} ({calibrated.method} {calibrated.parameter:g})")
        self.threshold_note.setText("; ".join(parts) + ".")
        self.save_threshold_button.setEnabled(changed)

    def set_thresholds(self, fail: float, review: Optional[float]) -> None:
        """Change the working point (not saved): every result is re-judged, nothing is re-scored."""
        if self.threshold is None or not math.isfinite(fail):
            return
        if review is not None and review > fail:
            review = fail
        self.threshold = self.threshold.with_values(float(fail), None if review is None else float(review))
        self._sync_threshold_widgets()
        self._rejudge()

    def _on_histogram_moved(self, fail: float, review: float) -> None:
        if self._syncing:
            return
        self.set_thresholds(fail, None if math.isnan(review) else review)

    def _on_spins(self, *_args) -> None:
        if self._syncing:
            return
        review = self.review_spin.value() if self.review_check.isChecked() else None
        self.set_thresholds(self.fail_spin.value(), review)

    def _on_review_toggled(self, on: bool) -> None:
        self.review_spin.setEnabled(on)
        if not self._syncing:
            self._on_spins()

    def reset_threshold(self) -> None:
        model = self.session.model
        if model is not None:
            self.threshold = model.threshold
            self._sync_threshold_widgets()
            self._rejudge()

    def save_threshold(self) -> None:
        if self.threshold is None:
            return
        model = self.session.model
        calibrated = model.threshold if model is not None else None
        fail, review = self.threshold.fail, self.threshold.review
        try:
            if calibrated is not None and math.isclose(fail, calibrated.fail) and review is None:
                self.session.save_thresholds(None, None)
            else:
                self.session.save_thresholds(fail, review)
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not save the working point", exc, self)
            return
        self.ctx.messages.info(f"Working point of '{self.session.class_name}' saved: FAIL at {fail:.4g}"
                               + (f", REVIEW from {review:.4g}." if review is not None else "."))

    def verdict_of(self, score: float) -> str:
        return "" if self.threshold is None else self.threshold.verdict(score)

    def is_current(self, result: InspectionResult) -> bool:
        """Whether the active model scored this result (only then is its score on the threshold's scale)."""
        model = self.session.model
        return result.model_id is None or (model is not None and model.model_id == result.model_id)

    def judge(self, result: InspectionResult) -> str:
        """The working point's verdict; a result of an earlier model keeps the verdict it was logged with."""
        if not self.is_current(result):
            return result.recorded_verdict or "ERROR"
        return self.verdict_of(result.score)

    def _rejudge(self) -> None:
        for row in range(self.model.rowCount()):
            index = self.model.item(row, 0).data(Qt.ItemDataRole.UserRole)
            self.model.set_verdict(row, self.judge(self.results[index]))
        self._update_summary()
        self._show_verdict()

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
        from inspector.gui.pages.acquire import collect_image_files

        files = collect_image_files([folder])
        if not files:
            self.ctx.report_error("Inspect folder", f"{folder} holds no image files.", self)
            return None
        return self.inspect_paths(files, [label_from_path(p) for p in files])

    def inspect_test_images(self) -> Optional[Task]:
        records = self.session.records("test")
        if not records:
            self.ctx.report_error("Inspect test images", "This class has no test images: mark some as Test on the "
                                  "Acquire page, or import a dataset.", self)
            return None
        return self.inspect_paths([self.session.image_path(r) for r in records], [r.label for r in records])

    def inspect_paths(self, paths: Sequence[Path], labels: Optional[Sequence[Optional[str]]] = None) -> Optional[Task]:
        """Score files on a worker, in batches; rows appear as batches finish; all are logged."""
        model, part, project = self.session.model, self.session.part, self.session.project
        if model is None or part is None or project is None or self.task is not None:
            return None
        paths = list(paths)
        labels = list(labels) if labels is not None else [label_from_path(p) for p in paths]
        threshold = self.threshold
        class_name = part.name
        relay = self.relay

        def work(reporter):
            from inspector.io.images import load_image
            from inspector.pipeline import Prediction
            from inspector.types import InspectorError, Reporter

            log = project.log
            total = len(paths)
            for start in range(0, total, BATCH):
                reporter.report("inspect", start, total, f"Inspecting {paths[start].name} ({start + 1}/{total})")
                chunk = paths[start:start + BATCH]
                loaded, unreadable = {}, {}
                for offset, path in enumerate(chunk):
                    try:
                        loaded[offset] = load_image(path)
                    except InspectorError as exc:  # an unreadable file is an ERROR row, never stops the batch
                        unreadable[offset] = Prediction.failed(str(exc))
                scored = iter(model.predict(list(loaded.values()), Reporter(None, reporter.cancel_token)) if loaded else ())
                predictions = [unreadable[i] if i in unreadable else next(scored) for i in range(len(chunk))]
                batch = []
                for offset, (path, prediction) in enumerate(zip(chunk, predictions)):
                    verdict = threshold.verdict(prediction.score)
                    log_id = log.record(None, class_name, model.model_id, prediction.score, threshold.fail, verdict,
                                        str(path), review_threshold=threshold.review, note=prediction.error or None)
                    batch.append(InspectionResult(path, float(prediction.score), small_map(prediction.anomaly_map),
                                                  labels[start + offset], log_id, model_id=model.model_id,
                                                  recorded_verdict=verdict))
                relay.results.emit(class_name, batch)
            reporter.report("inspect", total, total, f"{total} part(s) inspected")
            return total

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
        threshold = self.threshold
        class_name = part.name
        relay = self.relay

        def work(reporter):
            from inspector.types import Reporter

            reporter.report("inspect", 0, 1, "Inspecting the captured part")
            path = project.save_inspected_image(class_name, image) if save else None
            prediction = model.predict([image], Reporter(None, reporter.cancel_token))[0]
            verdict = threshold.verdict(prediction.score)
            log_id = project.log.record(None, class_name, model.model_id, prediction.score, threshold.fail, verdict,
                                        None if path is None else str(path), review_threshold=threshold.review)
            relay.results.emit(class_name, [InspectionResult(path, float(prediction.score),
                                                             small_map(prediction.anomaly_map), label, log_id,
                                                             image=None if path is not None else image,
                                                             model_id=model.model_id, recorded_verdict=verdict)])
            return 1

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
        if first_new == self._batch_first:  # show the first part of a run at once
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
            return
        counts = {"PASS": 0, "REVIEW": 0, "FAIL": 0}
        for result in self.results:
            verdict = result.decision or self.judge(result)
            counts[verdict] = counts.get(verdict, 0) + 1
        text = f"{len(self.results)} part(s): {counts['PASS']} PASS, {counts['REVIEW']} REVIEW, {counts['FAIL']} FAIL"
        labelled = [r for r in self.results if r.label in ("good", "defect") and self.is_current(r)]
        if labelled:
            wrong = sum((self.verdict_of(r.score) == "FAIL") != (r.label == "defect") for r in labelled)
            text += f"  |  against the {len(labelled)} known labels: {wrong} wrong at this working point"
        self.summary.setText(text)
        self.export_button.setEnabled(True)

    def step(self, delta: int) -> None:
        """Next / previous row in the table's current sort order."""
        if not self.results:
            return
        rows = self.proxy.rowCount()
        current = self.table.currentIndex().row()
        row = 0 if current < 0 else min(max(current + delta, 0), rows - 1)
        self.table.selectRow(row)
        self.table.setCurrentIndex(self.proxy.index(row, 0))

    def show_index(self, index: int) -> None:
        row = self.model.row_of(index)
        if row >= 0:
            proxy_row = self.proxy.mapFromSource(self.model.index(row, 0)).row()
            self.table.setCurrentIndex(self.proxy.index(proxy_row, 0))
            self.table.selectRow(proxy_row)
        self._show_result(index)

    def _on_table_row(self, current, _previous) -> None:
        if not current.isValid():
            return
        source = self.proxy.mapToSource(current)
        index = self.model.item(source.row(), 0).data(Qt.ItemDataRole.UserRole)
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

    def _show_verdict(self) -> None:
        if self.current is None or self.threshold is None:
            self.verdict.setText("-")
            self._style_verdict("")
            self.decision_label.setText("")
            if self.threshold is None:
                self.score_label.setText("No model: fit one on the Fit page." if self.session.part else "")
            else:
                self.score_label.setText("Open or capture a part to inspect it.")
            return
        result = self.results[self.current]
        verdict = self.judge(result)
        self.verdict.setText(verdict)
        self._style_verdict(verdict)
        review = f", REVIEW from {self.threshold.review:.4g}" if self.threshold.review is not None else ""
        if self.is_current(result):
            where = f"(FAIL at {self.threshold.fail:.4g}{review})"
        else:
            where = f"(scored by the earlier model {result.model_id}: verdict as logged then)"
        self.score_label.setText(f"Score <b>{result.score:.4g}</b>  {where}"
                                 + (f"  -  labelled {result.label}" if result.label else ""))
        if result.decision:
            self.decision_label.setText(f"Operator decision: <b>{result.decision}</b>")
        elif verdict == "REVIEW":
            self.decision_label.setText("Needs a person: press P (good) or F (defective).")
        else:
            self.decision_label.setText("Press Enter to confirm, or P / F to overrule.")

    def _style_verdict(self, verdict: str) -> None:
        self.verdict.setStyleSheet(f"QLabel#verdictLabel {{ {VERDICT_STYLES.get(verdict, VERDICT_STYLES[''])} "
                                   "font-size: 36px; font-weight: bold; border-radius: 8px; }")

    # -- operator decisions ----------------------------------------------------------------------
    def _unless_typing(self, slot) -> None:
        """Run a page shortcut unless a text or number box has focus: Enter there commits the value, not a verdict."""
        from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit
        if isinstance(QApplication.focusWidget(), (QAbstractSpinBox, QLineEdit)):
            return
        slot()

    def decide(self, decision: Optional[str]) -> None:
        """Store the operator's decision (None = confirm the machine's PASS / FAIL) in the log."""
        if self.current is None or self.threshold is None:
            return
        result = self.results[self.current]
        verdict = self.judge(result)
        if decision is None:
            if verdict not in ("PASS", "FAIL"):
                self.decision_label.setText("REVIEW cannot be confirmed: press P (good) or F (defective).")
                return
            decision = verdict
        if result.log_id is not None and self.session.project is not None:
            try:
                self.session.project.log.set_operator_decision(result.log_id, decision, operator=_operator())
            except Exception as exc:  # noqa: BLE001
                self.ctx.report_error("Could not store the decision", exc, self)
                return
        result.decision = decision
        row = self.model.row_of(self.current)
        if row >= 0:
            self.model.set_decision(row, decision)
        self._show_verdict()
        self._update_summary()
        self.ctx.messages.info(f"{result.name}: operator decision {decision} (machine said {verdict}).")

    # -- export ------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if not self.results:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export results", "inspection-results.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> int:
        """Write the results shown (current thresholds, operator decisions) as CSV, atomically."""
        import csv
        import io

        from inspector.store.atomic import write_bytes_atomic

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["image", "label", "score", "fail_threshold", "review_threshold", "verdict",
                         "operator_decision", "log_id"])
        for result in self.results:
            writer.writerow([str(result.path) if result.path else "", result.label or "", repr(result.score),
                             repr(self.threshold.fail) if self.threshold else "",
                             "" if self.threshold is None or self.threshold.review is None else repr(self.threshold.review),
                             self.judge(result), result.decision or "", result.log_id or ""])
        try:
            write_bytes_atomic(path, buffer.getvalue().encode("utf-8-sig"))
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not export the results", exc, self)
            return 0
        self.ctx.messages.info(f"{len(self.results)} result(s) exported to {path}.")
        return len(self.results)


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return ""
