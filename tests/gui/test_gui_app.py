"""Application shell: start-up, layout persistence, recent projects, errors, the Qt-free core."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from gui_helpers import shutdown
from inspector.gui.app import _neutralise_cv2_qt_plugins, run_gui
from inspector.store.project import Project

REPO = Path(__file__).resolve().parents[2]


def test_cv2_plugin_path_is_dropped_but_others_kept(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", "/x/site-packages/cv2/qt/plugins")
    _neutralise_cv2_qt_plugins()
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", "/opt/qt/plugins")
    _neutralise_cv2_qt_plugins()
    assert os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] == "/opt/qt/plugins"


def test_run_gui_opens_the_project_given_and_returns_zero(qapp, tmp_path):
    project = Project.create(tmp_path / "p", "Started")
    project.add_class("gear")
    project.close()
    seen = {}

    def close_soon():
        from inspector.gui.main_window import MainWindow

        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.isVisible():
                seen["title"] = widget.windowTitle()
                seen["classes"] = widget.session.class_names()
        # Closing the last window ends exec() (an extra quit() would leave later event loops dead).
        for widget in QApplication.topLevelWidgets():
            if widget.isVisible():
                widget.close()

    QTimer.singleShot(1500, close_soon)
    assert run_gui([str(tmp_path / "p")]) == 0
    assert seen == {"title": "Inspector - Started", "classes": ["gear"]}


def test_layout_is_restored_on_next_start(window, qtbot, tmp_path):
    window.resize(1111, 777)
    window.create_project(tmp_path / "layout", "Layout")
    window.show_page(2)
    splitter = window.fit_page.splitter
    splitter.setSizes([300, 700])
    sizes = splitter.sizes()
    window.save_layout()
    from inspector.gui.main_window import MainWindow

    second = MainWindow()
    second.show()
    qtbot.waitExposed(second)
    try:
        assert second.open_project(tmp_path / "layout")  # as on a restart that reopens the last project
        qtbot.wait(100)
        assert second.size().width() == 1111 and second.size().height() == 777
        assert second.fit_page.splitter.sizes() == sizes
        assert second.tabs.currentIndex() == 2
        assert QSettings().value("layout/version", 0, type=int) == 1
    finally:
        shutdown(second, qtbot)


def test_recent_projects_are_remembered_and_reopened(window, qtbot, tmp_path):
    assert window.create_project(tmp_path / "recent", "Recent")
    window.close_project()
    assert window.welcome.recent.count() == 1
    assert "recent" in window.welcome.recent.item(0).text()
    window.reopen_last_project()
    assert window.session.project is not None and window.session.project.name == "Recent"
    assert window.stack.currentWidget() is window.tabs


def test_opening_a_bad_folder_shows_a_readable_error(window, qtbot, tmp_path):
    (tmp_path / "not-a-project").mkdir()
    assert not window.open_project(tmp_path / "not-a-project")
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.objectName() == "errorDialog"
             and w.isVisible()]
    assert boxes, "an error dialog must be shown"
    box = boxes[-1]
    assert "not an Inspector project" in box.text()
    assert "Traceback" in box.detailedText()  # details one click away
    box.close()
    assert window.message_panel.count() >= 1
    assert window.session.project is None


def test_fit_needs_two_images_and_says_so(window, qtbot, tmp_path):
    window.create_project(tmp_path / "empty", "Empty")
    window.session.add_class("bolt")
    window.show_page(2)
    assert not window.fit_page.fit_button.isEnabled()
    assert "at least 2" in window.fit_page.images_note.text()
    assert window.fit_page.start_fit() is None


def test_class_management(window, qtbot, tmp_path, monkeypatch):
    window.create_project(tmp_path / "classes", "Classes")
    window.session.add_class("a")
    window.session.add_class("b")
    assert window.class_panel.list.count() == 2
    assert window.session.class_name == "b"
    window.class_panel.list.setCurrentRow(0)
    assert window.session.class_name == "a"
    window.session.rename_class("a", "alpha")
    assert [window.class_panel.list.item(i).text() for i in range(2)] == ["alpha", "b"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.class_panel.remove_class()
    assert window.session.class_names() == ["b"]


def test_core_never_imports_qt():
    """Every module outside inspector.gui imports with PySide6 and pyqtgraph blocked."""
    code = r"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'):
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, Block())
import inspector
failed = []
for info in pkgutil.walk_packages(inspector.__path__, 'inspector.'):
    if info.name.startswith('inspector.gui') or info.name == 'inspector.__main__':
        continue
    try:
        importlib.import_module(info.name)
    except ImportError as exc:
        if 'blocked' in str(exc):
            failed.append(f'{info.name}: {exc}')
print('\n'.join(failed))
sys.exit(1 if failed else 0)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_project_is_one_click_from_the_welcome_page(window, qtbot, tmp_path):
    assert window.open_demo_project(tmp_path)
    qtbot.waitUntil(lambda: not window.acquire_page.importing, timeout=60_000)
    assert window.session.project.root == tmp_path / "demo-1"
    assert window.session.class_names() == ["flange"]
    assert len(window.session.records("train")) > 5 and len(window.session.records("test")) > 5
    assert window.tabs.currentWidget() is window.acquire_page
