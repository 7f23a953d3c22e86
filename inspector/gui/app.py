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
    """The QApplication (created once), with names used by QSettings.

    `argv` are the arguments after the program name; Qt takes its own (-style, -platform ...).
    """
    import cv2  # noqa: F401  (imported first so that its environment change can be undone)

    _neutralise_cv2_qt_plugins()
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        program = sys.argv[0] if sys.argv and sys.argv[0] else "inspector"
        app = QApplication([program, *(argv or [])])
        app.setStyle("Fusion")
    configure_pyqtgraph()
    return app


#: Engine modules imported once at start-up, on the GUI thread, behind the shown main window.
#: Importing torch, timm, imgaug or faiss holds Python's import lock and GIL for hundreds of
#: milliseconds at a time; done lazily inside a worker, that would freeze the window mid-fit.
ENGINE_MODULES = ("torch", "timm", "inspector.pipeline", "inspector.augment.engine", "inspector.refine.sroc",
                  "inspector.visualize", "inspector.evaluation.metrics")


def preload_engine(on_module=None) -> None:
    """Import the engine's heavy modules now (see ENGINE_MODULES).

    A third-party one that fails to import is left to fail, with its own message, where it is
    used; the project's own modules are never optional, so their import errors are not hidden.
    """
    import importlib

    for name in ENGINE_MODULES:
        if on_module is not None:
            on_module(name)
        try:
            importlib.import_module(name)
        except ImportError:
            if name.startswith("inspector."):
                raise
    from inspector.detectors.registry import available_detectors

    available_detectors()


def run_gui(argv: Optional[Sequence[str]] = None) -> int:
    """Open the main window (optionally on a project folder given as first argument); returns the exit code."""
    argv = list(argv or [])
    from PySide6.QtWidgets import QApplication

    created = QApplication.instance() is None
    app = ensure_application(argv)
    # Qt removed its own options (-style fusion, -platform ...) from the new app's arguments.
    remaining = app.arguments()[1:] if created else argv
    from inspector.gui.main_window import MainWindow

    window = MainWindow(defer_engine=True)
    window.show()
    if os.environ.get("INSPECTOR_QUIT_AFTER_SHOW"):  # benchmarks/startup.py: time to the first shown window
        from PySide6.QtCore import QTimer

        def report_and_quit() -> None:
            print(f"window shown; torch imported: {'torch' in sys.modules}", flush=True)
            app.quit()

        QTimer.singleShot(0, report_and_quit)
        return int(app.exec())
    app.processEvents()
    window.load_engine()
    project_arg = next((a for a in remaining if not a.startswith("-")), None)
    if project_arg:
        window.open_project(Path(project_arg))
    else:
        window.reopen_last_project()
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_gui(sys.argv[1:]))
