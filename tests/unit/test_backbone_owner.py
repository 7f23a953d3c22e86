"""The backbone owner's queue: priority, cancel while queued, errors, re-entrancy, shutdown (issue 10)."""
from __future__ import annotations

import threading
import time

import pytest

from inspector.features.backbone_owner import (BULK, CANCELLED, DONE, FAILED, INTERACTIVE, BackboneOwner,
                                               current_priority, priority)
from inspector.types import CancelToken, Cancelled, InspectorError, Reporter


@pytest.fixture
def owner():
    owner = BackboneOwner(name="test-backbone")
    yield owner
    assert owner.shutdown(10), "the owner thread did not end"


def _blocker(owner: BackboneOwner, release: threading.Event, started: threading.Event):
    """A job that holds the owner thread until `release` (the state of 'a forward pass is running')."""

    def hold(_reporter):
        started.set()
        assert release.wait(20)
        return "held"

    job = owner.submit(hold, priority_level=BULK, label="blocker")
    assert started.wait(10)
    return job


def test_interactive_work_jumps_the_queued_bulk_work(owner):
    release, started, ran = threading.Event(), threading.Event(), []
    blocker = _blocker(owner, release, started)
    bulk = [owner.submit(lambda _r, i=i: ran.append(f"bulk{i}"), priority_level=BULK, label=f"bulk{i}") for i in range(4)]
    inspect = owner.submit(lambda _r: ran.append("inspect"), priority_level=INTERACTIVE, label="inspect")
    release.set()
    for job in [blocker, *bulk, inspect]:
        job.result(20)
    assert ran == ["inspect", "bulk0", "bulk1", "bulk2", "bulk3"]  # only the running item was waited for
    assert [label for label, _ in owner.history] == ["blocker", "inspect", "bulk0", "bulk1", "bulk2", "bulk3"]


def test_a_job_cancelled_in_the_queue_never_runs(owner):
    release, started, ran = threading.Event(), threading.Event(), []
    blocker = _blocker(owner, release, started)
    doomed = owner.submit(lambda _r: ran.append("doomed"), label="doomed")
    kept = owner.submit(lambda _r: ran.append("kept") or 7, label="kept")
    assert doomed.cancel() is True
    assert doomed.state == CANCELLED and doomed.done()
    release.set()
    assert kept.result(20) == 7 and blocker.result(20) == "held"
    with pytest.raises(Cancelled):
        doomed.result(1)
    assert ran == ["kept"]
    assert "doomed" not in [label for label, _ in owner.history]


def test_the_callers_cancel_token_stops_queued_work(owner):
    release, started, ran = threading.Event(), threading.Event(), []
    blocker = _blocker(owner, release, started)
    token = CancelToken()
    job = owner.submit(lambda _r: ran.append("x"), reporter=Reporter(None, token), label="x")
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            job.result(20)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    token.cancel()  # the waiting caller notices within one wait slice and takes the job out
    waiter.join(5)
    assert not waiter.is_alive() and isinstance(outcome[0], Cancelled)
    release.set()
    blocker.result(20)
    owner.submit(lambda _r: None).result(20)  # the queue is past the cancelled job
    assert ran == []


def test_errors_progress_and_reentrancy(owner):
    def boom(_reporter):
        raise ValueError("bad batch")

    failing = owner.submit(boom)
    with pytest.raises(ValueError, match="bad batch"):
        failing.result(10)
    assert failing.state == FAILED

    seen = []

    def nested(reporter):
        reporter.report("extract", 1, 2, "half")
        return owner.run(lambda _r: "inner")  # backbone work inside a job runs inline, no deadlock

    job = owner.submit(nested, reporter=Reporter(seen.append))
    assert job.result(10) == "inner" and job.state == DONE
    assert job.progress is not None and job.progress.done == 1 and [p.message for p in seen] == ["half"]
    assert owner.submit(lambda _r: 1).result(10) == 1  # the owner survived the failure


def test_priority_follows_the_submitting_thread():
    assert current_priority() == BULK
    with priority(INTERACTIVE):
        assert current_priority() == INTERACTIVE
        other: list[int] = []
        thread = threading.Thread(target=lambda: other.append(current_priority()))
        thread.start()
        thread.join()
        assert other == [BULK]  # another thread's work keeps its own priority
    assert current_priority() == BULK


def test_shutdown_with_queued_jobs_does_not_hang():
    owner = BackboneOwner(name="test-shutdown")
    release, started, ran = threading.Event(), threading.Event(), []
    blocker = _blocker(owner, release, started)
    queued = [owner.submit(lambda _r, i=i: ran.append(i)) for i in range(5)]
    threading.Timer(0.3, release.set).start()  # the running item ends on its own a little later
    began = time.monotonic()
    assert owner.shutdown(10) is True
    assert time.monotonic() - began < 5
    assert blocker.result(1) == "held"  # the running item was let finish, never interrupted
    for job in queued:
        assert job.state == CANCELLED
        with pytest.raises(Cancelled):
            job.result(1)
    assert ran == [] and not owner.running
    with pytest.raises(InspectorError, match="shutting down"):
        owner.submit(lambda _r: None)


def test_an_idle_owner_shuts_down_at_once():
    owner = BackboneOwner()
    assert owner.shutdown(1) is True  # never started
    owner = BackboneOwner()
    owner.run(lambda _r: None)
    began = time.monotonic()
    assert owner.shutdown(5) is True and time.monotonic() - began < 2
