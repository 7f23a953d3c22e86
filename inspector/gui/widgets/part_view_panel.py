"""The Inspect page's part view: the image with its heatmap, the heatmap toggle and opacity, and status.

Kept apart from the page so the page holds only the inspection logic; the toggle and opacity
act on the view directly, the two status labels are set by the page.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from inspector.gui.widgets.heatmap_view import HeatmapView


class PartViewPanel(QWidget):
    """HeatmapView above a row: Heatmap check box, opacity slider, image name and model description."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
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
        for label in (self.image_name, self.model_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        controls = QHBoxLayout()
        controls.addWidget(self.overlay_check)
        controls.addWidget(QLabel("Opacity:"))
        controls.addWidget(self.opacity)
        controls.addWidget(self.image_name, 1)
        controls.addWidget(self.model_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(controls)
        self.overlay_check.toggled.connect(self.view.set_overlay_visible)
        self.opacity.valueChanged.connect(lambda v: self.view.set_opacity(v / 100.0))
        self.view.set_opacity(0.7)
