"""Camera: live frames, capture with the key shortcut, capture & inspect, and clear failures.

A fake OpenCV capture stands in for the device, behind the real `inspector.io.camera.CameraSource`.
"""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui_helpers import fit_and_wait, shutdown
from inspector.io.camera import CameraSource


class FakeCapture:
    """cv2.VideoCapture look-alike: BGR frames of a grey disc; can be 'unplugged' after n frames."""

    def __init__(self, index: int, frames_before_unplug: int | None = None, opens: bool = True) -> None:
        self.index = index
        self.opens = opens
        self.left = frames_before_unplug
        self.rng = np.random.default_rng(index)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV naming
        return self.opens

    def read(self):
        if self.left is not None:
            if self.left <= 0:
                return False, None
            self.left -= 1
        frame = np.full((64, 64, 3), 40, np.uint8)
        yy, xx = np.mgrid[:64, :64]
        frame[((yy - 32) ** 2 + (xx - 32) ** 2) < 22 ** 2] = 170
        return True, np.clip(frame + self.rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)

    def set(self, *_args) -> bool:
        return True

    def release(self) -> None:
        self.opens = False


def make_window(qtbot, factory):
    from inspector.gui.main_window import MainWindow

    window = MainWindow(camera_factory=factory)  # closed by `shutdown`
    window.show()
    return window


@pytest.fixture
def camera_window(qapp, qtbot, tmp_path, synthetic_category):
    window = make_window(qtbot, lambda index: CameraSource(index, capture_factory=lambda i: FakeCapture(i)))
    assert window.create_project(tmp_path / "project", "Camera project")
    window.session.add_class("disc")
    yield window
    shutdown(window, qtbot)


def test_live_preview_and_capture_with_space(camera_window, qtbot):
    window = camera_window
    window.show_page(0)
    panel = window.acquire_page.camera_panel
    with qtbot.waitSignal(window.ctx.camera.frame, timeout=10_000):
        panel.start_button.setChecked(True)
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None and not panel.preview.pixmap().isNull(), timeout=5_000)
    assert panel.capture_button.isEnabled()
    window.activateWindow()
    qtbot.keyClick(window.acquire_page.gallery, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(window.session.records("train")) == 1, timeout=5_000)
    record = window.session.records("train")[0]
    assert record.source == "camera"
    panel.role_test.setChecked(True)
    panel.capture_button.click()
    assert len(window.session.records("test")) == 1
    panel.start_button.setChecked(False)
    qtbot.waitUntil(lambda: not window.ctx.camera.running, timeout=5_000)
    assert not panel.capture_button.isEnabled()


@pytest.mark.slow
def test_capture_and_inspect_logs_the_part(camera_window, qtbot, synthetic_category):
    window = camera_window
    window.acquire_page.import_dataset(synthetic_category)
    qtbot.waitUntil(lambda: not window.acquire_page.importing, timeout=30_000)
    fit_and_wait(window, qtbot, "padim", 64)
    window.show_page(0)
    window.acquire_page.camera_panel.start_button.setChecked(True)
    qtbot.waitUntil(lambda: window.ctx.camera.latest_frame() is not None, timeout=10_000)
    window.show_page(4)
    inspect = window.inspect_page
    assert inspect.capture_button.isEnabled()
    task = inspect.capture_and_inspect()
    assert task is not None
    qtbot.waitUntil(lambda: inspect.task is None, timeout=60_000)
    assert len(inspect.results) == 1
    result = inspect.results[0]
    assert result.path is not None and result.path.is_file()  # kept under inspected/ for the log
    row = window.session.project.log.get(result.log_id)
    assert row["image_path"] == str(result.path) and row["verdict"] in ("PASS", "REVIEW", "FAIL")
    inspect.decide("PASS")
    assert window.session.project.log.get(result.log_id)["operator_decision"] == "PASS"


def test_missing_camera_gives_a_clear_message(qapp, qtbot, tmp_path):
    window = make_window(qtbot, lambda index: CameraSource(index, capture_factory=lambda i: FakeCapture(i, opens=False)))
    try:
        panel = window.acquire_page.camera_panel
        with qtbot.waitSignal(window.ctx.camera.failed, timeout=10_000) as blocker:
            panel.start_button.setChecked(True)
        assert "could not be opened" in blocker.args[0]
        qtbot.waitUntil(lambda: not window.ctx.camera.running, timeout=5_000)
        assert "could not be opened" in panel.status.text()
        assert not panel.start_button.isChecked() and not panel.capture_button.isEnabled()
        window.acquire_page.capture()  # pressing capture anyway explains instead of crashing
        assert "start the camera" in panel.status.text()
    finally:
        shutdown(window, qtbot)


def test_unplugged_camera_stops_with_a_message(qapp, qtbot):
    window = make_window(qtbot, lambda index: CameraSource(index, capture_factory=lambda i: FakeCapture(i, 5)))
    try:
        panel = window.acquire_page.camera_panel
        with qtbot.waitSignal(window.ctx.camera.failed, timeout=10_000) as blocker:
            panel.start_button.setChecked(True)
        assert "stopped delivering images" in blocker.args[0]
        qtbot.waitUntil(lambda: not window.ctx.camera.running, timeout=5_000)
        assert "unplugged" in panel.status.text()
        assert window.message_panel.count() >= 1
    finally:
        shutdown(window, qtbot)
