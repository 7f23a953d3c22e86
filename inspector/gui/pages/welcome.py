"""Shown when no project is open: new, open, recent projects, and the demo project."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget


class WelcomePage(QWidget):
    newRequested = Signal()
    openRequested = Signal()
    demoRequested = Signal()
    recentChosen = Signal(Path)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        title = QLabel("Inspector")
        title.setStyleSheet("font-size: 28px; font-weight: bold;")
        subtitle = QLabel("Visual inspection from a few good parts. A project holds your part classes, their images, "
                          "augmentation policies, fitted models and the inspection log.")
        subtitle.setWordWrap(True)
        steps = QLabel("<ol><li><b>Acquire</b> good parts (camera, files or a dataset folder)</li>"
                       "<li><b>Augment</b>: tune the augmentation policy with a live preview</li>"
                       "<li><b>Fit</b> a model (a minute on a CPU)</li>"
                       "<li><b>Review</b> the training images SROC finds suspicious</li>"
                       "<li><b>Inspect</b> parts: heatmap, PASS / REVIEW / FAIL, adjustable working point</li>"
                       "<li><b>Log</b>: every inspection, exportable to CSV</li></ol>")
        steps.setTextFormat(Qt.TextFormat.RichText)
        self.new_button = QPushButton("New project...")
        self.new_button.setToolTip("Create a project in a new or empty folder (Ctrl+N)")
        self.open_button = QPushButton("Open project...")
        self.open_button.setToolTip("Open a project folder (Ctrl+O)")
        self.demo_button = QPushButton("Try the demo project")
        self.demo_button.setToolTip("A project with the bundled demo part, ready to fit")
        for button in (self.new_button, self.open_button, self.demo_button):
            button.setMinimumHeight(36)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        self.recent = QListWidget()
        self.recent.setToolTip("Double-click to open")
        self.recent.setMaximumHeight(220)
        column = QVBoxLayout()
        column.addWidget(title)
        column.addWidget(subtitle)
        column.addWidget(steps)
        column.addLayout(buttons)
        column.addSpacing(12)
        column.addWidget(QLabel("<b>Recent projects</b>"))
        column.addWidget(self.recent)
        column.addStretch(1)
        box = QWidget()
        box.setLayout(column)
        box.setMaximumWidth(760)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(box, 4)
        outer.addStretch(1)
        self.new_button.clicked.connect(self.newRequested)
        self.open_button.clicked.connect(self.openRequested)
        self.demo_button.clicked.connect(self.demoRequested)
        self.recent.itemActivated.connect(lambda item: self.recentChosen.emit(Path(item.data(Qt.ItemDataRole.UserRole))))

    def set_recent(self, paths: list[Path]) -> None:
        self.recent.clear()
        for path in paths:
            item = QListWidgetItem(f"{path.name}    ({path})")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.recent.addItem(item)
        if not paths:
            item = QListWidgetItem("No recent projects.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)
