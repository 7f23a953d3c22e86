"""Start-up: the window shows before the engine (torch) is imported, then the engine loads behind it (issue 15)."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_window_shows_before_torch_is_imported(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", INSPECTOR_QUIT_AFTER_SHOW="1", PYTHONPATH=str(REPO),
               INSPECTOR_CONFIG_DIR=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), INSPECTOR_NO_CAMERA_PROBE="1")
    done = subprocess.run([sys.executable, "-m", "inspector"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-800:]
    assert "window shown; torch imported: False" in done.stdout


def test_deferred_engine_builds_the_fit_page(qapp, qtbot):
    from gui_helpers import shutdown
    from inspector.gui.main_window import MainWindow
    from inspector.gui.pages.fit import FitPage

    window = MainWindow(defer_engine=True)
    window.show()
    assert not window.engine_ready and not isinstance(window.fit_page, FitPage)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    window.load_engine()
    assert window.engine_ready and isinstance(window.fit_page, FitPage)
    assert window.tabs.indexOf(window.fit_page) == 2 and window.pages[2] is window.fit_page
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == titles
    shutdown(window, qtbot)


def test_preload_never_hides_a_broken_project_module(monkeypatch):
    """`except ImportError: pass` around the project's own modules hid real bugs (issue 14)."""
    import pytest

    from inspector.gui import app

    monkeypatch.setattr(app, "ENGINE_MODULES", ("not_an_installed_package", "inspector.no_such_module"))
    seen = []
    with pytest.raises(ImportError, match="inspector.no_such_module"):
        app.preload_engine(seen.append)
    assert seen == ["not_an_installed_package", "inspector.no_such_module"]  # the third-party one was skipped
