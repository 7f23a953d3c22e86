"""Controls bound to `AugmentationPolicy`: one row per knob of seed 000's Table 4.

The editor only converts between widgets and a policy; it emits `policyChanged` on every edit
(the page debounces nothing: the preview runner keeps only the newest request).
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

from inspector.augment.policy import BORDER_MODES, AugmentationPolicy, Range, Translate
from inspector.gui.widgets.fill_colour import FillColourButton
from inspector.gui.widgets.range_slider import KnobRange

# knob: (label, slider span, allowed span, step, decimals, suffix, default range, tooltip)
RANGE_KNOBS: dict[str, tuple] = {
    "rotate": ("Rotate", (-45.0, 45.0), (-180.0, 180.0), 0.5, 1, " °", (-10.0, 10.0),
               "Rotate each copy by a random angle in this range (degrees)."),
    "zoom": ("Zoom", (0.8, 1.2), (0.1, 10.0), 0.01, 2, " ×", (0.98, 1.02),
             "Scale each copy by a random factor in this range (1 = unchanged)."),
    "add": ("Brightness", (-60.0, 60.0), (-255.0, 255.0), 1.0, 0, "", (-10.0, 10.0),
            "Add one random grey level in this range to every pixel (brightness change)."),
    "multiply": ("Contrast", (0.6, 1.4), (0.0, 10.0), 0.01, 2, " ×", (0.9, 1.1),
                 "Multiply every pixel by one random factor in this range (contrast change)."),
}
FLAG_KNOBS = {
    "flip_horizontal": ("Mirror left-right", "Mirror half of the copies left-right. Off for parts that have a handedness."),
    "flip_vertical": ("Mirror top-bottom", "Mirror half of the copies top-bottom."),
    "rotate90": ("90° rotations", "Turn copies by 90, 180 or 270 degrees (textures, round parts)."),
}


#: The Shift sliders' span (px at the working size); the spin boxes accept up to 10,000.
SHIFT_SLIDER_MAX = 60
BORDER_LABELS = {
    "reflect": ("Reflect", "Mirror the image into the uncovered strip (may show ghost edges: a second rim)"),
    "constant": ("Constant", "Fill the uncovered strip with one grey level or colour (the button beside)"),
    "edge": ("Repeat edge", "Repeat the last pixel row / column outwards"),
    "symmetric": ("Symmetric", "Mirror including the edge pixel"),
    "wrap": ("Wrap around", "Fill with the opposite side of the image (textures that tile)"),
}


class TranslateKnob(QWidget):
    """[x] Shift, then one full-width row per axis: x ±[spin] px ---o---, y ±[spin] px ---o---.

    One row per axis gives each slider the editor's width, so one slider step (1 px) is a few
    pixels of mouse travel; 0.1.0 put both in one row (about 30 px each, ±5 jumped to ±60).
    """

    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.check = QCheckBox("Shift")
        self.check.setMinimumWidth(100)
        self.check.setToolTip("Shift each copy by a random whole number of pixels in [-x, x] and [-y, y].")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.check)
        self.sliders: dict[str, QSlider] = {}
        self.spins: dict[str, QSpinBox] = {}
        for axis in ("x", "y"):
            row = QHBoxLayout()
            row.setContentsMargins(24, 0, 0, 0)
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, SHIFT_SLIDER_MAX)
            slider.setSingleStep(1)
            slider.setPageStep(5)
            slider.setMinimumWidth(120)
            slider.setToolTip(f"Largest shift along {axis} (0-{SHIFT_SLIDER_MAX} px; type larger values in the box)")
            spin = QSpinBox()
            spin.setRange(0, 10_000)
            spin.setSuffix(" px")
            spin.setPrefix(f"±{axis} ")
            spin.setKeyboardTracking(False)
            spin.setToolTip(f"Largest shift along {axis}, either way (pixels of the original image)")
            spin.setMinimumWidth(96)
            slider.valueChanged.connect(lambda v, s=spin: s.setValue(v))
            spin.valueChanged.connect(lambda v, sl=slider: self._on_spin(sl, v))
            row.addWidget(spin)
            row.addWidget(slider, 1)
            layout.addLayout(row)
            self.sliders[axis], self.spins[axis] = slider, spin
        self.check.toggled.connect(self._on_toggled)
        self._updating = False
        self.set_value(None)

    def value(self) -> Optional[Translate]:
        if not self.check.isChecked():
            return None
        return Translate(int(self.spins["x"].value()), int(self.spins["y"].value()))

    def set_value(self, value: Optional[Translate]) -> None:
        self._updating = True
        try:
            self.check.setChecked(value is not None)
            if value is not None:
                for axis in ("x", "y"):
                    self.spins[axis].setValue(getattr(value, axis))
                    self.sliders[axis].setValue(min(getattr(value, axis), self.sliders[axis].maximum()))
            elif self.spins["x"].value() == 0 and self.spins["y"].value() == 0:
                for axis in ("x", "y"):
                    self.spins[axis].setValue(5)
                    self.sliders[axis].setValue(5)
            self._sync_enabled()
        finally:
            self._updating = False

    def _sync_enabled(self) -> None:
        for widget in (*self.sliders.values(), *self.spins.values()):
            widget.setEnabled(self.check.isChecked())

    def _on_toggled(self, _on: bool) -> None:
        self._sync_enabled()
        if not self._updating:
            self.changed.emit()

    def _on_spin(self, slider: QSlider, value: int) -> None:
        shown = min(value, slider.maximum())  # a typed value beyond the slider parks it at its end
        if slider.value() != shown:
            slider.blockSignals(True)
            slider.setValue(shown)
            slider.blockSignals(False)
        if not self._updating:
            self.changed.emit()


class PolicyEditor(QWidget):
    """All knobs of an AugmentationPolicy. `policy()` reads them, `set_policy()` shows one."""

    policyChanged = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        geometric = QGroupBox("Geometry")
        geo_layout = QVBoxLayout(geometric)
        self.flags: dict[str, QCheckBox] = {}
        flag_row = QGridLayout()  # two columns: fits the 1024 x 700 window's narrow editor
        for index, (knob, (label, tip)) in enumerate(FLAG_KNOBS.items()):
            box = QCheckBox(label)
            box.setToolTip(tip)
            box.toggled.connect(self._emit)
            self.flags[knob] = box
            flag_row.addWidget(box, index // 2, index % 2)
        flag_row.setColumnStretch(2, 1)
        geo_layout.addLayout(flag_row)
        self.translate = TranslateKnob()
        self.translate.changed.connect(self._emit)
        geo_layout.addWidget(self.translate)
        self.ranges: dict[str, KnobRange] = {}
        border_row = QHBoxLayout()
        border_row.addWidget(QLabel("Border fill:"))
        self.border = QComboBox()
        for mode in BORDER_MODES:
            label, tip = BORDER_LABELS[mode]
            self.border.addItem(label, mode)
            self.border.setItemData(self.border.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.border.setToolTip("How shifts, rotations and zooms fill the pixels they uncover")
        self.border_value = FillColourButton()
        self.border.currentIndexChanged.connect(self._on_border)
        self.border_value.valueChanged.connect(self._emit)
        border_row.addWidget(self.border, 1)
        border_row.addWidget(self.border_value)
        photometric = QGroupBox("Light")
        photo_layout = QVBoxLayout(photometric)
        for knob, (label, span, allowed, step, decimals, suffix, default, tip) in RANGE_KNOBS.items():
            row = KnobRange(label, span, allowed, step, decimals, suffix, tip, default)
            row.changed.connect(self._emit)
            self.ranges[knob] = row
            (photo_layout if knob in ("add", "multiply") else geo_layout).addWidget(row)
        geo_layout.addLayout(border_row)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #57606a;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(geometric)
        layout.addWidget(photometric)
        layout.addWidget(self.summary)
        self._name = "custom"
        self._updating = False
        self.set_policy(AugmentationPolicy(name="none"))

    def policy(self) -> AugmentationPolicy:
        """The policy shown (validated; the spin boxes keep every value in its allowed span)."""
        ranges = {knob: (None if row.value() is None else Range(*row.value())) for knob, row in self.ranges.items()}
        return AugmentationPolicy(
            flip_horizontal=self.flags["flip_horizontal"].isChecked(),
            flip_vertical=self.flags["flip_vertical"].isChecked(),
            translate=self.translate.value(),
            rotate=ranges["rotate"],
            rotate90=self.flags["rotate90"].isChecked(),
            zoom=ranges["zoom"],
            add=ranges["add"],
            multiply=ranges["multiply"],
            border=self.border.currentData(),
            border_value=self.border_value.value() if self.border.currentData() == "constant" else 0,
            name=self._name,
        ).validate()

    def set_policy(self, policy: AugmentationPolicy) -> None:
        self._updating = True
        try:
            self._name = policy.name
            for knob, box in self.flags.items():
                box.setChecked(bool(getattr(policy, knob)))
            self.translate.set_value(policy.translate)
            for knob, row in self.ranges.items():
                value = getattr(policy, knob)
                row.set_value(None if value is None else (value.low, value.high))
            self.border.setCurrentIndex(max(0, self.border.findData(policy.border)))
            self.border_value.set_value(policy.border_value)
            self.border_value.setEnabled(policy.border == "constant")
        finally:
            self._updating = False
        self.summary.setText(policy.describe())

    def _on_border(self, _index: int) -> None:
        self.border_value.setEnabled(self.border.currentData() == "constant")
        self._emit()

    def _emit(self, *_args) -> None:
        if self._updating:
            return
        self._name = "custom"
        self.summary.setText(self.policy().describe())
        self.policyChanged.emit()
