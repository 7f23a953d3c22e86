"""Start-up: the window shows before the engine (torch) is imported, then the engine loads behind it,
on a worker, while the event loop keeps running (issue 15)."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    assert window.wait_for_engine() and isinstance(window.fit_page, FitPage)
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
    assert seen[-2:] == ["not_an_installed_package", "inspector.no_such_module"]  # the third-party one was skipped


def test_event_loop_keeps_ticking_while_the_engine_loads(qapp, qtbot, tmp_path, monkeypatch):
    """A slow engine module (2 s, like a cold disk) must not stop the GUI thread: on 0.1.0's
    GUI-thread load the timer below stood still for those 2 s."""
    from PySide6.QtCore import QTimer

    from gui_helpers import shutdown
    from inspector.gui import app as app_module
    from inspector.gui.main_window import MainWindow
    from inspector.gui.pages.fit import FitPage

    (tmp_path / "slow_engine_part.py").write_text("import time\ntime.sleep(2.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(app_module, "ENGINE_MODULES", ("slow_engine_part", *app_module.ENGINE_MODULES))
    window = MainWindow(defer_engine=True)
    window.show()
    beats: list[float] = []
    texts: set[str] = set()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: (beats.append(time.monotonic()), texts.add(window.status_engine.text())))
    timer.start()
    began = time.monotonic()
    window.load_engine()
    assert time.monotonic() - began < 0.5  # load_engine returns at once: the work is on a worker
    assert not window.engine_ready and window.status_engine.isVisibleTo(window)
    qtbot.waitUntil(lambda: window.engine_ready, timeout=120_000)
    timer.stop()
    took = time.monotonic() - began
    assert took >= 2.0 and isinstance(window.fit_page, FitPage)
    assert "Engine: loading slow_engine_part..." in texts  # the state was shown while it loaded
    gaps = [b - a for a, b in zip([began, *beats], beats)]
    assert len(beats) > 50, f"only {len(beats)} ticks in {took:.1f} s"
    ordered = sorted(gaps)
    assert ordered[int(0.95 * (len(ordered) - 1))] < 0.1  # ticks at < 100 ms intervals (0.1.0: one 2 s gap)
    # the longest gap, with room for this shared 2-core box's scheduling, is still far below the 2 s
    assert ordered[-1] < 0.5, f"the event loop stood still for {ordered[-1] * 1000:.0f} ms during the engine load"
    assert not window.status_engine.isVisibleTo(window)
    shutdown(window, qtbot)


@pytest.mark.slow
def test_real_engine_load_leaves_the_event_loop_running(tmp_path):
    """The real thing, in a fresh process: torch, timm and the detectors load behind the window."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", INSPECTOR_QUIT_AFTER_SHOW="engine", PYTHONPATH=str(REPO),
               INSPECTOR_CONFIG_DIR=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), INSPECTOR_NO_CAMERA_PROBE="1")
    done = subprocess.run([sys.executable, "-m", "inspector"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-800:]
    found = re.search(r"engine ready yes after ([\d.]+) s; event loop ticks: (\d+); longest gap (\d+) ms; "
                      r"95th percentile gap (\d+) ms", done.stdout)
    assert found, done.stdout[-800:]
    seconds, ticks, longest, p95 = float(found[1]), int(found[2]), int(found[3]), int(found[4])
    print(found[0])
    assert ticks > 10 * seconds  # at 10 ms a tick the loop ran most of the time (0.1.0: about 1 tick a module)
    assert p95 < 100
    assert longest < 0.5 * seconds * 1000  # 0.1.0: one gap as long as the torch import itself
