"""Live camera input through OpenCV's VideoCapture (Qt-free; the GUI polls it from a worker).

A camera that is missing, busy or unplugged mid-run raises `CameraError` with a message an
operator can act on, never a silent black frame. Frames come out as RGB uint8, like every
image in Inspector. Tests inject a fake capture through `capture_factory`.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any, Callable, Iterator, Optional

import numpy as np

from inspector.io.images import to_rgb_uint8
from inspector.types import InspectorError

#: Builds a capture object from a camera index (OpenCV's cv2.VideoCapture by default).
CaptureFactory = Callable[[int], Any]


class CameraError(InspectorError):
    """The camera cannot be opened or stopped delivering images."""


def _quiet_opencv() -> None:
    """Probing absent cameras makes OpenCV print warnings on stderr; keep only errors."""
    try:
        import cv2

        logging = cv2.utils.logging
        if logging.getLogLevel() > logging.LOG_LEVEL_ERROR:  # never louder than a probe's silence
            logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    except Exception:  # older builds without the logging module
        pass


@contextlib.contextmanager
def _silent_opencv() -> Iterator[None]:
    """OpenCV's log silenced while absent cameras are probed: each miss logs an ERROR line
    ("Camera index out of range", five per "Find") that only says the camera is not there."""
    try:
        import cv2

        logging = cv2.utils.logging
        previous = logging.getLogLevel()
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    except Exception:  # older builds without the logging module
        yield
        return
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def default_capture_factory(index: int) -> Any:
    """cv2.VideoCapture with the backend that opens fastest on this OS."""
    import cv2

    _quiet_opencv()
    if sys.platform.startswith("win"):
        return cv2.VideoCapture(index, cv2.CAP_DSHOW)  # MSMF takes seconds to open on many PCs
    return cv2.VideoCapture(index)


def frame_to_rgb(frame: np.ndarray) -> np.ndarray:
    """An OpenCV frame (BGR, BGRA, gray; 8 or 16 bit) as RGB uint8."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 3:
        frame = frame[:, :, ::-1]
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, [2, 1, 0, 3]]
    return to_rgb_uint8(frame)


class CameraSource:
    """One camera. `open()`, then `read()` frames, then `close()` (or use it in a `with` block)."""

    def __init__(self, index: int = 0, width: Optional[int] = None, height: Optional[int] = None,
                 capture_factory: Optional[CaptureFactory] = None, read_attempts: int = 3) -> None:
        self.index = int(index)
        self.width = width
        self.height = height
        self.read_attempts = max(1, int(read_attempts))
        self._factory = capture_factory or default_capture_factory
        self._capture: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"Camera {self.index}"

    @property
    def is_open(self) -> bool:
        return self._capture is not None

    def open(self) -> "CameraSource":
        with self._lock:
            if self._capture is not None:
                return self
            try:
                capture = self._factory(self.index)
            except Exception as exc:
                raise CameraError(f"{self.name} could not be opened: {exc}") from exc
            if capture is None or not capture.isOpened():
                _release(capture)
                raise CameraError(
                    f"{self.name} could not be opened: it is not connected, or another program is using it. "
                    "Check the cable, close other camera programs, or pick another camera."
                )
            if self.width or self.height:
                import cv2

                if self.width:
                    capture.set(cv2.CAP_PROP_FRAME_WIDTH, float(self.width))
                if self.height:
                    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self.height))
            self._capture = capture
            return self

    def read(self) -> np.ndarray:
        """The next frame as RGB uint8 (H, W, 3); CameraError when the camera gives none."""
        with self._lock:
            if self._capture is None:
                raise CameraError(f"{self.name} is not open.")
            reason = "it returned no image"
            for _attempt in range(self.read_attempts):  # a single dropped frame is normal on USB
                try:
                    ok, frame = self._capture.read()
                except Exception as exc:
                    ok, frame, reason = False, None, f"reading failed ({exc})"
                if ok and frame is not None and np.asarray(frame).size > 0:
                    try:
                        return frame_to_rgb(frame)
                    except ValueError as exc:
                        raise CameraError(f"{self.name} delivered an unusable frame ({exc}).") from exc
        raise CameraError(
            f"{self.name} stopped delivering images ({reason}): it may have been unplugged or taken by another "
            "program. Check the cable, then open the camera again."
        )

    def close(self) -> None:
        with self._lock:
            capture, self._capture = self._capture, None
        _release(capture)

    def __enter__(self) -> "CameraSource":
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            _release(self._capture)
        except Exception:
            pass


def _release(capture: Any) -> None:
    if capture is not None:
        try:
            capture.release()
        except Exception:
            pass


def list_cameras(max_index: int = 5, capture_factory: Optional[CaptureFactory] = None) -> list[int]:
    """Indexes (0 .. max_index - 1) of the cameras that open and deliver a frame."""
    factory = capture_factory or default_capture_factory
    if capture_factory is None and os.environ.get("INSPECTOR_NO_CAMERA_PROBE"):
        return []  # CI machines and tests: probing real devices is slow and pointless there
    found = []
    with _silent_opencv():
        for index in range(max(0, int(max_index))):
            capture = None
            try:
                capture = factory(index)
                if capture is not None and capture.isOpened():
                    ok, frame = capture.read()
                    if ok and frame is not None:
                        found.append(index)
            except Exception:
                pass
            finally:
                _release(capture)
    return found
