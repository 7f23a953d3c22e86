"""Protocol cells per second: in this process, in a local spawn pool of 1 and 2 workers, and
through a Dask LocalCluster of 2 worker processes (scheduler address, shared data scattered once),
for the low-data protocol's cells, the pollution protocol's two kinds of cell (refinement
rankings: SROC, random, cross-validation, STOC; then fits on the kept images) and the
classic-model grid's configurations.

Scheduling overhead per cell = (wall time x workers / cells - a cell's own time) / a cell's own
time, where a cell's own time ("cell ms") is the mean time of the cell function where it ran
(measured inside the worker, in the same run); "after start-up" uses the time from the first
result to the last instead of the wall time (the steady-state cost). Pool rows include the pool's start-up
(spawned workers import the package and receive the shared data); the Dask rows do not (the
cluster is already up, as a real one would be, and two warm-up cells run first). Synthetic
features (no backbone), so the figure is the executor's, not the extractor's.

    PYTHONPATH=$PWD python benchmarks/cluster.py [--cells-per-size 4] [--channels 64]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from inspector.evaluation.executor import ExecutorSettings, run_cells
from inspector.evaluation.lowdata import LowDataShared, lowdata_cell
from inspector.evaluation.pollution import (
    PollutedSplit,
    PollutionShared,
    fit_cell,
    ranking_cell,
)
from inspector.evaluation.protocol_common import DetectorSpec, layers_for
from inspector.evaluation.sweep import SweepShared, sweep_cell, sweep_configs
from inspector.features.maps import FeatureMaps
from inspector.refine.sroc import METHODS


def _maps(rng: np.random.Generator, n: int, shift: np.ndarray, channels: int, layers) -> FeatureMaps:
    return FeatureMaps({layer: (rng.normal(size=(n, channels, 4, 4)) + shift[:, None, None, None])
                        .astype(np.float32) for layer in layers}, (224, 224))


def _lowdata(n_train: int, channels: int, cells_per_size: int):
    specs = [DetectorSpec.parse("mahalanobis"), DetectorSpec.parse("knn")]
    rng, layers = np.random.default_rng(0), layers_for(specs)
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    shared = LowDataShared(train=_maps(rng, n_train, np.zeros(n_train), channels, layers),
                           test=_maps(rng, 100, labels * 0.5, channels, layers), labels=labels,
                           n_total=n_train, seed=0, specs={s.label: s for s in specs})
    cells = [{"detector": s.label, "factor": 0, "size": size, "replicate": r}
             for s in specs for size in range(20, n_train + 1, 20) for r in range(cells_per_size)]
    return shared, cells


def _pollution(n_train: int, channels: int, replicates: int):
    """200 training images, 40 of them replaced by defective ones (20 %), as seed 001 at 0.2."""
    specs = [DetectorSpec.parse("mahalanobis"), DetectorSpec.parse("knn")]
    rng, layers = np.random.default_rng(1), layers_for(specs)
    labels = np.r_[np.zeros(60, int), np.ones(80, int)]
    polluting = n_train // 5
    splits = {}
    for replicate in range(replicates):
        draw = np.random.default_rng([1, replicate])
        pollution = np.sort(draw.choice(np.arange(60, 140), size=polluting, replace=False))
        splits[(replicate, 0.2)] = PollutedSplit(np.sort(draw.permutation(n_train)[polluting:]), pollution, pollution,
                                                 np.setdiff1d(np.arange(140), pollution))
    shared = PollutionShared(train=_maps(rng, n_train, np.zeros(n_train), channels, layers),
                             test=_maps(rng, 140, labels * 1.0, channels, layers), labels=labels,
                             masks=np.zeros((140, 8, 8), bool), splits=splits, specs={s.label: s for s in specs},
                             seed=0, cv_splits=5)
    rankings = [{"refiner": "mahalanobis", "method": m, "replicate": r, "pollution": 0.2}
                for r in range(replicates) for m in METHODS]
    fits = [{"fit": i, "detector": s.label, "replicate": r, "pollution": 0.2, "keep": np.arange(n_train - cut)}
            for i, (r, s, cut) in enumerate((r, s, cut) for r in range(replicates) for s in specs
                                            for cut in (0, polluting // 2, polluting, 2 * polluting))]
    return shared, rankings, fits


def _sweep(n_train: int, channels: int):
    """Every second configuration of Krickl's Table 3 grids, on pooled synthetic features."""
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    layers = (3, 5, 6)
    shared = SweepShared(_maps(rng, n_train, np.zeros(n_train), channels // 4, layers),
                         _maps(rng, 100, labels * 0.5, channels // 4, layers), labels)
    cells = [{"detector": name, "params": params} for name, params in sweep_configs()[::2]]
    return shared, cells


class _OwnTime:
    """The cell function, also returning how long the cell itself took where it ran."""

    def __init__(self, cell_fn) -> None:
        self.cell_fn = cell_fn

    def __call__(self, shared, cell):
        start = time.perf_counter()
        result = self.cell_fn(shared, cell)
        return {**result, "_own_seconds": time.perf_counter() - start}


def _timed(cell_fn, cells, shared, settings=None, pool_of_one: bool = False) -> tuple[float, list[float], float]:
    """Wall time, each cell's own time, and the time from the first result to the last."""
    from inspector.evaluation import executor

    stamps: list[float] = []
    own: list[float] = []

    def record(cell, result, error=None) -> None:
        stamps.append(time.perf_counter())
        own.append(result["_own_seconds"])

    start = time.perf_counter()
    if pool_of_one:  # ExecutorSettings(workers=1) runs inline, so call the pool directly
        executor._run_pool(_OwnTime(cell_fn), shared, cells, record, 1, executor.as_reporter(None))
    else:
        run_cells(_OwnTime(cell_fn), shared, cells, record, settings)
    return time.perf_counter() - start, own, stamps[-1] - stamps[0]


def _print(where: str, workers: int, timing: tuple[float, list[float], float]) -> None:
    wall, own, steady = timing
    cell_time = float(np.mean(own))  # so overhead = worker time not spent in cells / time in cells
    overhead = (wall * workers / len(own) - cell_time) / cell_time
    after = (steady * workers / max(len(own) - 1, 1) - cell_time) / cell_time
    print(f"  {where:<26}{workers:>8}{wall:>9.2f}{len(own) / wall:>9.1f}{cell_time * 1000:>11.1f}"
          f"{overhead:>14.2f}x{after:>16.2f}x")


def _bench(title: str, cell_fn, shared, cells, scheduler: str) -> None:
    print(f"\n{title}: {len(cells)} cells")
    _timed(cell_fn, cells[:2], shared, ExecutorSettings(workers=1))  # warm imports and caches in this process
    print(f"  {'where':<26}{'workers':>8}{'wall s':>9}{'cells/s':>9}{'cell ms':>11}{'overhead/cell':>15}"
          f"{'after start-up':>17}")
    _print("this process", 1, _timed(cell_fn, cells, shared, ExecutorSettings(workers=1)))
    _print("spawn process pool", 1, _timed(cell_fn, cells, shared, pool_of_one=True))
    _print("spawn process pool", 2, _timed(cell_fn, cells, shared, ExecutorSettings(workers=2)))
    start = time.perf_counter()
    _timed(cell_fn, cells[:2], shared, ExecutorSettings(scheduler=scheduler))  # warm the workers
    warm = time.perf_counter() - start
    _print("dask LocalCluster (tcp)", 2, _timed(cell_fn, cells, shared, ExecutorSettings(scheduler=scheduler)))
    print(f"  dask connect + scatter + 2 warm-up cells: {warm:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells-per-size", type=int, default=4)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--replicates", type=int, default=3, help="pollution seeds")
    args = parser.parse_args()
    from dask.distributed import LocalCluster

    print(f"synthetic features: {args.n_train} train x {args.channels} ch x 4x4 x 3 layers "
          f"(the grid: {args.channels // 4} ch); cpu count {os.cpu_count()}")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster:
        address = cluster.scheduler_address
        shared, cells = _lowdata(args.n_train, args.channels, args.cells_per_size)
        _bench("low data (mahalanobis + knn, sizes 20..200, 100 test)", lowdata_cell, shared, cells, address)
        shared, rankings, fits = _pollution(args.n_train, args.channels, args.replicates)
        _bench(f"pollution rankings ({', '.join(METHODS)} by mahalanobis, 20 % polluted, "
               f"{args.replicates} seeds)", ranking_cell, shared, rankings, address)
        _bench("pollution fits (mahalanobis + knn on the kept images, 80 test)", fit_cell, shared, fits, address)
        shared, cells = _sweep(args.n_train, args.channels)
        _bench("classic-model grid (every 2nd configuration of Table 3)", sweep_cell, shared, cells, address)


if __name__ == "__main__":
    main()
