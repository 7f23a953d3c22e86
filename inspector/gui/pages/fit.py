"""Fit: choose backbone, detector and its parameters, augmentation and refinement; run it.

The fit runs on a worker (`fit_model` with a Reporter whose progress becomes signals); the
stage strip shows load, extract, refine, augment, fit, calibrate and save with an ETA, and
Cancel sets the CancelToken, which the engine honours at its next progress point.
"""
from __future__ import annotations

import inspect
import time
from typing import Any, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QScrollArea,
                               QSpinBox, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from inspector.gui.context import AppContext
from inspector.gui.widgets.stage_progress import StageProgress, format_duration
from inspector.gui.workers import ErrorInfo, Task
from inspector.types import InspectorError

STAGES = ("load", "extract", "refine", "augment", "fit", "calibrate", "save")
CHOICES = {"covariance": ("ledoit", "empirical"), "sampler": ("greedy", "random"), "index": ("flat", "ivfflat")}
PARAM_HELP = {
    "k": "Number of nearest neighbours averaged into the score",
    "covariance": "Covariance estimator: Ledoit-Wolf shrinkage is stable with few images",
    "n_features": "Channels kept at random per location (PaDiM); fewer = faster, smaller model",
    "sigma": "Smoothing of the anomaly map (pixels of the feature grid)",
}
HIDDEN_PARAMS = {"layers", "seed", "device"}  # device follows "Run on"
CALIBRATIONS = {
    "sigma": ("mean + k x sigma of good scores", 3.0, 0.0, 10.0, 0.1),
    "quantile": ("quantile of good scores", 0.99, 0.5, 1.0, 0.005),
}


class ParamForm(QWidget):
    """Editors for a detector's constructor parameters, built from its signature."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, QWidget] = {}

    def set_detector(self, cls: type, values: Optional[dict] = None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        values = values or {}
        for name, param in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or name in HIDDEN_PARAMS or param.default is inspect.Parameter.empty:
                continue
            value = values.get(name, param.default)
            editor = self._editor(name, param.default, value)
            if editor is None:
                continue
            editor.setToolTip(PARAM_HELP.get(name, name))
            self.editors[name] = editor
            self.form.addRow(name.replace("_", " ").capitalize() + ":", editor)
        if not self.editors:
            self.form.addRow(QLabel("No parameters."))

    @staticmethod
    def _editor(name: str, default: Any, value: Any) -> Optional[QWidget]:
        if name in CHOICES:
            combo = QComboBox()
            combo.addItems(CHOICES[name])
            combo.setCurrentText(str(value))
            return combo
        if isinstance(default, bool):
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if isinstance(default, int):
            spin = QSpinBox()
            spin.setRange(0, 1_000_000)
            spin.setValue(int(value))
            return spin
        if isinstance(default, float):
            # A line edit, not a spin box: learning rates of 1e-5 and negative margins must survive.
            line = QLineEdit(repr(float(value)))
            line.setValidator(QDoubleValidator())
            line.setProperty("kind", "float")
            return line
        if isinstance(default, str):
            return QLineEdit(str(value))
        return None

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QComboBox):
                out[name] = editor.currentText()
            elif isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                out[name] = editor.value()
            elif isinstance(editor, QLineEdit) and editor.property("kind") == "float":
                try:
                    out[name] = float(editor.text().replace(",", "."))
                except ValueError:
                    raise InspectorError(f"Detector parameter '{name}' must be a number, got '{editor.text()}'.") from None
            elif isinstance(editor, QLineEdit):
                out[name] = editor.text()
        return out


def detect_device(preference: str) -> str:
    from inspector.features.extractor import describe_device, pick_device

    return describe_device(pick_device(preference))


class FitPage(QWidget):
    title = "3  Fit"
    fitFinished = Signal(bool)  # success

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.task: Optional[Task] = None
        self.last_result: Any = None

        from inspector.detectors.registry import available_detectors
        from inspector.features.backbones import BACKBONES, DEFAULT_BACKBONE

        self.detector_classes = available_detectors()
        self.backbone = QComboBox()
        for name in BACKBONES:
            self.backbone.addItem(name, name)
        self.backbone.setCurrentIndex(self.backbone.findData(DEFAULT_BACKBONE))
        self.backbone.setToolTip("Frozen ImageNet backbone that turns images into features")
        self.image_size = QSpinBox()
        self.image_size.setRange(32, 1024)
        self.image_size.setSingleStep(16)
        self.image_size.setValue(224)
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip("Short side of the backbone input (224 = default); the long side keeps the training images' aspect ratio")
        self.detector = QComboBox()
        for name, cls in sorted(self.detector_classes.items(), key=lambda kv: kv[0] != "padim"):
            label = getattr(cls, "display_name", "") or name
            self.detector.addItem(f"{label}  ({'heatmap' if cls.localizes else 'score only'})", name)
        self.detector.setToolTip("Anomaly detector. 'heatmap' detectors also show where a part differs.")
        self.params = ParamForm()
        self.aug_factor = QSpinBox()
        self.aug_factor.setRange(0, 100)
        self.aug_factor.setToolTip("Augmented copies per training image (0 = none); uses the class's saved policy")
        self.policy_note = QLabel("")
        self.policy_note.setWordWrap(True)
        self.policy_note.setStyleSheet("color: #57606a;")
        self.refine_ratio = QDoubleSpinBox()
        self.refine_ratio.setRange(0.0, 50.0)
        self.refine_ratio.setSingleStep(1.0)
        self.refine_ratio.setDecimals(1)
        self.refine_ratio.setSuffix(" %")
        self.refine_ratio.setToolTip("SROC: share of training images flagged as suspicious and left out "
                                     "(0 = off). Review them on the Review page.")
        self.calibration = QComboBox()
        for key, (label, *_rest) in CALIBRATIONS.items():
            self.calibration.addItem(label, key)
        self.calibration.setToolTip("How the default working point is set from good images alone")
        self.calibration_parameter = QDoubleSpinBox()
        self.calibration_parameter.setDecimals(4)
        self.device = QComboBox()
        self.device.addItem("Automatic (GPU if available)", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.addItem("GPU (CUDA)", "cuda")
        self.device.setToolTip("Where the backbone runs")
        self.device_label = QLabel("Device: detecting...")
        self.device_label.setObjectName("deviceLabel")

        for combo in (self.backbone, self.detector, self.calibration, self.device):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        form = QFormLayout()
        form.addRow("Backbone:", self.backbone)
        form.addRow("Input size:", self.image_size)
        form.addRow("Detector:", self.detector)
        params_box = QGroupBox("Detector parameters")
        QVBoxLayout(params_box).addWidget(self.params)
        form2 = QFormLayout()
        form2.addRow("Augmentation factor:", self.aug_factor)
        form2.addRow("", self.policy_note)
        form2.addRow("SROC refinement:", self.refine_ratio)
        form2.addRow("Working point:", self.calibration)
        form2.addRow("Parameter:", self.calibration_parameter)
        form2.addRow("Run on:", self.device)
        form2.addRow("", self.device_label)

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

        settings_widget = QWidget()
        settings_layout = QVBoxLayout(settings_widget)
        settings_layout.addLayout(form)
        settings_layout.addWidget(params_box)
        settings_layout.addLayout(form2)
        settings_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(settings_widget)
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

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(run_box)
        right.addWidget(models_box)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("fitSplitter")
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([440, 760])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.detector.currentIndexChanged.connect(self._on_detector)
        self.calibration.currentIndexChanged.connect(self._on_calibration)
        self.device.currentIndexChanged.connect(self._detect_device)
        self.aug_factor.valueChanged.connect(lambda _v: self._update_notes())
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
        self.session.model_changed.connect(self._fill_models)
        self.session.project_changed.connect(self.clear_fit_result)
        self._on_detector()
        self._on_calibration()
        self._detect_device()
        self.load_class()

    # -- settings ---------------------------------------------------------------------------------
    def _on_detector(self, *_args) -> None:
        cls = self.detector_classes[self.detector.currentData()]
        self.params.set_detector(cls)

    def _on_calibration(self, *_args) -> None:
        _label, default, low, high, step = CALIBRATIONS[self.calibration.currentData()]
        self.calibration_parameter.setRange(low, high)
        self.calibration_parameter.setSingleStep(step)
        self.calibration_parameter.setValue(default)
        self.calibration_parameter.setToolTip({"sigma": "k: the threshold is mean + k standard deviations",
                                               "quantile": "share of good parts that should pass (e.g. 0.99)"}[self.calibration.currentData()])

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
        from inspector.pipeline import FitSettings

        part = self.session.part
        factor = int(self.aug_factor.value())
        policy = part.policy if (part is not None and factor > 0) else None
        return FitSettings(
            backbone=self.backbone.currentData(), image_size=int(self.image_size.value()),
            detector=self.detector.currentData(), detector_params=self._detector_params(),
            policy=policy, aug_factor=factor if policy is not None else 0,
            refine_ratio=float(self.refine_ratio.value()) / 100.0,
            calibration=self.calibration.currentData(), calibration_parameter=float(self.calibration_parameter.value()),
            device=self.device.currentData(),
        )

    def _detector_params(self) -> dict[str, Any]:
        params = self.params.values()
        cls = self.detector_classes[self.detector.currentData()]
        if "device" in inspect.signature(cls.__init__).parameters:
            params["device"] = self.device.currentData()
        return params

    def apply_settings(self, data: dict) -> None:
        """Show stored FitSettings JSON (the class's last fit)."""
        def pick(combo: QComboBox, value: Any) -> None:
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)

        pick(self.backbone, data.get("backbone"))
        self.image_size.setValue(int(data.get("image_size", 224)))
        pick(self.detector, data.get("detector"))
        cls = self.detector_classes.get(self.detector.currentData())
        if cls is not None:
            self.params.set_detector(cls, data.get("detector_params") or {})
        self.aug_factor.setValue(int(data.get("aug_factor", 0)))
        self.refine_ratio.setValue(100.0 * float(data.get("refine_ratio", 0.0)))
        pick(self.calibration, data.get("calibration"))
        if data.get("calibration_parameter") is not None:
            self.calibration_parameter.setValue(float(data["calibration_parameter"]))
        pick(self.device, data.get("device"))

    # -- class binding ---------------------------------------------------------------------------
    def load_class(self) -> None:
        part = self.session.part
        self.setEnabled(part is not None)
        if part is not None and part.fit_settings:
            try:
                self.apply_settings(part.fit_settings)
            except Exception as exc:  # noqa: BLE001
                self.ctx.messages.warning(f"The saved fit settings of '{part.name}' could not be shown ({exc}).")
        self._update_notes()
        self._fill_models()

    def _update_notes(self) -> None:
        part = self.session.part
        if part is None:
            self.images_note.setText("Select a part class on the left.")
            self.policy_note.setText("")
            return
        training = self.session.training_records()
        removed = sum(1 for v in part.review_decisions.values() if v == "remove")
        text = f"<b>{len(training)}</b> training image(s) of '{part.name}'"
        if removed:
            text += f" ({removed} left out by the review)"
        if len(training) < 2:
            text += " - at least 2 are needed: add good parts on the Acquire page."
        self.images_note.setText(text)
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

    def _selected_model_id(self) -> Optional[str]:
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

    def start_fit(self, refine_ratio: Optional[float] = None) -> Optional[Task]:
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
