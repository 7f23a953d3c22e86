"""Fit: choose backbone, detector and its parameters, augmentation and refinement; run it.

The fit runs on a worker (`fit_model` with a Reporter whose progress becomes signals); the
stage strip shows load, extract, refine, augment, fit, calibrate and save with an ETA, and
Cancel sets the CancelToken, which the engine honours at its next progress point.

The settings editors live in inspector.gui.widgets.fit_settings_form; their widgets are kept as
page attributes (`page.detector`, `page.aug_factor`...) for callers and tests.
"""
from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.gui.context import AppContext
from inspector.gui.widgets.fit_settings_form import (  # noqa: F401
    CALIBRATIONS,
    CHOICES,
    HIDDEN_PARAMS,
    PARAM_HELP,
    FitSettingsForm,
    ParamForm,
)
from inspector.gui.widgets.splitter import make_splitter
from inspector.gui.widgets.stage_progress import StageProgress, format_duration
from inspector.gui.workers import ErrorInfo, Task
from inspector.types import InspectorError

STAGES = ("load", "extract", "refine", "augment", "fit", "calibrate", "save")

def detect_device(preference: str) -> str:
    from inspector.features.extractor import describe_device, pick_device

    return describe_device(pick_device(preference))


def training_shapes(paths: list, limit: int = 64) -> list[tuple[int, int]]:
    """(height, width) of up to `limit` training images, read from their headers (no decoding), for
    the form's effective-resolution line; unreadable files are left out (the fit reports them)."""
    from inspector.features.preprocess import image_file_shape

    shapes = []
    for path in paths[:limit]:
        try:
            shapes.append(image_file_shape(path))
        except InspectorError:
            continue
    return shapes


class FitPage(QWidget):
    title = "3  Fit"
    fitFinished = Signal(bool)  # success

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.task: Task | None = None
        self.last_result: Any = None

        from inspector.detectors.registry import available_detectors

        self.detector_classes = available_detectors()
        self.settings_form = FitSettingsForm(self.detector_classes)
        form = self.settings_form
        self.backbone, self.image_size, self.detector = form.backbone, form.image_size, form.detector
        self.geometry, self.geometry_note = form.geometry, form.geometry_note
        self.params = form.params
        self.aug_factor, self.policy_note, self.refine_ratio = form.aug_factor, form.policy_note, form.refine_ratio
        self.calibration, self.calibration_parameter = form.calibration, form.calibration_parameter
        self.device, self.device_label = form.device, form.device_label

        self.images_note = QLabel("")
        self.images_note.setWordWrap(True)
        self.fit_button = QPushButton("Fit model  (Ctrl+Enter)")
        self.fit_button.setMinimumHeight(36)
        self.fit_button.setStyleSheet("QPushButton { font-weight: bold; }")
        self.fit_button.setToolTip("Fit a model on the training images with these settings")
        self.progress = StageProgress(STAGES)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)

        scroll = QScrollArea()
        scroll.setWidget(self.settings_form)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(300)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        run_box = QGroupBox("Run")
        run_layout = QVBoxLayout(run_box)
        run_layout.addWidget(self.images_note)
        run_layout.addWidget(self.fit_button)
        run_layout.addWidget(self.progress)
        run_layout.addWidget(self.summary)
        run_layout.addStretch(1)
        help_text = QLabel(
            "<b>What a fit does.</b> <i>load</i> the training images; <i>extract</i> their features with the frozen "
            "backbone; <i>refine</i> (SROC, when on): rank the training images and leave out the most suspicious "
            "for you to review; <i>augment</i> (when a factor is set): add copies made with the class's policy; "
            "<i>fit</i> the detector; <i>calibrate</i> the working point from good images alone; <i>save</i> the "
            "model and make it active. The project changes only once the model is saved: Cancel is always safe.")
        help_text.setWordWrap(True)
        help_text.setTextFormat(Qt.TextFormat.RichText)
        help_text.setStyleSheet("color: #57606a;")
        run_layout.addWidget(help_text)

        self.models = QTreeWidget()
        self.models.setHeaderLabels(["", "Model", "Detector", "Images", "FAIL at", "Created"])
        self.models.setRootIsDecorated(False)
        self.models.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.models.setToolTip("Models fitted for this class; the active one is used to inspect")
        self.use_model_button = QPushButton("Use selected model")
        self.delete_model_button = QPushButton("Delete model")
        models_box = QGroupBox("Models of the class")
        models_layout = QVBoxLayout(models_box)
        models_layout.addWidget(self.models)
        row = QHBoxLayout()
        row.addWidget(self.use_model_button)
        row.addWidget(self.delete_model_button)
        row.addStretch(1)
        models_layout.addLayout(row)

        right = make_splitter(Qt.Orientation.Vertical, [run_box, models_box], stretch=[2, 1])
        splitter = make_splitter(Qt.Orientation.Horizontal, [scroll, right], stretch=[2, 3],
                                 sizes=[440, 760], name="fitSplitter")
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.device.currentIndexChanged.connect(self._detect_device)
        self.aug_factor.valueChanged.connect(self._on_aug_factor)
        self.fit_button.clicked.connect(self.start_fit)
        self.progress.cancelRequested.connect(self.cancel_fit)
        self.use_model_button.clicked.connect(self._use_selected_model)
        self.delete_model_button.clicked.connect(self._delete_selected_model)
        self.models.itemSelectionChanged.connect(self._update_model_buttons)
        for keys, slot in (("Ctrl+Return", self.start_fit), ("Ctrl+Enter", self.start_fit), ("Esc", self.cancel_fit)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(slot)
        for signal in (self.session.class_changed, self.session.project_changed):
            signal.connect(self.load_class)
        for signal in (self.session.images_changed, self.session.policy_changed, self.session.review_changed):
            signal.connect(self._update_notes)
        self.session.policy_changed.connect(self._follow_factor)
        self.session.model_changed.connect(self._fill_models)
        self.session.project_changed.connect(self.clear_fit_result)
        self._detect_device()
        self.load_class()

    # -- settings ---------------------------------------------------------------------------------
    def _detect_device(self, *_args) -> None:
        preference = self.device.currentData()
        self.device_label.setText("Device: detecting...")

        def show(text: str) -> None:
            self.device_label.setText(f"Device: {text}")
            self.ctx.session.device_name = text
            if self.ctx.window is not None:
                self.ctx.window.set_device_text(text)

        def fail(info: ErrorInfo) -> None:
            self.device_label.setText(f"Device: {info.message}")

        self.ctx.run(lambda _r: detect_device(preference), "Detect device", on_result=show, on_error=fail, parent=self)

    def settings(self):
        """The FitSettings the form describes (policy from the class when a factor is set)."""
        part = self.session.part
        return self.settings_form.settings(part.policy if part is not None else None)

    def _detector_params(self) -> dict[str, Any]:
        return self.settings_form.detector_params()

    def apply_settings(self, data: dict) -> None:
        """Show stored FitSettings JSON (the class's last fit)."""
        self.settings_form.apply_settings(data)


    # -- class binding ---------------------------------------------------------------------------
    def load_class(self) -> None:
        part = self.session.part
        self.setEnabled(part is not None)
        if part is not None and part.fit_settings:
            try:
                self.apply_settings(part.fit_settings)
            except Exception as exc:  # noqa: BLE001
                self.ctx.messages.warning(f"The saved fit settings of '{part.name}' could not be shown ({exc}).")
        self._follow_factor()
        self._update_notes()
        self._fill_models()

    def _on_aug_factor(self, value: int) -> None:
        """One home for the factor: the class (the Augment page shows and edits the same value)."""
        project, part = self.session.project, self.session.part
        if project is not None and part is not None and not project.read_only and part.aug_factor != value:
            try:
                project.set_aug_factor(part.name, int(value))
            except Exception as exc:  # noqa: BLE001
                self.ctx.messages.warning(f"The augmentation factor could not be stored: {exc}")
            self.session.policy_changed.emit()
        self._update_notes()

    def _follow_factor(self) -> None:
        part = self.session.part
        if part is not None and self.aug_factor.value() != part.aug_factor:
            self.aug_factor.setValue(int(part.aug_factor))

    def _update_notes(self) -> None:
        part = self.session.part
        if part is None:
            self.images_note.setText("Select a part class on the left.")
            self.policy_note.setText("")
            return
        training = self.session.training_records()
        removed = len(part.left_out_ids())
        text = f"<b>{len(training)}</b> training image(s) of '{part.name}'"
        if removed:
            text += f" ({removed} left out by the review)"
        if len(training) < 2:
            text += " - at least 2 are needed: add good parts on the Acquire page."
        self.images_note.setText(text)
        self.settings_form.set_training_shapes(training_shapes([self.session.image_path(r) for r in training[:64]]))
        if self.aug_factor.value() == 0:
            self.policy_note.setText("No augmentation.")
        elif part.policy is None:
            self.policy_note.setText("No policy saved for this class: save one on the Augment page, "
                                     "or the factor is ignored.")
        else:
            from inspector.augment.policy import AugmentationPolicy

            try:
                self.policy_note.setText("Policy: " + AugmentationPolicy.from_json(part.policy).describe())
            except Exception as exc:  # noqa: BLE001
                self.policy_note.setText(f"The saved policy is invalid: {exc}")
        self.fit_button.setEnabled(len(training) >= 2 and self.task is None)

    def _fill_models(self) -> None:
        self.models.clear()
        project, part = self.session.project, self.session.part
        if project is None or part is None:
            return
        for info in reversed(project.list_models(part.name)):
            meta = info.meta or {}
            settings = meta.get("settings") or {}
            threshold = (meta.get("threshold") or {}).get("fail")
            model_info = meta.get("info") or {}
            active = info.id == part.active_model_id
            item = QTreeWidgetItem([
                "ACTIVE" if active else ("damaged" if not info.ok else ""), info.id,
                str(settings.get("detector", "?")), str(model_info.get("n_kept", model_info.get("n_images", ""))),
                "" if threshold is None else f"{threshold:.4g}",
                str(model_info.get("created", info.created))[:16].replace("T", " "),
            ])
            item.setData(0, Qt.ItemDataRole.UserRole, info.id)
            if info.problem:
                item.setToolTip(0, info.problem)
            if active:
                font = item.font(0)
                font.setBold(True)
                for column in range(6):
                    item.setFont(column, font)
            self.models.addTopLevelItem(item)
        for column in range(6):
            self.models.resizeColumnToContents(column)
        self._update_model_buttons()

    def _selected_model_id(self) -> str | None:
        items = self.models.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def _update_model_buttons(self) -> None:
        model_id = self._selected_model_id()
        part = self.session.part
        active = part.active_model_id if part else None
        self.use_model_button.setEnabled(model_id is not None and model_id != active and self.task is None)
        self.delete_model_button.setEnabled(model_id is not None and self.task is None)

    def _use_selected_model(self) -> None:
        model_id = self._selected_model_id()
        if model_id:
            try:
                self.session.activate_model(model_id)
            except Exception as exc:  # noqa: BLE001
                self.ctx.report_error("Could not use the model", exc, self)

    def _delete_selected_model(self) -> None:
        model_id = self._selected_model_id()
        project, part = self.session.project, self.session.part
        if not model_id or project is None or part is None:
            return
        answer = QMessageBox.question(self, "Delete model", f"Delete model {model_id} of '{part.name}'? "
                                      "This cannot be undone.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            was_active = part.active_model_id == model_id
            project.delete_model(part.name, model_id)
            if was_active:
                self.session.load_active_model()
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Could not delete the model", exc, self)
        self._fill_models()

    # -- fitting ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None

    def start_fit(self, refine_ratio: float | None = None) -> Task | None:
        """Fit on the class's training images (refine_ratio overrides the form, e.g. 0 after a review)."""
        if self.task is not None:
            return None
        project, part = self.session.project, self.session.part
        if project is None or part is None:
            return None
        try:
            settings = self.settings()
            if refine_ratio is not None:
                settings.refine_ratio = float(refine_ratio)
            settings.validate()
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("Invalid fit settings", exc, self)
            return None
        records = self.session.training_records()
        if len(records) < 2:
            self.ctx.report_error("Cannot fit", f"At least 2 training images are needed; '{part.name}' has {len(records)}.", self)
            return None
        paths = [self.session.image_path(r) for r in records]
        names = [r.filename for r in records]
        class_name = part.name
        started = time.monotonic()

        def work(reporter):
            from inspector.io.images import load_image
            from inspector.pipeline import fit_model

            images, kept, skipped = [], [], []
            for index, path in enumerate(paths):
                reporter.report("load", index, len(paths), f"Loading {path.name}")
                try:
                    images.append(load_image(path))  # same loader and size limit as inspection
                    kept.append(names[index])
                except InspectorError:  # a bad file is skipped and listed, never stops the fit
                    skipped.append(names[index])
            reporter.report("load", len(paths), len(paths), f"{len(images)} image(s) loaded")
            result = fit_model(images, settings, reporter, names=kept, skipped=skipped)
            reporter.report("save", 0, 1, "Saving the model")
            model_id, folder = project.new_model_dir(class_name)
            result.model.model_id = model_id
            result.model.save(folder)  # no progress point after this: a saved model is never dropped
            return model_id, result, time.monotonic() - started

        self.progress.begin(f"Fitting {settings.detector} for '{class_name}' on {len(paths)} image(s)...")
        self.summary.setText("")
        self.fit_button.setEnabled(False)
        self._fit_settings = settings
        self._fit_records = records
        self._fit_class = class_name
        self.task = self.ctx.run(work, f"Fit '{class_name}'", on_result=self._on_fit_result, on_error=self._on_fit_error,
                                 on_progress=self.progress.update_progress, on_cancelled=self._on_fit_cancelled,
                                 on_finished=self._on_fit_finished, parent=self)
        self.ctx.messages.info(f"Fit of '{class_name}' started ({settings.detector}, {len(paths)} images).")
        return self.task

    def cancel_fit(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.progress.detail.setText("Cancelling: the fit stops at its next safe point...")

    def _on_fit_result(self, result) -> None:
        model_id, fit, seconds = result
        model = fit.model
        class_name = self._fit_class
        try:
            self.session.install_model(class_name, model, model_id, self._fit_settings.to_json(),
                                       self._fit_settings.aug_factor, self._flagged_ids(fit.ranking))
        except Exception as exc:  # noqa: BLE001
            self.ctx.report_error("The model was fitted but could not be made active", exc, self)
        self.last_result = fit
        threshold = model.threshold
        text = (f"<b>Model {model_id}</b> fitted in {format_duration(seconds)} on "
                f"{model.info.get('n_kept', '?')} image(s), {model.info.get('device', '')}.<br>"
                f"Working point: FAIL at score <b>{threshold.fail:.4g}</b> ({threshold.method} "
                f"{threshold.parameter:g}; {model.info.get('calibration_source', '')}).")
        tiles, shape = model.feature_config.tiles, model.feature_config.input_shape
        text += f"<br>Input: {tiles.describe() if tiles else '{} x {} px'.format(*shape)} (height x width)."
        if fit.ranking is not None:
            flagged = int(fit.ranking.flagged.sum())
            text += f"<br>SROC flagged <b>{flagged}</b> training image(s): check them on the <b>Review</b> page."
        if not model.localizes:
            text += "<br>This detector gives a score per part, no heatmap."
        if model.info.get("skipped_images"):
            text += f"<br>Unreadable, skipped: {', '.join(model.info['skipped_images'])}."
        self.summary.setText(text)
        self.progress.end("Fit finished", True)
        self.ctx.messages.info(f"Model {model_id} fitted and active for '{class_name}'.")
        self.fitFinished.emit(True)

    def clear_fit_result(self) -> None:
        """Another project: the previous project's fit summary must not be shown as this one's."""
        self.last_result = None
        self.summary.setText("")

    def _flagged_ids(self, ranking) -> list[str]:
        """Image ids of the training images SROC flagged (rankings index the fit's image list)."""
        if ranking is None:
            return []
        names = ranking.names or [r.filename for r in self._fit_records]
        by_name = {r.filename: r.id for r in self._fit_records}
        return [by_name[names[int(i)]] for i in ranking.flagged_indices() if names[int(i)] in by_name]

    def _on_fit_error(self, info: ErrorInfo) -> None:
        self.progress.end(f"Fit failed: {info.message}", False)
        self.ctx.report_error("Fit failed", info, self)
        self.fitFinished.emit(False)

    def _on_fit_cancelled(self) -> None:
        self.progress.end("Fit cancelled: nothing was changed", False)
        self.fitFinished.emit(False)

    def _on_fit_finished(self) -> None:
        self.task = None
        self._update_notes()
        self._fill_models()
