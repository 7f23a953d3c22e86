"""Run-page engineer controls: the PIN dialog and the working-point / model box.

The PIN is checked (and, on a station that has none yet, set) by inspector.station.engineer, which
keeps only a salted scrypt hash. While a run is on, the box's Apply and the model choice are
refused unless an engineer has unlocked; the page logs each applied change (who, when, old, new).
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)


class EngineerDialog(QDialog):
    """Name + PIN; on a station without a PIN, the first engineer sets one (typed twice)."""

    def __init__(self, has_pin: bool, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Engineer unlock" if has_pin else "Set the engineer PIN")
        self.name = QLineEdit()
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout(self)
        if not has_pin:
            form.addRow(QLabel("No engineer PIN is set for this station yet: choose one (at least 4 characters)."))
        form.addRow("Engineer", self.name)
        form.addRow("PIN", self.pin)
        if not has_pin:
            form.addRow("PIN again", self.confirm)
        self.confirm.setVisible(not has_pin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class WorkingPointBox(QGroupBox):
    """FAIL / REVIEW values, the model, and the lock state; emits the engineer's requests."""

    apply_requested = Signal(float, object)  # fail, review (None: no review band)
    model_requested = Signal(object)  # model id
    unlock_requested = Signal()
    lock_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Working point", parent)
        self.fail = QDoubleSpinBox()
        self.review = QDoubleSpinBox()
        for spin in (self.fail, self.review):
            spin.setRange(-1e9, 1e9)
            spin.setDecimals(3)
            spin.setKeyboardTracking(False)
        self.review.setSpecialValueText("off")
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self._apply)
        self.model = QComboBox()
        self.model.setToolTip("the class's models; changing it while running needs the engineer")
        self.model.activated.connect(lambda _index: self.model_requested.emit(self.model.currentData()))
        self.unlock_button = QPushButton("Engineer unlock…")
        self.unlock_button.clicked.connect(self.unlock_requested.emit)
        self.lock_button = QPushButton("Lock")
        self.lock_button.clicked.connect(self.lock_requested.emit)
        self.lock_label = QLabel()
        self.lock_label.setWordWrap(True)
        self.change_label = QLabel()
        self.change_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("FAIL at", self.fail)
        form.addRow("REVIEW at", self.review)
        form.addRow("Model", self.model)
        buttons = QHBoxLayout()
        for button in (self.apply_button, self.unlock_button, self.lock_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.lock_label)
        layout.addWidget(self.change_label)
        self.set_lock_state(running=False, engineer=None)

    def set_values(self, fail: float, review: Optional[float]) -> None:
        self.review.setMinimum(min(fail, 0.0) - 1.0)  # the minimum shows "off"
        self.fail.setValue(fail)
        self.review.setValue(self.review.minimum() if review is None else review)

    def values(self) -> tuple[float, Optional[float]]:
        review = None if self.review.value() == self.review.minimum() else self.review.value()
        return self.fail.value(), review

    def set_models(self, models: list[tuple[str, str]], current: Optional[str]) -> None:
        """(model id, label) pairs; the current one selected."""
        self.model.clear()
        for model_id, label in models:
            self.model.addItem(label, model_id)
        index = self.model.findData(current)
        if index >= 0:
            self.model.setCurrentIndex(index)
        self.model.setEnabled(self.model.count() > 1)

    def select_model(self, model_id: Optional[str]) -> None:
        index = self.model.findData(model_id)
        if index >= 0:
            self.model.setCurrentIndex(index)

    def set_lock_state(self, running: bool, engineer: Optional[str]) -> None:
        if engineer:
            text = f"Unlocked by {engineer}: changes apply between parts and are logged."
        elif running:
            text = "Locked while running: the engineer's unlock is needed to change the model or working point."
        else:
            text = "Not running: changes apply to the next run."
        self.lock_label.setText(text)
        self.lock_button.setEnabled(bool(engineer))
        self.unlock_button.setEnabled(not engineer)

    def show_change(self, text: str) -> None:
        self.change_label.setText(text)

    def _apply(self) -> None:
        fail, review = self.values()
        self.apply_requested.emit(fail, review)
