"""The Fit page's settings form: backbone, input size and geometry, detector and its parameters, augmentation
factor, SROC refinement, working-point calibration and device.

Kept apart from the page so the page holds only the fitting and the model list; the form turns
its editors into FitSettings and back (`settings`, `apply_settings`), the page adds the class's
policy and the notes.
"""
from __future__ import annotations

import inspect
from typing import Any

from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspector.detectors.registry import DEFAULT_DETECTOR
from inspector.features.preprocess import DEFAULT_SHORT_SIDE
from inspector.types import InspectorError

CHOICES = {"covariance": ("ledoit", "empirical"), "sampler": ("greedy", "random"), "index": ("flat", "ivfflat")}
PARAM_HELP = {
    "k": "Number of nearest neighbours averaged into the score",
    "covariance": "Covariance estimator: Ledoit-Wolf shrinkage is stable with few images",
    "n_features": "Channels kept at random per location (PaDiM); fewer = faster, smaller model",
    "sigma": "Smoothing of the anomaly map (pixels of the feature grid)",
}
HIDDEN_PARAMS = {"layers", "seed", "device"}  # device follows "Run on"
#: Input geometry choices: keep the training images' aspect ratio (preprocessing v2, the default) or
#: squash to a square (v1: Inspector 0.1.0 and the seed papers' protocol), or cut large parts into
#: overlapping tiles (v3, features/tiling.py) so that small defects cover several feature cells.
GEOMETRIES = {
    "auto": "Auto (keep aspect)",
    "square": "Square (seed papers)",
    "tiles": "Tiles (small defects)",
}
CALIBRATIONS = {
    "sigma": ("mean + k x sigma of good scores", 3.0, 0.0, 10.0, 0.1),
    "quantile": ("quantile of good scores", 0.99, 0.5, 1.0, 0.005),
}


class ParamForm(QWidget):
    """Editors for a detector's constructor parameters, built from its signature."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, QWidget] = {}

    def set_detector(self, cls: type, values: dict | None = None) -> None:
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
    def _editor(name: str, default: Any, value: Any) -> QWidget | None:
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


class FitSettingsForm(QWidget):
    """Every editor of a FitSettings; `detector_classes` maps detector names to their classes."""

    def __init__(self, detector_classes: dict[str, type], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from inspector.features.backbones import BACKBONES, DEFAULT_BACKBONE

        self.detector_classes = detector_classes
        self.backbone = QComboBox()
        for name in BACKBONES:
            self.backbone.addItem(name, name)
        self.backbone.setCurrentIndex(self.backbone.findData(DEFAULT_BACKBONE))
        self.backbone.setToolTip("Frozen ImageNet backbone that turns images into features")
        self.image_size = QSpinBox()
        self.image_size.setRange(32, 1024)
        self.image_size.setSingleStep(16)
        self.image_size.setValue(DEFAULT_SHORT_SIDE)
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip(f"Short side of the backbone input ({DEFAULT_SHORT_SIDE} = default); with the automatic "
                                   "geometry the long side keeps the training images' aspect ratio")
        self.geometry = QComboBox()
        for key, label in GEOMETRIES.items():
            self.geometry.addItem(label, key)
        self.geometry.setToolTip("How images become backbone input. Auto keeps the training images' aspect ratio; "
                                 "Square squashes every image to a square as Inspector 0.1.0 and the seed papers "
                                 "did. Saved in the model and applied to every image at fit and at inspection")
        self.tile_size = QSpinBox()
        self.tile_size.setRange(0, 4096)
        self.tile_size.setSingleStep(32)
        self.tile_size.setSpecialValueText("Auto")
        self.tile_size.setSuffix(" px")
        self.tile_size.setToolTip("Side of a tile in the images' own pixels; each tile is resized to the input size. "
                                  "Auto: half the images' short side, grown until there are at most 16 tiles. "
                                  "Pick it so the smallest defect of interest spans several feature cells "
                                  "(a cell is about 8-16 input pixels)")
        self.tile_overlap = QSpinBox()
        self.tile_overlap.setRange(0, 75)
        self.tile_overlap.setSingleStep(5)
        self.tile_overlap.setValue(25)
        self.tile_overlap.setSuffix(" %")
        self.tile_overlap.setToolTip("How much neighbouring tiles overlap (at least); their maps are averaged there")
        self.geometry_note = QLabel("")
        self.geometry_note.setObjectName("geometryNote")
        self.geometry_note.setWordWrap(True)
        self.geometry_note.setStyleSheet("color: #57606a;")
        self._shapes: list[tuple[int, int]] = []
        self.detector = QComboBox()
        for name, cls in sorted(self.detector_classes.items(), key=lambda kv: kv[0] != DEFAULT_DETECTOR):
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

        for combo in (self.backbone, self.geometry, self.detector, self.calibration, self.device):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        form = QFormLayout()
        form.addRow("Backbone:", self.backbone)
        form.addRow("Input size:", self.image_size)
        form.addRow("Geometry:", self.geometry)
        form.addRow("Tile size:", self.tile_size)
        form.addRow("Tile overlap:", self.tile_overlap)
        form.addRow("", self.geometry_note)
        self._geometry_form = form
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

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(params_box)
        layout.addLayout(form2)
        layout.addStretch(1)
        self.detector.currentIndexChanged.connect(self._on_detector)
        self.calibration.currentIndexChanged.connect(self._on_calibration)
        self.geometry.currentIndexChanged.connect(lambda _i: self._update_geometry_note())
        self.image_size.valueChanged.connect(lambda _v: self._update_geometry_note())
        self.tile_size.valueChanged.connect(lambda _v: self._update_geometry_note())
        self.tile_overlap.valueChanged.connect(lambda _v: self._update_geometry_note())
        self._on_detector()
        self._update_geometry_note()
        self._on_calibration()

    def _on_detector(self, *_args) -> None:
        cls = self.detector_classes[self.detector.currentData()]
        self.params.set_detector(cls)

    def set_training_shapes(self, shapes: list[tuple[int, int]]) -> None:
        """The (height, width) of the class's training images, from which the effective input is shown."""
        self._shapes = [tuple(int(v) for v in shape[:2]) for shape in shapes]
        self._update_geometry_note()

    def effective_geometry(self) -> tuple[int, int] | None:
        """The (height, width) a fit with these settings would feed the backbone (each tile's, when tiling);
        None without images."""
        from inspector.features.preprocess import choose_geometry

        size = int(self.image_size.value())
        if self.geometry.currentData() == "square":
            return size, size
        if self.geometry.currentData() == "tiles":
            layout = self.tile_layout()
            return None if layout is None else layout.input
        return choose_geometry(self._shapes, size) if self._shapes else None

    def tile_layout(self):
        """The `TileLayout` a tiled fit would use on the class's images; None when not tiling or without images."""
        from inspector.features.tiling import choose_layout

        if self.geometry.currentData() != "tiles" or not self._shapes:
            return None
        return choose_layout(self._shapes, int(self.image_size.value()), self.tile_size.value() or None,
                             self.tile_overlap.value() / 100.0)

    def _update_geometry_note(self) -> None:
        tiling = self.geometry.currentData() == "tiles"
        for widget in (self.tile_size, self.tile_overlap):
            self._geometry_form.setRowVisible(widget, tiling)
        if tiling:
            layout = self.tile_layout()
            self.geometry_note.setText("Effective input: chosen from the training images at fit." if layout is None
                                       else f"Effective input: {layout.describe()} (height x width).")
            return
        geometry = self.effective_geometry()
        if geometry is None:
            self.geometry_note.setText("Effective input: chosen from the training images at fit.")
            return
        text = f"Effective input: {geometry[0]} x {geometry[1]} px (height x width)"
        if self._shapes:
            import numpy as np

            height, width = (int(v) for v in np.median(np.asarray(self._shapes), axis=0))
            text += f", from {len(self._shapes)} training image(s) of about {height} x {width} px"
        self.geometry_note.setText(text + ".")

    def _on_calibration(self, *_args) -> None:
        _label, default, low, high, step = CALIBRATIONS[self.calibration.currentData()]
        self.calibration_parameter.setRange(low, high)
        self.calibration_parameter.setSingleStep(step)
        self.calibration_parameter.setValue(default)
        self.calibration_parameter.setToolTip({"sigma": "k: the threshold is mean + k standard deviations",
                                               "quantile": "share of good parts that should pass (e.g. 0.99)"}[self.calibration.currentData()])

    def settings(self, policy: Any):
        """The FitSettings the form describes; `policy` is the class's saved one (used when a factor is set)."""
        from inspector.features.preprocess import PREPROCESSING_V1, PREPROCESSING_V2
        from inspector.features.tiling import PREPROCESSING_V3
        from inspector.pipeline import FitSettings

        factor = int(self.aug_factor.value())
        policy = policy if factor > 0 else None
        preprocessing = dict(PREPROCESSING_V1 if self.geometry.currentData() == "square" else PREPROCESSING_V2)
        if self.geometry.currentData() == "tiles":
            preprocessing = {**PREPROCESSING_V3, "tile_size": self.tile_size.value() or None,
                             "overlap": self.tile_overlap.value() / 100.0}
        return FitSettings(
            backbone=self.backbone.currentData(), image_size=int(self.image_size.value()),
            detector=self.detector.currentData(), detector_params=self.detector_params(),
            policy=policy, aug_factor=factor if policy is not None else 0,
            refine_ratio=float(self.refine_ratio.value()) / 100.0,
            calibration=self.calibration.currentData(), calibration_parameter=float(self.calibration_parameter.value()),
            device=self.device.currentData(), preprocessing=preprocessing,
        )

    def detector_params(self) -> dict[str, Any]:
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
        self.image_size.setValue(int(data.get("image_size", DEFAULT_SHORT_SIDE)))
        record = data.get("preprocessing") or {}
        version = record.get("version", 1)
        pick(self.geometry, {1: "square", 3: "tiles"}.get(version, "auto"))
        if version == 3:
            self.tile_size.setValue(int(record.get("tile_size") or 0))
            self.tile_overlap.setValue(int(round(100 * float(record.get("overlap", 0.25)))))
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
