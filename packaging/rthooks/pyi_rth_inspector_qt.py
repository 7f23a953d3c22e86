"""Runtime hook (every flavour): PySide6's Qt plugins must win over OpenCV's.

opencv-python points QT_QPA_PLATFORM_PLUGIN_PATH / QT_QPA_FONTDIR at its own Qt5 plugins. An
inherited value (e.g. the app started from a shell where cv2 ran) is dropped here; the bundle
carries no cv2/qt folder, so the value cv2 sets again on import points nowhere, and
inspector.gui.app drops it too before the QApplication is made.
"""
import os


def _drop_cv2_qt_paths() -> None:
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        value = os.environ.get(name, "")
        if value and "cv2" in value.replace("\\", "/").split("/"):
            del os.environ[name]


_drop_cv2_qt_paths()
