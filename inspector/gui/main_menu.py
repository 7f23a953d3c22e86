"""The main window's menus (File, Class, View, Help) and the Help dialogs.

A mixin of MainWindow, kept apart so main_window.py holds the window's assembly and project
handling; the actions stay window attributes (`action_new`, `action_open`, `action_close`,
`recent_menu`) and call the window's slots.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox


class MainMenuMixin:
    """Builds the menu bar of a MainWindow and shows the shortcuts and About boxes."""

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.action_new = self._action(file_menu, "&New project...", self.new_project_dialog, QKeySequence.StandardKey.New)
        self.action_open = self._action(file_menu, "&Open project...", self.open_project_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._action(file_menu, "Open the &demo project", lambda: self.open_demo_project())
        self.action_close = self._action(file_menu, "&Close project", self.close_project)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        class_menu = self.menuBar().addMenu("&Class")
        self._action(class_menu, "&Add part class...", self.class_panel.add_class, QKeySequence("Ctrl+Shift+N"))
        self._action(class_menu, "&Rename...", self.class_panel.rename_class)
        self._action(class_menu, "Re&move...", self.class_panel.remove_class)
        view_menu = self.menuBar().addMenu("&View")
        for index, page in enumerate(self.pages):
            self._action(view_menu, page.title.split("  ", 1)[-1], lambda i=index: self.show_page(i),
                         QKeySequence(f"Ctrl+{index + 1}"))
        view_menu.addSeparator()
        view_menu.addAction(self.class_dock.toggleViewAction())
        view_menu.addAction(self.message_dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_shortcuts, QKeySequence("F1"))
        self._action(help_menu, "&About Inspector", self.show_about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def show_page(self, index: int) -> None:
        if self.session.project is not None:
            self.tabs.setCurrentIndex(index)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.session.recent_projects()
        for path in recent:
            self._action(self.recent_menu, str(path), lambda p=path: self.open_project(p))
        if not recent:
            action = self.recent_menu.addAction("No recent projects")
            action.setEnabled(False)

    # -- shortcuts help / about ------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        text = ("<table cellpadding=3>"
                "<tr><td><b>Ctrl+1 ... Ctrl+6</b></td><td>Acquire, Augment, Fit, Review, Inspect, Log</td></tr>"
                "<tr><td><b>Space</b></td><td>Acquire: capture a frame. Inspect: capture and inspect</td></tr>"
                "<tr><td><b>T / E / Del</b></td><td>Acquire: mark selected as training / test, delete</td></tr>"
                "<tr><td><b>Ctrl+S</b></td><td>Augment: save the policy to the class</td></tr>"
                "<tr><td><b>Ctrl+Enter / Esc</b></td><td>Fit: start / cancel</td></tr>"
                "<tr><td><b>K / R</b></td><td>Review: keep / remove the selected images</td></tr>"
                "<tr><td><b>Ctrl+I / Ctrl+B</b></td><td>Inspect: open images / a folder</td></tr>"
                "<tr><td><b>N / B</b></td><td>Inspect: next / previous result</td></tr>"
                "<tr><td><b>Enter / P / F</b></td><td>Inspect: confirm the verdict / decide PASS / decide FAIL</td></tr>"
                "<tr><td><b>H</b></td><td>Inspect: show or hide the heatmap</td></tr>"
                "<tr><td><b>Ctrl+E</b></td><td>Inspect: export results to CSV</td></tr>"
                "</table>")
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", text, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.show()

    def show_about(self) -> None:
        from inspector.version import __version__

        device = self.session.device_name or "not detected yet"
        QMessageBox.about(self, "About Inspector",
                          f"<b>Inspector {__version__}</b><br>Visual inspection of small series from a few good parts: "
                          "anomaly detection on frozen ImageNet features (EfficientNet-Lite).<br><br>"
                          f"Device: {device}<br>Qt {QApplication.instance().applicationVersion() or ''}")
