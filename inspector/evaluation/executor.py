"""Where protocol cells run: in this process, in a local process pool, or on a Dask cluster.

A cell is a pure function `cell_fn(shared, cell) -> result` of data shared by every cell (the
cached features, sent once: to each pool worker at start-up, or scattered once to a Dask
cluster) and the cell's own settings. Results come back as they finish and are handed to
`on_result`, which writes them to the resumable store, so a sweep stopped half-way keeps what
finished. On Dask a cell whose worker dies is rerun elsewhere (`retries=2`); a cell that still
fails is counted and left out of the store, to be redone on the next run.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from inspector.types import Cancelled, InspectorError, Reporter, as_reporter

SCHEDULER_ENV = "INSPECTOR_DASK_SCHEDULER"
CellFn = Callable[[Any, dict[str, Any]], dict[str, Any]]
OnResult = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass
class ExecutorSettings:
    """How to run cells: `workers` local processes (1 = in this process) or a Dask scheduler."""

    workers: int = 1
    scheduler: Optional[str] = None  # "tcp://host:port"; None reads INSPECTOR_DASK_SCHEDULER
    retries: int = 2

    def resolved_scheduler(self) -> Optional[str]:
        return self.scheduler or os.environ.get(SCHEDULER_ENV) or None


@dataclass
class RunStats:
    done: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def run_cells(cell_fn: CellFn, shared: Any, cells: Sequence[dict[str, Any]], on_result: OnResult,
              settings: Optional[ExecutorSettings] = None, reporter: Optional[Reporter] = None,
              stage: str = "cells", describe: Callable[[dict, dict], str] = lambda c, r: "",
              already: int = 0, weight: Callable[[dict], int] = lambda c: 1) -> RunStats:
    """Run every cell and stream each result to `on_result` in the calling process.

    Progress counts store cells: `already` were done before this run, and a task standing for
    several store cells (a fit shared by several result rows) counts `weight(cell)`. Each report
    says done / total, an ETA from this run's rate, and the failures so far with the last error.
    """
    settings = settings or ExecutorSettings()
    reporter = as_reporter(reporter)
    stats = RunStats()
    total = already + sum(weight(c) for c in cells)
    counted = {"done": already, "failed": 0}
    start = time.perf_counter()

    def finished(cell: dict, result: Optional[dict], error: Optional[BaseException]) -> None:
        if error is None and result is not None:
            on_result(cell, result)
            stats.done += 1
            counted["done"] += weight(cell)
            text = describe(cell, result)
        else:
            stats.failed += 1
            counted["failed"] += weight(cell)
            stats.errors.append(f"{type(error).__name__}: {error}")
            text = f"cell failed: {stats.errors[-1]}"
        settled = counted["done"] + counted["failed"]
        failures = f", {counted['failed']} failed" if counted["failed"] else ""
        eta = _eta(time.perf_counter() - start, settled - already, total - settled)
        reporter.report(stage, settled, total, f"{counted['done']}/{total} done{failures}{eta} - {text}")

    if not cells:
        return stats
    scheduler = settings.resolved_scheduler()
    if scheduler:
        _run_dask(cell_fn, shared, cells, finished, scheduler, settings.retries, reporter)
    elif settings.workers > 1:
        _run_pool(cell_fn, shared, cells, finished, settings.workers, reporter)
    else:
        for cell in cells:
            reporter.check()
            try:
                result = cell_fn(shared, cell)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - counted like a pool's or a cluster's failed cell
                finished(cell, None, exc)
                continue
            finished(cell, result, None)
    return stats


def _eta(elapsed: float, settled: int, remaining: int) -> str:
    """', ETA 1m05s' from this run's rate (empty before the first cell and after the last)."""
    if settled <= 0 or remaining <= 0:
        return ""
    seconds = round(elapsed / settled * remaining)
    return f", ETA {seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f", ETA {seconds // 60}m{seconds % 60:02d}s"


# -- local process pool -----------------------------------------------------------------------------
_WORKER_SHARED: dict[str, Any] = {}


def _pool_init(cell_fn: CellFn, shared: Any) -> None:
    _WORKER_SHARED["fn"], _WORKER_SHARED["shared"] = cell_fn, shared


def _pool_cell(cell: dict[str, Any]) -> dict[str, Any]:
    return _WORKER_SHARED["fn"](_WORKER_SHARED["shared"], cell)


def _run_pool(cell_fn, shared, cells, finished, workers: int, reporter: Reporter) -> None:
    context = multiprocessing.get_context("spawn")  # no fork: torch / BLAS threads do not survive it
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_pool_init,
                             initargs=(cell_fn, shared)) as pool:
        pending = {pool.submit(_pool_cell, cell): cell for cell in cells}
        try:
            while pending:
                ready, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                reporter.check()
                for future in ready:
                    cell = pending.pop(future)
                    error = future.exception()
                    finished(cell, None if error else future.result(), error)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


# -- Dask -------------------------------------------------------------------------------------------
def _run_dask(cell_fn, shared, cells, finished, scheduler: str, retries: int, reporter: Reporter) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:
        raise InspectorError("Running on a cluster needs Dask: pip install 'inspector[cluster]'.") from exc
    try:
        client = Client(scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InspectorError(f"Cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    try:
        shared_future = client.scatter(shared, broadcast=True, hash=False)
        futures = {client.submit(cell_fn, shared_future, cell, retries=retries, pure=False): i
                   for i, cell in enumerate(cells)}
        try:
            for future in as_completed(list(futures), loop=client.loop):
                cell = cells[futures[future]]
                if future.status == "error":
                    finished(cell, None, future.exception())
                elif future.status == "cancelled":
                    finished(cell, None, InspectorError("the cluster cancelled this cell"))
                else:  # finished, or its result was lost with a worker: result() waits for the recompute
                    try:
                        result = future.result()
                    except Exception as exc:  # noqa: BLE001 - the cell failed after all: counted
                        finished(cell, None, exc)
                    else:
                        finished(cell, result, None)
                future.release()
                reporter.check()
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        client.close()
