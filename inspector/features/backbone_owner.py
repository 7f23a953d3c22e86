"""The one owner of the backbone: a worker thread that runs every forward pass, from a priority queue.

Why: a GUI fit and an inspection (and a policy check, a station frame...) may ask for features at
the same time from different threads. The backbone's stage hooks, its ONNX sessions and the GPU
are shared state; running two requests on them at once interleaves one request's capture with
the other's. So nothing runs the backbone but this thread: callers submit work items (a forward
pass of one batch, building an extractor) and wait on a `BackboneJob` future.

Interleaving is at batch granularity, never inside a forward pass: a fit submits one batch at a
time, so an inspection (`INTERACTIVE`) submitted during a fit's extraction (`BULK`) waits for at
most the batch that is running, not for the whole fit. Items of one priority run in submission
order. A queued job whose cancel token fires never runs; a running one is never interrupted (a
forward pass is short; cancel takes effect at the caller's next progress point). `shutdown`
cancels what is queued and joins the thread.

Qt-free and torch-free: a job is any callable `fn(reporter) -> result`.
"""
from __future__ import annotations

import atexit
import contextvars
import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Generic, Iterator, Optional, TypeVar

from inspector.types import CancelToken, Cancelled, InspectorError, Progress, Reporter

_LOG = logging.getLogger(__name__)
T = TypeVar("T")

#: Served first: an inspection of a part (an operator or a line is waiting for it).
INTERACTIVE = 0
#: Served when nothing interactive waits: a fit's, an evaluation's or an export's extraction.
BULK = 10

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
_WAIT_SLICE_S = 0.05  # how often a waiting caller looks at its own cancel token

_priority: contextvars.ContextVar[int] = contextvars.ContextVar("backbone_priority", default=BULK)


@contextmanager
def priority(level: int) -> Iterator[None]:
    """Backbone work submitted by this thread inside the block gets `level` (e.g. INTERACTIVE)."""
    token = _priority.set(int(level))
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> int:
    return _priority.get()


class _EitherToken(CancelToken):
    """Cancelled when the job's own token or the caller's token is: one check for both."""

    def __init__(self, other: Optional[CancelToken]) -> None:
        super().__init__()
        self._other = other

    @property
    def cancelled(self) -> bool:
        return super().cancelled or (self._other is not None and self._other.cancelled)

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()


class BackboneJob(Generic[T]):
    """A future for one work item: state, last progress, cancel, result (re-raises the job's error)."""

    def __init__(self, fn: Callable[[Reporter], T], priority_level: int, label: str,
                 reporter: Optional[Reporter]) -> None:
        self.label = label
        self.priority = priority_level
        self.state = QUEUED
        self.progress: Optional[Progress] = None
        self.token = _EitherToken(reporter.cancel_token if reporter is not None else None)
        self._callback = reporter.callback if reporter is not None else None
        self._fn = fn
        self._done = threading.Event()
        self._result: Any = None
        self._error: Optional[BaseException] = None
        self._callbacks: list[Callable[["BackboneJob[T]"], None]] = []
        self._state_lock = threading.Lock()

    # -- caller side ------------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Ask the job to stop; True when it will not run at all (it was still queued)."""
        self.token.cancel()
        with self._state_lock:
            if self.state != QUEUED:
                return self.state == CANCELLED
            self.state = CANCELLED
            self._error = Cancelled()
        self._finish()
        return True

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        return self._done.wait(timeout_s)

    def result(self, timeout_s: Optional[float] = None) -> T:
        """The job's return value; raises its exception, `Cancelled`, or TimeoutError."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._done.wait(_WAIT_SLICE_S):
            if self.token.cancelled:
                self.cancel()  # never runs if still queued; a running item is let finish
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"backbone job '{self.label}' did not finish in {timeout_s} s")
        if self._error is not None:
            raise self._error
        return self._result

    def add_done_callback(self, fn: Callable[["BackboneJob[T]"], None]) -> None:
        """Call `fn(job)` when the job ends (on the owner thread, or at once if it has ended)."""
        with self._state_lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        fn(self)

    # -- owner side -------------------------------------------------------------------------------
    def _report(self, progress: Progress) -> None:
        self.progress = progress
        if self._callback is not None:
            self._callback(progress)

    def _run(self) -> None:
        with self._state_lock:
            if self.state != QUEUED:
                return  # cancelled while queued: never runs
            if self.token.cancelled:
                self.state, self._error = CANCELLED, Cancelled()
            else:
                self.state = RUNNING
        if self.state == RUNNING:
            try:
                self._result = self._fn(Reporter(self._report, self.token))
                self.state = DONE
            except Cancelled as exc:
                self.state, self._error = CANCELLED, exc
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who decides
                self.state, self._error = FAILED, exc
        self._finish()

    def _finish(self) -> None:
        with self._state_lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            try:
                fn(self)
            except Exception:  # noqa: BLE001 - a listener's bug must not kill the owner thread
                _LOG.exception("backbone job callback failed")


class BackboneOwner:
    """One worker thread and its priority queue; see the module docstring."""

    def __init__(self, name: str = "inspector-backbone", history: int = 256) -> None:
        self.name = name
        self._heap: list[tuple[int, int, BackboneJob]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self.pid = os.getpid()
        #: (label, priority) of the last items run, oldest first: what ran in which order.
        self.history: deque[tuple[str, int]] = deque(maxlen=history)
        self.executed = 0  # items run so far (history keeps only the last ones)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def on_owner_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def ran_since(self, executed: int) -> list[tuple[str, int]]:
        """(label, priority) of the items run since `executed` was read (within the history's length)."""
        count = self.executed - executed
        return list(self.history)[-count:] if count > 0 else []

    def pending(self) -> int:
        with self._cond:
            return sum(1 for _p, _s, job in self._heap if job.state == QUEUED)

    def submit(self, fn: Callable[[Reporter], T], *, priority_level: Optional[int] = None, label: str = "job",
               reporter: Optional[Reporter] = None) -> BackboneJob[T]:
        """Queue `fn(reporter)` for the owner thread; `reporter`'s token cancels, its callback gets progress."""
        level = current_priority() if priority_level is None else int(priority_level)
        job: BackboneJob[T] = BackboneJob(fn, level, label, reporter)
        with self._cond:
            if self._stopping:
                raise InspectorError("The backbone is shutting down; no new work is accepted.")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (level, next(self._order), job))
            self._cond.notify()
        return job

    def run(self, fn: Callable[[Reporter], T], *, priority_level: Optional[int] = None, label: str = "job",
            reporter: Optional[Reporter] = None) -> T:
        """Submit and wait. On the owner thread itself (a job's own backbone work) `fn` runs inline."""
        if self.on_owner_thread():
            return fn(reporter if reporter is not None else Reporter())
        return self.submit(fn, priority_level=priority_level, label=label, reporter=reporter).result()

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Cancel every queued job, let the running one end, join the thread; True when it ended."""
        with self._cond:
            self._stopping = True
            queued = [job for _p, _s, job in self._heap]
            self._heap.clear()
            self._cond.notify_all()
        for job in queued:
            job.cancel()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._stopping:
                    self._cond.wait()
                if not self._heap:
                    return  # stopping and nothing left
                _level, _seq, job = heapq.heappop(self._heap)
            if job.state == QUEUED:
                self.history.append((job.label, job.priority))
                self.executed += 1
            job._run()


_default: Optional[BackboneOwner] = None
_default_lock = threading.Lock()


def default_owner() -> BackboneOwner:
    """This process's owner (a new one after `shutdown_default_owner`, or in a child process)."""
    global _default
    with _default_lock:
        if _default is None or _default.pid != os.getpid() or _default._stopping:
            _default = BackboneOwner()
        return _default


def shutdown_default_owner(timeout_s: float = 30.0) -> bool:
    """End the process's owner (app exit, tests); queued work is cancelled, nothing hangs."""
    global _default
    with _default_lock:
        owner, _default = _default, None
    if owner is None or owner.pid != os.getpid():
        return True
    return owner.shutdown(timeout_s)


atexit.register(shutdown_default_owner, 10.0)
