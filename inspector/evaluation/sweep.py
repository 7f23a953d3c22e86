"""Research sweep over the classic models' hyper-parameter grids (Krickl, Table 3).

Fits every (detector, params) of the grids on `train` features, scores `test` and records the
image AUROC. It needs labels, so it is a research tool for `inspector evaluate`, never part of
fitting a model. Like Krickl's runner it is resumable: with `results_path`, every finished row
is appended (and fsynced) to the same resumable store the protocols use
(`protocol_common.CellStore`), and a rerun skips the rows already there, so a crash or a cancel
loses at most the configurations that were running. Each configuration is a pure cell run
through the protocols' executor seam (`executor.run_cells`): in this process, a local process
pool, or a Dask cluster, on features encoded once and sent to the workers once.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from inspector.detectors.classic import CLASSIC_PARAM_GRIDS
from inspector.evaluation.executor import ExecutorSettings, run_cells
from inspector.evaluation.protocol_common import CellStore
from inspector.detectors.registry import create_detector
from inspector.features.maps import FeatureMaps
from inspector.types import Cancelled, InspectorError, Reporter, as_reporter


@dataclass
class SweepRow:
    """One configuration's outcome; `error` is set (and AUROC NaN) when it failed."""

    detector: str
    params: dict[str, Any]
    image_auroc: float
    fit_seconds: float
    score_seconds: float
    error: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return config_key(self.detector, self.params)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_auroc"] = None if not math.isfinite(self.image_auroc) else self.image_auroc
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SweepRow":
        auroc = data.get("image_auroc")
        return cls(str(data["detector"]), dict(data["params"]), float("nan") if auroc is None else float(auroc),
                   float(data.get("fit_seconds", 0.0)), float(data.get("score_seconds", 0.0)), data.get("error"),
                   dict(data.get("extra", {})))


def config_key(detector: str, params: dict[str, Any]) -> str:
    """Canonical text of a configuration (what a resumed sweep matches on)."""
    return json.dumps([detector, params], sort_keys=True)


def sweep_configs(grids: Optional[dict[str, list[dict[str, Any]]]] = None,
                  detectors: Optional[Sequence[str]] = None,
                  base_params: Optional[dict[str, dict[str, Any]]] = None) -> list[tuple[str, dict[str, Any]]]:
    """(detector, params) pairs of the grids, in order; `base_params[name]` is merged under each."""
    grids = CLASSIC_PARAM_GRIDS if grids is None else grids
    names = list(grids) if detectors is None else list(detectors)
    unknown = [name for name in names if name not in grids]
    if unknown:
        raise InspectorError(f"No sweep grid for {', '.join(unknown)}; grids exist for {', '.join(grids)}.")
    base_params = base_params or {}
    return [(name, {**base_params.get(name, {}), **params}) for name in names for params in grids[name]]


def _config(detector: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"detector": detector, "params": params}


def read_results(path: str | Path) -> list[SweepRow]:
    """Rows already recorded in a sweep's resumable store (the protocols' CellStore; a torn line is dropped)."""
    return [SweepRow.from_json(result) for result in CellStore(path).results()]


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    from inspector.evaluation.metrics import image_auroc

    return image_auroc(labels, scores)


def run_config(detector: str, params: dict[str, Any], train: FeatureMaps, test: FeatureMaps,
               labels: np.ndarray) -> SweepRow:
    """Fit one configuration, score the test set, return its row (errors become a row too)."""
    start = time.perf_counter()
    fit_seconds = score_seconds = 0.0
    try:
        model = create_detector(detector, **params).fit(train)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        scores = model.score(test).image_scores
        score_seconds = time.perf_counter() - start
        if not np.all(np.isfinite(scores)):
            return SweepRow(detector, params, float("nan"), fit_seconds, score_seconds,
                            "non-finite scores (the configuration overflows on these features)")
        summary = model.fitted_summary() if hasattr(model, "fitted_summary") else {}
        return SweepRow(detector, params, _auroc(labels, scores), fit_seconds, score_seconds, extra=summary)
    except Cancelled:
        raise
    except Exception as exc:  # a failing configuration is a result of the sweep, not a crash of it
        return SweepRow(detector, params, float("nan"), fit_seconds, score_seconds, f"{type(exc).__name__}: {exc}")


@dataclass
class SweepShared:
    """What every sweep cell needs, sent once to each worker: the encoded features and the labels."""

    train: FeatureMaps
    test: FeatureMaps
    labels: np.ndarray


def sweep_cell(shared: SweepShared, cell: dict[str, Any]) -> dict[str, Any]:
    """One grid configuration, a pure task: its row as JSON (a failing configuration is a row too)."""
    return run_config(cell["detector"], cell["params"], shared.train, shared.test, shared.labels).to_json()


def run_sweep(train: FeatureMaps, test: FeatureMaps, labels: Iterable[int],
              grids: Optional[dict[str, list[dict[str, Any]]]] = None, detectors: Optional[Sequence[str]] = None,
              base_params: Optional[dict[str, dict[str, Any]]] = None, results_path: Optional[str | Path] = None,
              reporter: Optional[Reporter] = None, executor: ExecutorSettings | None = None) -> list[SweepRow]:
    """Image AUROC of every grid configuration (default: seed 003's Table 3 for all five models).

    `labels` are the test labels (1 = defective). With `results_path`, finished rows are read
    back and skipped, and new ones appended as they finish. Rows come back in grid order.
    `executor` says where the configurations run (this process by default; a process pool or a
    Dask cluster, see executor.py), each fitted on the features sent once.
    """
    reporter = as_reporter(reporter)
    labels = np.asarray(list(labels), dtype=int)
    if len(labels) != len(test):
        raise InspectorError(f"{len(labels)} labels for {len(test)} test images.")
    if len(np.unique(labels)) < 2:
        raise InspectorError("The sweep needs both good and defective test images.")
    configs = sweep_configs(grids, detectors, base_params)
    store = CellStore(results_path) if results_path is not None else None
    done = {row.key: row for row in (SweepRow.from_json(r) for r in store.results())} if store is not None else {}
    todo = list({config_key(name, params): _config(name, params) for name, params in configs
                 if config_key(name, params) not in done}.values())
    finished = len(configs) - len(todo)
    reporter.report("sweep", finished, len(configs), f"{finished} of {len(configs)} configurations already done")

    def record(cell: dict[str, Any], result: dict[str, Any]) -> None:
        row = SweepRow.from_json(result)
        if store is not None:
            store.add_once(cell, row.to_json())
        done[row.key] = row

    stats = run_cells(sweep_cell, SweepShared(train, test, labels), todo, record, executor, reporter, "sweep",
                      lambda c, r: f"{c['detector']} {json.dumps(c['params'], sort_keys=True)}", already=finished)
    if stats.failed:  # a lost task (not a failing configuration, which is a row): fail closed, keep the rest
        raise InspectorError(f"{stats.failed} of {len(todo)} sweep configurations could not run (the {stats.done} "
                             f"that finished are kept; run again to redo the rest): {stats.errors[0]}")
    reporter.report("sweep", len(configs), len(configs), "Sweep finished")
    return [done[config_key(name, params)] for name, params in configs]


def best_rows(rows: Sequence[SweepRow]) -> dict[str, SweepRow]:
    """The best-AUROC row per detector (rows that failed are ignored)."""
    best: dict[str, SweepRow] = {}
    for row in rows:
        if not math.isfinite(row.image_auroc):
            continue
        if row.detector not in best or row.image_auroc > best[row.detector].image_auroc:
            best[row.detector] = row
    return best


def format_table(rows: Sequence[SweepRow]) -> str:
    """Plain-text table of the rows (for the CLI)."""
    lines = [f"{'detector':<10} {'params':<44} {'AUROC':>7} {'fit s':>7} {'score s':>8}  fitted values / error"]
    for row in rows:
        params = json.dumps(row.params, sort_keys=True)
        auroc = f"{row.image_auroc:.4f}" if math.isfinite(row.image_auroc) else "   -   "
        note = row.error or " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.extra.items())
        lines.append(f"{row.detector:<10} {params:<44} {auroc:>7} {row.fit_seconds:>7.2f} {row.score_seconds:>8.3f}  {note}")
    return "\n".join(lines)


# -- a whole category, and the `inspector evaluate --sweep` entry point -----------------------------
def sweep_category(dataset: str | Path, feature_config: Any = None, detectors: Optional[Sequence[str]] = None,
                   base_params: Optional[dict[str, Any]] = None, results_path: Optional[str | Path] = None,
                   device: str = "auto", cache_dir: Optional[str | Path] = None,
                   reporter: Optional[Reporter] = None,
                   executor: ExecutorSettings | None = None) -> list[SweepRow]:
    """Encode an MVTec-style category once (cached in `cache_dir` if given) and sweep its grids.

    `base_params` (e.g. {"standardize": True}) apply to every configuration of every detector.
    """
    from inspector.detectors.base import POOLED_LAYERS
    from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
    from inspector.features.extractor import FeatureConfig
    from inspector.io.datasets import load_category

    reporter = as_reporter(reporter)
    config = feature_config if feature_config is not None else FeatureConfig()
    category = load_category(dataset)
    if not category.test:
        raise InspectorError(f"{dataset} has no test/ images: the sweep needs a labelled test set.")
    names = list(CLASSIC_PARAM_GRIDS) if not detectors else list(detectors)
    layers = tuple(sorted(set((base_params or {}).get("layers", POOLED_LAYERS))))
    encoder = FeatureEncoder(category, config, layers, FeatureCache(cache_dir), device, reporter)
    train = encoder.encode("sweep-train", category.train)
    test = encoder.encode("sweep-test", category.test)
    per_detector = {name: dict(base_params or {}) for name in names}
    return run_sweep(train, test, category.test_labels, detectors=names, base_params=per_detector,
                     results_path=results_path, reporter=reporter, executor=executor)
