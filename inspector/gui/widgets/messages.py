"""Readable errors: a dialog with the details one click away, and a message panel.

Every message the application shows also lands in the panel (a dock), with its time and, for
errors, the full technical details (double-click a row to see them).
"""
from __future__ import annotations

import time
from typing import Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import QMessageBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from inspector.gui.workers import ErrorInfo

LEVEL_COLORS = {"error": "#b31d28", "warning": "#8a6100", "info": "#24292e"}


class MessageHub(QObject):
    """Application-wide message bus: pages post, the panel and the status bar listen."""

    posted = Signal(str, str, str)  # level, text, details

    def info(self, text: str, details: str = "") -> None:
        self.posted.emit("info", text, details)

    def warning(self, text: str, details: str = "") -> None:
        self.posted.emit("warning", text, details)

    def error(self, text: str, details: str = "") -> None:
        self.posted.emit("error", text, details)


def show_error(parent: Optional[QWidget], title: str, error: ErrorInfo | str, details: str = "") -> QMessageBox:
    """A non-blocking error box: the message in plain words, the traceback under 'Show Details...'."""
    if isinstance(error, ErrorInfo):
        text, details = error.message, error.details
    else:
        text = error
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.setObjectName("errorDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.show()
    return box


class MessagePanel(QWidget):
    """Time / level / message list; double-click an entry with details to read them."""

    def __init__(self, hub: MessageHub, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Time", "Level", "Message"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setColumnWidth(0, 70)
        self.tree.setColumnWidth(1, 60)
        self.tree.setMinimumHeight(40)
        self.tree.itemDoubleClicked.connect(self._show_details)
        self.tree.setToolTip("Messages of this session. Double-click an error to see its details.")
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        clear = QAction("Clear messages", self.tree)
        clear.triggered.connect(self.tree.clear)
        self.tree.addAction(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tree)
        hub.posted.connect(self.add)

    def add(self, level: str, text: str, details: str = "") -> None:
        item = QTreeWidgetItem([time.strftime("%H:%M:%S"), level.upper(), text + ("  [details]" if details else "")])
        item.setData(0, Qt.ItemDataRole.UserRole, details)
        item.setData(2, Qt.ItemDataRole.ToolTipRole, text)
        item.setForeground(1, QBrush(QColor(LEVEL_COLORS.get(level, "#24292e"))))
        item.setForeground(2, QBrush(QColor(LEVEL_COLORS.get(level, "#24292e"))))
        self.tree.addTopLevelItem(item)
        self.tree.scrollToItem(item)

    def count(self) -> int:
        return self.tree.topLevelItemCount()

    def _show_details(self, item: QTreeWidgetItem, _column: int) -> None:
        details = item.data(0, Qt.ItemDataRole.UserRole)
        text = item.text(2).replace("  [details]", "")
        if details:
            show_error(self, "Message details", text, details)
