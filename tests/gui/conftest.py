"""GUI test set-up: offscreen Qt, isolated settings, small synthetic data.

QT_QPA_PLATFORM must be set before anything imports Qt, hence at the top of this file.
"""
from __future__ import annotations

import os

import json  # noqa: E402
import tempfile  # noqa: E402

if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    # A 1920x1080 virtual screen (the offscreen default, 800x800, is smaller than the window).
    _screen = os.path.join(tempfile.mkdtemp(prefix="inspector-qpa-"), "offscreen.json")
    with open(_screen, "w", encoding="utf-8") as _handle:
        json.dump({"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}, _handle)
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screen}"
os.environ.setdefault("QT_OPENGL", "software")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def qapp_args():
    return []  # arguments after the program name


@pytest.fixture(scope="session")
def qapp(qapp_args, tmp_path_factory):
    """The application, created the way run_gui creates it, with settings in a temp folder."""
    from inspector.gui.app import ensure_application
    from PySide6.QtCore import QSettings

    app = ensure_application(qapp_args)
    from inspector.gui.app import preload_engine

    preload_engine()  # as run_gui does behind its splash screen
    settings_dir = tmp_path_factory.mktemp("qsettings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    yield app


def _part(rng: np.random.Generator, size: int, defect: bool) -> np.ndarray:
    """A grey disc 'part' with mild texture; defects are a dark blob at a random place."""
    yy, xx = np.mgrid[:size, :size]
    center = size / 2 + rng.normal(0, 0.5, 2)
    disc = ((yy - center[0]) ** 2 + (xx - center[1]) ** 2) < (size * 0.35) ** 2
    image = np.full((size, size, 3), 40, dtype=np.float64)
    image[disc] = 170
    image += rng.normal(0, 4, image.shape)
    if defect:
        cy, cx = rng.integers(size // 3, 2 * size // 3, 2)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2) < (size * 0.08) ** 2
        image[blob] = [200, 30, 30]
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def synthetic_category(tmp_path_factory) -> Path:
    """An MVTec-style tree: train/good (10), test/good (3), test/blob (3), 64x64 PNGs."""
    from inspector.io.images import save_image

    root = tmp_path_factory.mktemp("data") / "disc"
    rng = np.random.default_rng(0)
    for folder, count, defect in (("train/good", 10, False), ("test/good", 3, False), ("test/blob", 3, True)):
        for index in range(count):
            save_image(root / folder / f"{index:03d}.png", _part(rng, 64, defect))
    return root


@pytest.fixture(autouse=True)
def _isolated_user_files(tmp_path, monkeypatch):
    """Recent-projects list and camera probing never touch the real user or devices."""
    monkeypatch.setenv("INSPECTOR_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INSPECTOR_NO_CAMERA_PROBE", "1")


@pytest.fixture
def window(qapp, qtbot):
    from inspector.gui.main_window import MainWindow

    win = MainWindow()  # not qtbot.addWidget: pytest-qt would close it before this fixture's teardown
    win.resize(1280, 820)
    win.show()
    yield win
    from gui_helpers import shutdown

    shutdown(win, qtbot)


@pytest.fixture
def project_window(window, tmp_path, synthetic_category, qtbot):
    """A window with a new project, class 'disc' and the synthetic dataset imported."""
    assert window.create_project(tmp_path / "project", "Test project")
    window.session.add_class("disc")
    window.acquire_page.import_dataset(synthetic_category)
    qtbot.waitUntil(lambda: not window.acquire_page.importing, timeout=30_000)
    return window
