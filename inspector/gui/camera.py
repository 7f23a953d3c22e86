"""Live camera on a worker thread: frames in, clear messages out, never a frozen window.

`CameraController` owns one `inspector.io.camera.CameraSource` at a time. A QThread reads frames
in a loop; the newest frame is kept and the GUI is told about it only when it has consumed the
previous one, so a slow screen never builds a queue. Opening a missing device, or a camera
unplugged mid-stream, ends the loop with a readable message (`failed`), not a crash.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot


def default_source_factory(index: int) -> Any:
    from inspector.io.camera import CameraSource

    return CameraSource(index)


def list_devices() -> list[tuple[int, str]]:
    """(index, label) of the cameras found; [] when none (or when probing fails)."""
    try:
        from inspector.io.camera import list_cameras

        found = list_cameras()
    except Exception:  # noqa: BLE001 - no camera support is not an error worth a dialog here
        return []
    devices = []
    for entry in found:
        if isinstance(entry, int):
            devices.append((entry, f"Camera {entry}"))
        elif isinstance(entry, (tuple, list)) and entry:
            devices.append((int(entry[0]), str(entry[1]) if len(entry) > 1 else f"Camera {entry[0]}"))
        else:
            index = int(getattr(entry, "index", 0))
            label = getattr(entry, "name", None) or getattr(entry, "label", None) or f"Camera {index}"
            devices.append((index, str(label)))
    return devices


class _CameraLoop(QObject):
    opened = Signal(str)
    frame_ready = Signal()
    failed = Signal(str)
    stopped = Signal()

    def __init__(self, factory: Callable[[int], Any], index: int) -> None:
        super().__init__()
        self._factory = factory
        self._index = index
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: Optional[np.ndarray] = None
        self._consumed = True

    def stop(self) -> None:
        self._stop.set()

    def take(self) -> Optional[np.ndarray]:
        with self._lock:
            self._consumed = True
            return self._latest

    def latest(self) -> Optional[np.ndarray]:
        with self._lock:
            return self._latest

    @Slot()
    def run(self) -> None:
        source = None
        try:
            source = self._factory(self._index)
            source.open()
            self.opened.emit(str(getattr(source, "description", "") or f"Camera {self._index}"))
            failures = 0
            while not self._stop.is_set():
                frame = source.read()
                if frame is None:
                    failures += 1
                    if failures > 50:
                        raise RuntimeError(f"Camera {self._index} stopped sending images (unplugged?).")
                    time.sleep(0.02)
                    continue
                failures = 0
                with self._lock:
                    self._latest = frame
                    notify = self._consumed
                    self._consumed = False
                if notify:
                    self.frame_ready.emit()
                time.sleep(0.001)
        except Exception as exc:  # noqa: BLE001 - CameraError and driver errors become a message
            if not self._stop.is_set():
                self.failed.emit(str(exc) or f"Camera {self._index} failed ({type(exc).__name__}).")
        finally:
            if source is not None:
                try:
                    source.close()
                except Exception:  # noqa: BLE001
                    pass
            self.stopped.emit()


class CameraController(QObject):
    """Start/stop one camera; `frame(np.ndarray)` for the preview, `latest_frame()` to capture."""

    frame = Signal(object)
    started = Signal(str)
    failed = Signal(str)
    running_changed = Signal(bool)

    def __init__(self, source_factory: Callable[[int], Any] = default_source_factory,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.source_factory = source_factory
        self._thread: Optional[QThread] = None
        self._loop: Optional[_CameraLoop] = None
        self.index: Optional[int] = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, index: int) -> None:
        self.stop()
        self.index = index
        self._thread = QThread()
        self._thread.setObjectName("inspector-camera")
        self._loop = _CameraLoop(self.source_factory, index)
        self._loop.moveToThread(self._thread)
        self._thread.started.connect(self._loop.run)
        self._loop.frame_ready.connect(self._on_frame_ready)
        self._loop.opened.connect(self.started)
        self._loop.failed.connect(self._on_failed)
        self._loop.stopped.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        self._thread.start()
        self.running_changed.emit(True)

    def stop(self, wait_ms: int = 3000) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.stop()
        thread.wait(wait_ms)
        self._cleanup()

    def latest_frame(self) -> Optional[np.ndarray]:
        return None if self._loop is None else self._loop.latest()

    def _on_frame_ready(self) -> None:
        if self._loop is not None:
            frame = self._loop.take()
            if frame is not None:
                self.frame.emit(frame)

    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)

    def _on_thread_finished(self) -> None:
        if self.sender() is self._thread:
            self._cleanup()

    def _cleanup(self) -> None:
        thread, loop = self._thread, self._loop
        self._thread = self._loop = None
        if loop is not None:
            loop.deleteLater()
        if thread is not None:
            thread.deleteLater()
            self.running_changed.emit(False)
