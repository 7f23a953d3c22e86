"""The main window's left dock: the project's part classes, with add / rename / remove and a summary.

Its own module so main_window.py holds only the window's assembly; MainWindow's menus call the
panel's add / rename / remove slots.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QListWidget, QListWidgetItem, QMessageBox,
                               QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from inspector.gui.context import AppContext


class ClassPanel(QWidget):
    """Part classes of the project, with a one-line summary of the selected one."""

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.project_label = QLabel("No project")
        self.project_label.setWordWrap(True)
        self.project_label.setStyleSheet("font-weight: bold;")
        self.list = QListWidget()
        self.list.setToolTip("Part classes (part references). Each has its own images, policy and models.")
        self.add_button = QToolButton()
        self.add_button.setText("Add...")
        self.add_button.setToolTip("Add a part class (Ctrl+Shift+N)")
        self.rename_button = QToolButton()
        self.rename_button.setText("Rename...")
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove...")
        for button in (self.add_button, self.rename_button, self.remove_button):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.remove_button.setToolTip("Remove the class with its images and models")
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setStyleSheet("color: #57606a;")
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.project_label)
        layout.addWidget(QLabel("Part classes:"))
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.details)
        self.add_button.clicked.connect(self.add_class)
        self.rename_button.clicked.connect(self.rename_class)
        self.remove_button.clicked.connect(self.remove_class)
        self.list.currentItemChanged.connect(self._on_current)
        for signal in (self.session.project_changed, self.session.classes_changed):
            signal.connect(self.refresh)
        for signal in (self.session.class_changed, self.session.images_changed, self.session.model_changed,
                       self.session.review_changed):
            signal.connect(self.update_details)
        self.refresh()

    def refresh(self) -> None:
        project = self.session.project
        self.project_label.setText(f"Project: {project.name}" if project else "No project open")
        self.project_label.setToolTip(str(project.root) if project else "")
        self.list.blockSignals(True)
        self.list.clear()
        for name in self.session.class_names():
            item = QListWidgetItem(name)
            self.list.addItem(item)
            if name == self.session.class_name:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        for widget in (self.add_button, self.list):
            widget.setEnabled(project is not None)
        self.update_details()

    def update_details(self) -> None:
        part = self.session.part
        self.rename_button.setEnabled(part is not None)
        self.remove_button.setEnabled(part is not None)
        if self.list.currentItem() is None or (part and self.list.currentItem().text() != part.name):
            matches = self.list.findItems(part.name, Qt.MatchFlag.MatchExactly) if part else []
            if matches:
                self.list.blockSignals(True)
                self.list.setCurrentItem(matches[0])
                self.list.blockSignals(False)
        if part is None:
            self.details.setText("Add a part class to start." if self.session.project else "")
            return
        train = len(self.session.records("train"))
        test = len(self.session.records("test"))
        if self.session.model is not None:
            model = f"model {self.session.model.model_id} ({self.session.model.settings.detector})"
        elif self.session.model_loading:
            model = "loading model..."
        else:
            model = "no model yet"
        self.details.setText(f"{train} training, {test} test images\n{model}")

    def _on_current(self, current: Optional[QListWidgetItem], _previous) -> None:
        if current is not None:
            self.session.select_class(current.text())

    def add_class(self) -> None:
        if self.session.project is None:
            return
        name, ok = QInputDialog.getText(self, "Add part class", "Name of the part class (e.g. the part reference):")
        if ok and name.strip():
            try:
                self.session.add_class(name.strip())
            except Exception as exc:  # noqa: BLE001
                self.ctx.report_error("Could not add the class", exc, self)

    def rename_class(self) -> None:
        part = self.session.part
        if part is None:
            return
        name, ok = QInputDialog.getText(self, "Rename part class", "New name:", text=part.name)
        if ok and name.strip() and name.strip() != part.name:
            try:
                self.session.rename_class(part.name, name.strip())
            except Exception as exc:  # noqa: BLE001
                self.ctx.report_error("Could not rename the class", exc, self)

    def remove_class(self) -> None:
        part = self.session.part
        if part is None:
            return
        answer = QMessageBox.question(self, "Remove part class",
                                      f"Remove '{part.name}' with its {len(part.images)} image(s), its policy and its "
                                      "models? This cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes:
            try:
                self.session.remove_class(part.name)
            except Exception as exc:  # noqa: BLE001
                self.ctx.report_error("Could not remove the class", exc, self)

