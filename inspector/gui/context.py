"""Objects shared by the pages: session, messages, camera, thumbnails and the task tracker."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from inspector.gui.camera import CameraController
from inspector.gui.session import Session
from inspector.gui.widgets.gallery import ThumbnailCache
from inspector.gui.widgets.messages import MessageHub, show_error
from inspector.gui.workers import ErrorInfo, Task
from inspector.types import Progress


class TaskTracker(QObject):
    """Knows every running job, for the status bar and for a safe shutdown."""

    changed = Signal()
    progress = Signal(str, object)  # label, Progress

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.tasks: dict[Task, str] = {}

    def track(self, task: Task, label: str) -> Task:
        self.tasks[task] = label
        task.progress.connect(lambda p, l=label: self.progress.emit(l, p))
        task.finished.connect(lambda t=task: self._done(t))
        self.changed.emit()
        return task

    def _done(self, task: Task) -> None:
        self.tasks.pop(task, None)
        self.changed.emit()

    @property
    def busy(self) -> bool:
        return bool(self.tasks)

    def labels(self) -> list[str]:
        return list(self.tasks.values())

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    def wait_all(self, timeout_ms: int = 30_000) -> bool:
        return all(task.wait(timeout_ms) for task in list(self.tasks))


@dataclass
class AppContext:
    """Handed to every page."""

    session: Session
    messages: MessageHub
    camera: CameraController
    thumbnails: ThumbnailCache
    tasks: TaskTracker
    window: Any = None  # the MainWindow (for dialogs' parent and page switching)

    def run(self, fn: Callable, label: str, *, on_result: Optional[Callable[[Any], None]] = None,
            on_error: Optional[Callable[[ErrorInfo], None]] = None, on_progress: Optional[Callable[[Progress], None]] = None,
            on_finished: Optional[Callable[[], None]] = None, on_cancelled: Optional[Callable[[], None]] = None,
            parent: Optional[QObject] = None) -> Task:
        # `parent` is accepted for readability at call sites; Tasks own themselves (see Task).
        """Start `fn(reporter)` on a worker; errors go to a dialog + the message panel unless handled."""
        task = Task(fn, label)
        if on_result is not None:
            task.result.connect(on_result)
        task.error.connect(on_error or (lambda info, l=label: self.report_error(l, info)))
        if on_progress is not None:
            task.progress.connect(on_progress)
        if on_cancelled is not None:
            task.cancelled.connect(on_cancelled)
        task.cancelled.connect(lambda l=label: self.messages.info(f"{l}: cancelled."))
        if on_finished is not None:
            task.finished.connect(on_finished)
        self.tasks.track(task, label)
        return task.start()

    def report_error(self, what: str, error: ErrorInfo | BaseException | str, parent: Optional[QWidget] = None) -> None:
        """One readable message (details one click away) in a dialog and in the message panel."""
        if isinstance(error, BaseException):
            error = ErrorInfo.from_exception(error)
        if isinstance(error, str):
            error = ErrorInfo(error, "", True)
        self.messages.error(f"{what}: {error.message}", error.details)
        show_error(parent or self.window, what, error)
