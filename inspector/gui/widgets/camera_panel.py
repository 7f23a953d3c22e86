"""The Acquire page's camera box: device list with Find, live preview, Capture and the role of captures.

The camera itself runs in `inspector.gui.camera` (its own thread); this box only shows frames and
states and asks for captures. Probing for devices runs on a worker (it can take seconds).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QRadioButton,
                               QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from inspector.gui.camera import list_devices
from inspector.gui.context import AppContext
from inspector.gui.widgets.imaging import shrink, to_pixmap

HINT_STYLE = "QLabel { color: #57606a; }"
ERROR_STYLE = "QLabel { color: #b31d28; background: #ffebe9; border: 1px solid #ff8182; border-radius: 4px; padding: 4px; }"


class CameraPanel(QGroupBox):
    """Device choice, live preview and the capture button."""

    captureRequested = Signal()

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__("Camera", parent)
        self.ctx = ctx
        self.devices = QComboBox()
        self.devices.setToolTip("Camera to use (OpenCV device index)")
        self.devices.setMinimumWidth(110)
        self.devices.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.devices.setMinimumContentsLength(10)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Find")
        self.refresh_button.setToolTip("Look for connected cameras again")
        self.start_button = QPushButton("Start")
        self.start_button.setCheckable(True)
        self.start_button.setToolTip("Start or stop the live preview")
        self.preview = QLabel("Camera off.\nPick a camera and press Start,\nor add image files on the right.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(200, 150)
        self.preview.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.preview.setStyleSheet("QLabel { background: #202124; color: #c9d1d9; border-radius: 4px; }")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(HINT_STYLE)
        self.capture_button = QPushButton("Capture  (Space)")
        self.capture_button.setToolTip("Save the current frame into the class (shortcut: Space)")
        self.capture_button.setEnabled(False)
        self.capture_button.setMinimumHeight(34)
        self.role_train = QRadioButton("as training (good part)")
        self.role_test = QRadioButton("as test")
        self.role_train.setChecked(True)
        roles = QButtonGroup(self)
        roles.addButton(self.role_train)
        roles.addButton(self.role_test)
        top = QHBoxLayout()
        top.addWidget(self.devices, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.start_button)
        role_row = QHBoxLayout()
        role_row.addWidget(self.role_train)
        role_row.addWidget(self.role_test)
        role_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.capture_button)
        layout.addLayout(role_row)
        layout.addWidget(self.status)
        self.refresh_button.clicked.connect(self.refresh_devices)
        self.start_button.toggled.connect(self._on_start_toggled)
        self.capture_button.clicked.connect(self.captureRequested)
        ctx.camera.frame.connect(self._on_frame)
        ctx.camera.failed.connect(self._on_failed)
        ctx.camera.started.connect(self._on_started)
        ctx.camera.running_changed.connect(self._on_running_changed)
        self._last_frame: Optional[np.ndarray] = None
        self._probing = False
        self.set_devices([])

    def set_devices(self, devices: list[tuple[int, str]]) -> None:
        self.devices.clear()
        for index, label in devices:
            self.devices.addItem(label, index)
        if not devices:
            # Offer the usual indexes anyway: probing can miss a camera that is busy right now.
            for index in range(3):
                self.devices.addItem(f"Camera {index} (not detected)", index)
            self.status.setText("No camera detected. Connect one and press Find, or use Add files.")
        else:
            self.status.setText(f"{len(devices)} camera(s) found.")

    def refresh_devices(self) -> None:
        if self._probing:
            return
        self._probing = True
        self.refresh_button.setEnabled(False)
        self.status.setText("Looking for cameras...")

        def done() -> None:
            self._probing = False
            self.refresh_button.setEnabled(True)

        self.ctx.run(lambda _r: list_devices(), "Find cameras", on_result=self.set_devices, on_finished=done, parent=self)

    def _on_start_toggled(self, on: bool) -> None:
        if on:
            index = self.devices.currentData()
            index = 0 if index is None else int(index)
            self.status.setStyleSheet(HINT_STYLE)
            self.status.setText(f"Opening camera {index}...")
            self.ctx.camera.start(index)
        else:
            self.ctx.camera.stop()

    def _on_started(self, name: str) -> None:
        self.status.setStyleSheet(HINT_STYLE)
        self.status.setText(f"{name}: live. Press Space to capture.")

    def _on_running_changed(self, running: bool) -> None:
        self.start_button.blockSignals(True)
        self.start_button.setChecked(running)
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.blockSignals(False)
        self.capture_button.setEnabled(running)
        if not running:
            self._last_frame = None

    def _on_failed(self, message: str) -> None:
        self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(message)
        self.preview.setText("No image from the camera.")
        self.ctx.messages.warning(message)

    def _on_frame(self, frame: np.ndarray) -> None:
        self._last_frame = frame
        if not self.isVisible():
            return
        size = self.preview.size()
        small = shrink(frame, max(size.width(), size.height()))
        self.preview.setPixmap(to_pixmap(small).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                                       Qt.TransformationMode.SmoothTransformation))

    def current_frame(self) -> Optional[np.ndarray]:
        return self.ctx.camera.latest_frame() if self.ctx.camera.running else None

    def capture_role(self) -> str:
        return "train" if self.role_train.isChecked() else "test"
