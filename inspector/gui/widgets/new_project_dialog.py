"""New project: a name and the folder it goes in, created if it does not exist yet.

0.1.0 asked for an existing folder (Qt's folder picker): typing a new folder's name gave
"Directory not found" and the user had to find the picker's New Folder button. Here the user
types a name, picks (or types) where it goes, and sees which folder will be created before
pressing Create; a folder that already holds something is refused with the reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

from inspector.store.names import file_name_problem
from inspector.store.schema import PROJECT_FILE

_OK_STYLE = "color: #57606a;"
_ERROR_STYLE = "color: #b31d28;"


def folder_problem(folder: Path) -> Optional[str]:
    """Why a new project cannot go in `folder`, or None (it may not exist yet: it is then created)."""
    if (folder / PROJECT_FILE).exists():
        return f"{folder} already holds a project: open it instead (File > Open project)."
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a folder."
    if folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir()):
        return f"{folder} is not empty: choose another name or location."
    return None


class NewProjectDialog(QDialog):
    """Name + location; `folder()` is location / name, and Create is enabled only when it can be used."""

    def __init__(self, parent: Optional[QWidget] = None, location: Optional[Path] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.name_edit = QLineEdit("Inspection")
        self.name_edit.setToolTip("The project's name; its folder gets the same name")
        self.location_edit = QLineEdit(str(location or Path.home()))
        self.location_edit.setToolTip("The folder the project folder goes in (typed folders that do not exist are created)")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        location_row = QHBoxLayout()
        location_row.addWidget(self.location_edit, 1)
        location_row.addWidget(browse)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("Create in:", location_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._update)
        self.location_edit.textChanged.connect(self._update)
        self.setMinimumWidth(520)
        self._update()

    def name(self) -> str:
        return self.name_edit.text().strip()

    def folder(self) -> Path:
        return Path(self.location_edit.text().strip()).expanduser() / self.name()

    def problem(self) -> Optional[str]:
        if not self.location_edit.text().strip():
            return "Choose where the project goes."
        name_problem = file_name_problem(self.name())
        if name_problem is not None:
            return f"The name cannot be a folder name: {name_problem}."
        return folder_problem(self.folder())

    def _update(self) -> None:
        problem = self.problem()
        if problem is None:
            folder = self.folder()
            self.folder_label.setText(f"The project goes in {folder}" + ("" if folder.exists() else " (a new folder)."))
        else:
            self.folder_label.setText(problem)
        self.folder_label.setStyleSheet(_OK_STYLE if problem is None else _ERROR_STYLE)
        self.create_button.setEnabled(problem is None)

    def _browse(self) -> None:
        start = self.location_edit.text().strip() or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Where the project folder goes", start)
        if chosen:
            self.location_edit.setText(chosen)
