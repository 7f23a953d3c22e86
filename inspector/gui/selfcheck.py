"""The GUI half of the self-test: start the QApplication and render the main window once.

Lives in inspector.gui because it imports Qt; `inspector.selftest` calls it only when asked. It
catches missing Qt plugins in a frozen bundle and OpenCV's Qt plugins shadowing PySide6's.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def check_gui(run: Any) -> None:
    """`run` is the self-test's recorder (methods `check(ok, what)` and `say(text)`)."""
    if not os.environ.get("QT_QPA_PLATFORM") and sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtCore

    from inspector.gui.app import ensure_application
    from inspector.gui.main_window import MainWindow

    app = ensure_application([sys.argv[0] if sys.argv else "inspector"])
    clash = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")
    run.check(not (clash and "cv2" in Path(clash).parts and Path(clash).is_dir()),
              "OpenCV's Qt plugins do not shadow PySide6's")
    if getattr(sys, "frozen", False):
        bundled_cv2_qt = Path(getattr(sys, "_MEIPASS", "")) / "cv2" / "qt" / "plugins"
        run.check(not bundled_cv2_qt.exists(), "the bundle carries no OpenCV Qt plugins")
    widget = MainWindow()
    widget.resize(800, 600)
    widget.show()
    app.processEvents()
    grabbed = widget.grab()
    widget.close()
    app.processEvents()
    run.say(f"  Qt {QtCore.qVersion()}, platform '{app.platformName()}', {type(widget).__name__} "
            f"{grabbed.width()}x{grabbed.height()}")
    run.check(not grabbed.isNull() and grabbed.width() > 0, "the main window renders")
