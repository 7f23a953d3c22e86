"""Application start-up: Qt environment fixes, QApplication, settings location, main window."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional, Sequence

ORGANIZATION = "Inspector"
APPLICATION = "Inspector"


def _neutralise_cv2_qt_plugins() -> None:
    """opencv-python points QT_QPA_PLATFORM_PLUGIN_PATH at its own Qt plugins on import.

    Those plugins belong to a different Qt build and crash PySide6, so the variable is dropped
    when it points into cv2 (before the QApplication exists).
    """
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        value = os.environ.get(name, "")
        if value and "cv2" in Path(value).parts:
            os.environ.pop(name, None)


def configure_pyqtgraph() -> None:
    """Row-major images (NumPy order) everywhere, antialiased plots, white-on-dark defaults."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def ensure_application(argv: Optional[Sequence[str]] = None):
    """The QApplication (created once), with names used by QSettings."""
    import cv2  # noqa: F401  (imported first so that its environment change can be undone)

    _neutralise_cv2_qt_plugins()
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        app = QApplication(list(argv) if argv else [sys.argv[0] if sys.argv else "inspector"])
        app.setStyle("Fusion")
    configure_pyqtgraph()
    return app


def run_gui(argv: Optional[Sequence[str]] = None) -> int:
    """Open the main window (optionally on a project folder given as first argument); returns the exit code."""
    argv = list(argv or [])
    app = ensure_application(argv)
    from inspector.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    project_arg = next((a for a in argv if not a.startswith("-")), None)
    if project_arg:
        window.open_project(Path(project_arg))
    else:
        window.reopen_last_project()
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_gui(sys.argv[1:]))
