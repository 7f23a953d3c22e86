"""Low-data protocol cells per second: in this process, in a local spawn pool of 1 and 2 workers,
and through a Dask LocalCluster of 2 worker processes (scheduler address, features scattered once).

Scheduling overhead per cell = (wall time x workers / cells - a cell's own time) / a cell's own
time, where a cell's own time is measured in this process. Pool rows include the pool's start-up
(spawned workers import the package and receive the features); the Dask row does not (the
cluster is already up, as a real one would be). Synthetic features (no backbone), so
the figure is the executor's, not the extractor's.

    PYTHONPATH=$PWD python benchmarks/cluster.py [--cells-per-size 4] [--channels 64]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from inspector.evaluation.executor import ExecutorSettings, run_cells
from inspector.evaluation.lowdata import LowDataShared, lowdata_cell
from inspector.evaluation.protocol_common import DetectorSpec, layers_for
from inspector.features.maps import FeatureMaps


def _shared(n_train: int, n_test: int, channels: int, specs: list[DetectorSpec]) -> LowDataShared:
    rng = np.random.default_rng(0)
    layers = layers_for(specs)

    def maps(n: int, shift: np.ndarray) -> FeatureMaps:
        return FeatureMaps({layer: (rng.normal(size=(n, channels, 4, 4)) + shift[:, None, None, None])
                            .astype(np.float32) for layer in layers}, (224, 224))

    labels = np.r_[np.zeros(n_test // 2, int), np.ones(n_test - n_test // 2, int)]
    return LowDataShared(train=maps(n_train, np.zeros(n_train)), test=maps(n_test, labels * 0.5), labels=labels,
                         n_total=n_train, seed=0, specs={s.label: s for s in specs})


def _cells(specs, sizes, replicates):
    return [{"detector": s.label, "factor": 0, "size": size, "replicate": r}
            for s in specs for size in sizes for r in range(replicates)]


def _timed(cells, shared, settings) -> tuple[float, int]:
    results = []
    start = time.perf_counter()
    stats = run_cells(lowdata_cell, shared, cells, lambda c, r: results.append(r), settings)
    return time.perf_counter() - start, stats.done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells-per-size", type=int, default=4)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=200)
    args = parser.parse_args()
    specs = [DetectorSpec.parse("mahalanobis"), DetectorSpec.parse("knn")]
    shared = _shared(args.n_train, 100, args.channels, specs)
    cells = _cells(specs, list(range(20, args.n_train + 1, 20)), args.cells_per_size)
    print(f"{len(cells)} cells (mahalanobis + knn, {args.n_train} train x {args.channels} ch x 4x4 x "
          f"{len(layers_for(specs))} layers, 100 test); cpu count {os.cpu_count()}")
    _timed(cells[:2], shared, ExecutorSettings(workers=1))  # warm imports and caches in this process
    inline, _ = _timed(cells, shared, ExecutorSettings(workers=1))
    cell_time = inline / len(cells)
    print(f"{'where':<28}{'workers':>8}{'wall s':>9}{'cells/s':>9}{'overhead/cell':>15}")
    print(f"{'this process':<28}{1:>8}{inline:>9.2f}{len(cells) / inline:>9.1f}{0.0:>14.2f}x")
    start = time.perf_counter()
    _timed(cells[:2], shared, ExecutorSettings(workers=2))
    print(f"(spawn pool of 2: start-up + 2 cells took {time.perf_counter() - start:.2f} s; included below)")
    for workers in (1, 2):
        wall, done = _timed(cells, shared, ExecutorSettings(workers=2)) if workers > 1 else _pool_one(cells, shared)
        _print("spawn process pool", workers, wall, done, cell_time)
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster:
        start = time.perf_counter()
        _timed(cells[:2], shared, ExecutorSettings(scheduler=cluster.scheduler_address))  # warm the workers
        warm = time.perf_counter() - start
        wall, done = _timed(cells, shared, ExecutorSettings(scheduler=cluster.scheduler_address))
        _print("dask LocalCluster (tcp)", 2, wall, done, cell_time)
        print(f"(dask: connect + scatter + 2 warm-up cells took {warm:.2f} s)")
    print(f"a cell's own time in this process: {cell_time * 1000:.1f} ms")


def _pool_one(cells, shared):
    """A one-worker pool: ExecutorSettings(workers=1) runs inline, so call the pool directly."""
    from inspector.evaluation import executor

    results = []
    start = time.perf_counter()
    executor._run_pool(lowdata_cell, shared, cells, lambda c, r, e: results.append(r), 1,  # noqa: SLF001
                       executor.as_reporter(None))
    return time.perf_counter() - start, len(results)


def _print(where: str, workers: int, wall: float, done: int, cell_time: float) -> None:
    overhead = (wall * workers / done - cell_time) / cell_time
    print(f"{where:<28}{workers:>8}{wall:>9.2f}{done / wall:>9.1f}{overhead:>14.2f}x")


if __name__ == "__main__":
    main()
