"""Run engine work off the GUI thread; progress, results, errors and cancel travel as signals.

A `Task` wraps a callable `fn(reporter) -> result`. It runs on its own `QThread`; the engine's
`Reporter` callback posts throttled progress (at most every `PROGRESS_INTERVAL_S`, plus every
stage change and stage end), and `cancel()` sets the `CancelToken` that the engine checks at each
progress point. Nothing is ever killed from outside: a cancelled job ends at its next check.
A Task's backbone work (a fit's or an inspection's forward passes) is not run on the Task's own
thread but queued on the one backbone owner (inspector.features.backbone_owner), which serialises
it with every other job's; the Task's cancel token also takes its queued batches out of that queue.

`LatestOnly` runs at most one job at a time and keeps only the newest pending request, so a
slider dragged quickly triggers a few computations, not one per pixel moved.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from inspector.types import CancelToken, Cancelled, InspectorError, Progress, Reporter

PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong, for people (`message`) and for the details pane (`details`)."""

    message: str
    details: str
    expected: bool  # an InspectorError (bad input, missing file) rather than a bug

    @classmethod
    def from_exception(cls, exc: BaseException) -> "ErrorInfo":
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, InspectorError):
            return cls(str(exc), details, True)
        if isinstance(exc, MemoryError):
            return cls("Out of memory: use fewer images, a smaller input size or a lower augmentation factor.", details, True)
        return cls(f"Unexpected error: {type(exc).__name__}: {exc}", details, False)


class _Runner(QObject):
    """Lives in the worker thread; calls the function and emits what happens."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()

    def __init__(self, fn: Callable[[Reporter], Any], token: CancelToken) -> None:
        super().__init__()
        self._fn = fn
        self._token = token
        self._last_emit = 0.0
        self._last_stage: Optional[str] = None

    def _on_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        stage_changed = progress.stage != self._last_stage
        finished_stage = progress.total > 0 and progress.done >= progress.total
        if stage_changed or finished_stage or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self._last_stage = progress.stage
            self.progress.emit(progress)

    @Slot()
    def run(self) -> None:
        reporter = Reporter(self._on_progress, self._token)
        try:
            reporter.check()
            result = self._fn(reporter)
        except Cancelled:
            self.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI, never kill it
            if self._token.cancelled:
                self.cancelled.emit()
            else:
                self.failed.emit(ErrorInfo.from_exception(exc))
        else:
            if self._token.cancelled:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.done.emit()


class Task(QObject):
    """One background job. Connect to the signals, then call `start()`.

    Signals (all delivered in the GUI thread): `started()`, `progress(Progress)`,
    `result(object)`, `error(ErrorInfo)`, `cancelled()`, `finished()` (always last).
    """

    started = Signal()
    progress = Signal(object)
    result = Signal(object)
    error = Signal(object)
    cancelled = Signal()
    finished = Signal()

    _live: set["Task"] = set()  # keeps running tasks alive even if the caller drops them

    def __init__(self, fn: Callable[[Reporter], Any], name: str = "task") -> None:
        # No Qt parent, on purpose: a parent deleted while the job runs (a closed window) would
        # take the Task with it and its end would never be seen. `_live` owns it until it ends.
        super().__init__()
        self.name = name
        self.token = CancelToken()
        self._fn = fn
        self._thread: Optional[QThread] = None
        self._runner: Optional[_Runner] = None
        self.started_at: Optional[float] = None
        self.is_running = False

    def start(self) -> "Task":
        if self._thread is not None:
            raise RuntimeError("a Task runs once")
        self._thread = QThread()
        self._thread.setObjectName(f"inspector-{self.name}")
        self._runner = _Runner(self._fn, self.token)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.progress.connect(self.progress)
        self._runner.succeeded.connect(self.result)
        self._runner.failed.connect(self.error)
        self._runner.cancelled.connect(self.cancelled)
        # Direct: the thread's loop ends even when the GUI loop is not running (shutdown, tests).
        self._runner.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        Task._live.add(self)
        self.is_running = True
        self.started_at = time.monotonic()
        self.started.emit()
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next progress point (it then emits `cancelled`)."""
        self.token.cancel()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread ends (used at shutdown and in tests)."""
        return True if self._thread is None else bool(self._thread.wait(timeout_ms))

    @Slot()
    def _on_thread_finished(self) -> None:
        self.is_running = False
        thread, runner = self._thread, self._runner
        if runner is not None:
            runner.deleteLater()
        if thread is not None:
            thread.deleteLater()
        Task._live.discard(self)
        self.finished.emit()


def running_tasks() -> list[Task]:
    return list(Task._live)


class LatestOnly(QObject):
    """Coalesces requests: one job runs at a time; while it runs only the newest request waits.

    `submit(fn)` schedules `fn(reporter)`; `result(object)` and `error(ErrorInfo)` carry the
    outcomes. A result whose request was superseded before it finished is still delivered
    (it is the freshest available), then the newest request runs.
    """

    result = Signal(object)
    error = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, name: str = "latest", parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.name = name
        self._running: Optional[Task] = None
        self._pending: Optional[Callable[[Reporter], Any]] = None
        self.submitted = 0
        self.executed = 0

    @property
    def busy(self) -> bool:
        return self._running is not None

    def submit(self, fn: Callable[[Reporter], Any]) -> None:
        self.submitted += 1
        if self._running is None:
            self._start(fn)
        else:
            self._pending = fn  # replaces any older waiting request

    def _start(self, fn: Callable[[Reporter], Any]) -> None:
        self.executed += 1
        task = Task(fn, self.name)
        task.result.connect(self.result)
        task.error.connect(self.error)
        task.finished.connect(self._on_finished)
        self._running = task
        self.busy_changed.emit(True)
        task.start()

    @Slot()
    def _on_finished(self) -> None:
        finished = self._running
        self._running = None
        if finished is not None:
            finished.deleteLater()
        if self._pending is not None:
            fn, self._pending = self._pending, None
            self._start(fn)
        else:
            self.busy_changed.emit(False)
