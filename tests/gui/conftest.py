"""GUI test set-up: offscreen Qt, isolated settings, small synthetic data.

QT_QPA_PLATFORM must be set before anything imports Qt, hence at the top of this file.
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_OPENGL", "software")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def qapp_args():
    return ["inspector-tests"]


@pytest.fixture(scope="session")
def qapp(qapp_args, tmp_path_factory):
    """The application, created the way run_gui creates it, with settings in a temp folder."""
    from inspector.gui.app import ensure_application
    from PySide6.QtCore import QSettings

    app = ensure_application(qapp_args)
    settings_dir = tmp_path_factory.mktemp("qsettings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    os.environ["INSPECTOR_RECENT_FILE"] = str(settings_dir / "recent.json")
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
