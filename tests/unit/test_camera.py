"""Camera input with a fake OpenCV capture: frames come out RGB, a lost camera says so clearly."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from inspector.io.camera import CameraError, CameraSource, frame_to_rgb, list_cameras
from inspector.types import InspectorError


class FakeCapture:
    """Behaves like cv2.VideoCapture: BGR frames until `unplug()`."""

    def __init__(self, index: int, opened: bool = True, frames: int = 10**9, frame=None) -> None:
        self.index = index
        self.opened = opened
        self.left = frames
        self.frame = frame if frame is not None else np.dstack([np.full((4, 5), v, np.uint8) for v in (10, 20, 30)])
        self.released = False
        self.props: dict[int, float] = {}
        self.reads = 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened and not self.released

    def read(self):
        self.reads += 1
        if self.left <= 0 or self.released:
            return False, None
        self.left -= 1
        return True, self.frame.copy()

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def release(self) -> None:
        self.released = True

    def unplug(self) -> None:
        self.left = 0


def test_frames_are_rgb_and_close_releases():
    made: list[FakeCapture] = []

    def factory(index):
        made.append(FakeCapture(index))
        return made[-1]

    with CameraSource(2, capture_factory=factory) as camera:
        assert camera.is_open and made[0].index == 2
        frame = camera.read()
        assert frame.dtype == np.uint8 and frame.shape == (4, 5, 3)
        assert frame[0, 0].tolist() == [30, 20, 10]  # BGR -> RGB
    assert made[0].released and not camera.is_open
    camera.open()  # reopening works after a close
    assert len(made) == 2 and camera.read().shape == (4, 5, 3)
    camera.close()


def test_missing_camera_is_a_clear_error():
    camera = CameraSource(7, capture_factory=lambda i: FakeCapture(i, opened=False))
    with pytest.raises(CameraError, match="Camera 7 could not be opened: it is not connected"):
        camera.open()
    assert not camera.is_open and issubclass(CameraError, InspectorError)

    def broken_factory(index):
        raise RuntimeError("driver exploded")

    with pytest.raises(CameraError, match="driver exploded"):
        CameraSource(0, capture_factory=broken_factory).open()


def test_unplugged_camera_raises_on_read():
    capture = FakeCapture(0)
    camera = CameraSource(0, capture_factory=lambda i: capture, read_attempts=3).open()
    assert camera.read().shape == (4, 5, 3)
    capture.unplug()
    with pytest.raises(CameraError, match="stopped delivering images.*unplugged"):
        camera.read()
    assert capture.reads == 1 + 3  # retried before giving up (single dropped frames are normal)


def test_one_dropped_frame_is_tolerated():
    capture = FakeCapture(0)
    original = capture.read
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        return (False, None) if calls["n"] == 1 else original()

    capture.read = flaky
    camera = CameraSource(0, capture_factory=lambda i: capture).open()
    assert camera.read().shape == (4, 5, 3)


def test_exception_in_read_becomes_camera_error():
    capture = FakeCapture(0)

    def explode():
        raise OSError("USB transfer failed")

    capture.read = explode
    camera = CameraSource(0, capture_factory=lambda i: capture, read_attempts=2).open()
    with pytest.raises(CameraError, match="USB transfer failed"):
        camera.read()


def test_read_before_open_and_resolution():
    with pytest.raises(CameraError, match="not open"):
        CameraSource(0, capture_factory=FakeCapture).read()
    import cv2

    capture = FakeCapture(0)
    CameraSource(0, width=1280, height=720, capture_factory=lambda i: capture).open()
    assert capture.props == {cv2.CAP_PROP_FRAME_WIDTH: 1280.0, cv2.CAP_PROP_FRAME_HEIGHT: 720.0}


def test_frame_formats():
    gray16 = np.array([[0, 65535]], np.uint16)
    assert frame_to_rgb(gray16).tolist() == [[[0, 0, 0], [255, 255, 255]]]
    bgra = np.zeros((1, 1, 4), np.uint8)
    bgra[0, 0] = [1, 2, 3, 4]
    assert frame_to_rgb(bgra)[0, 0].tolist() == [3, 2, 1]
    camera = CameraSource(0, capture_factory=lambda i: FakeCapture(i, frame=np.zeros((2, 2, 7), np.uint8))).open()
    with pytest.raises(CameraError, match="unusable frame"):
        camera.read()


def test_list_cameras_probes_each_index():
    present = {0, 2}
    made: list[FakeCapture] = []

    def factory(index):
        made.append(FakeCapture(index, opened=index in present))
        return made[-1]

    assert list_cameras(4, capture_factory=factory) == [0, 2]
    assert len(made) == 4 and all(c.released for c in made)


def test_reads_from_a_worker_while_closing_do_not_crash():
    camera = CameraSource(0, capture_factory=FakeCapture).open()
    outcomes: list[str] = []

    def worker():
        for _ in range(200):
            try:
                camera.read()
                outcomes.append("frame")
            except CameraError:
                outcomes.append("error")

    thread = threading.Thread(target=worker)
    thread.start()
    camera.close()
    thread.join()
    assert len(outcomes) == 200 and set(outcomes) <= {"frame", "error"}
