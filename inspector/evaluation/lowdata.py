"""Seed 000's low-data protocol (Gutierrez et al. 2021, section 4.3), resumable.

On a grid of sample sizes, M replicates each draw N training images without replacement (the
same draws for every detector and augmentation factor), fit, and score the whole test set.
Augmented copies are encoded once per (policy, factor) for every original and reused across
replicates. Outputs AUROC vs sample size and the "area under the AUC-percent curve". One module
per protocol; the shared machinery is in protocol_common.py.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from inspector.augment.policy import AugmentationPolicy
from inspector.evaluation.executor import ExecutorSettings, run_cells
from inspector.evaluation.protocol_common import (CELLS_FILE, CellStore, DetectorSpec, FeatureCache, FeatureEncoder,
                                                  evaluate_detector, json_safe, layers_for, parse_detectors,
                                                  sample_size_grid)
from inspector.evaluation.protocol_summary import group_rows, summarise, write_csv
from inspector.features.extractor import FeatureConfig
from inspector.features.maps import FeatureMaps
from inspector.io.datasets import load_category
from inspector.store.atomic import write_json_atomic
from inspector.types import InspectorError, Reporter, as_reporter


@dataclass
class LowDataResult:
    out_dir: Path
    cells: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    areas: list[dict[str, Any]]
    files: list[Path]


def _subset(n_total: int, size: int, replicate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed), int(size), int(replicate)])
    return np.sort(rng.choice(n_total, size=size, replace=False))


@dataclass
class LowDataShared:
    """What every low-data cell needs, sent once to each worker: the cached features."""

    train: FeatureMaps
    test: FeatureMaps
    labels: np.ndarray
    n_total: int
    seed: int
    specs: dict[str, DetectorSpec]
    augmented: dict[int, FeatureMaps] = field(default_factory=dict)


def lowdata_cell(shared: LowDataShared, cell: dict[str, Any]) -> dict[str, Any]:
    """One low-data cell, a pure function of the shared features and the cell's settings."""
    index = _subset(shared.n_total, cell["size"], cell["replicate"], shared.seed)
    train = shared.train.subset(index)
    factor = cell["factor"]
    if factor:
        copies = (index[:, None] * factor + np.arange(factor)[None, :]).reshape(-1)
        train = FeatureMaps.concatenate([train, shared.augmented[factor].subset(copies)])
    return evaluate_detector(shared.specs[cell["detector"]], train, shared.test, shared.labels, None, Reporter())


def run_low_data(category_path: str | os.PathLike, out_dir: str | os.PathLike,
                 detectors: Sequence[str | DetectorSpec] = ("mahalanobis", "knn", "padim"),
                 sizes: Optional[Sequence[int]] = None, replicates: int = 5,
                 policy: Optional[AugmentationPolicy] = None, aug_factor: int | Sequence[int] = 0,
                 feature_config: FeatureConfig = FeatureConfig(), reporter: Optional[Reporter] = None,
                 seed: int = 0, device: str = "auto", cache_dir: Optional[str | os.PathLike] = "auto",
                 include_unaugmented: bool = True, plots: bool = True,
                 executor: Optional[ExecutorSettings] = None) -> LowDataResult:
    """Seed 000's low-data protocol (section 4.3); resumable. See the module docstring.

    Augmentation factors: 0 (no augmentation, unless `include_unaugmented` is False) and each
    of `aug_factor` when a policy is given. The full training set (size == N) is fitted once,
    not M times, since every replicate would draw the same images. `executor` says where the
    cells run (this process by default; a process pool or a Dask cluster, see executor.py).
    """
    reporter = as_reporter(reporter)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    category = load_category(category_path)
    specs = parse_detectors(detectors)
    n_total = len(category.train)
    sizes = sorted({int(s) for s in (sizes or sample_size_grid(n_total))})
    too_big = [s for s in sizes if s > n_total or s < 2]
    if too_big:
        raise InspectorError(f"Sample sizes {too_big} are impossible: {category.root} has {n_total} training images "
                             "(each size must be between 2 and that).")
    if replicates < 1:
        raise InspectorError("At least one replicate is needed.")
    factors = [int(aug_factor)] if isinstance(aug_factor, (int, np.integer)) else [int(f) for f in aug_factor]
    factors = sorted({f for f in factors if f > 0}) if policy is not None and not policy.is_identity else []
    factors = ([0] if include_unaugmented or not factors else []) + factors
    labels = category.test_labels
    if len(np.unique(labels)) < 2:
        raise InspectorError(f"{category.root / 'test'} needs good and defective images for AUROC.")

    cache = FeatureCache(out / "cache" if cache_dir == "auto" else cache_dir)
    layers = layers_for(specs)
    encoder = FeatureEncoder(category, feature_config, layers, cache, device, reporter)
    write_json_atomic(out / "lowdata_config.json", json_safe({
        "protocol": "lowdata", "category": str(category.root), "detectors": [s.label for s in specs],
        "sizes": sizes, "replicates": replicates, "factors": factors, "seed": seed,
        "policy": None if policy is None else policy.to_json(), "features": feature_config.to_json(),
        "n_train": n_total, "n_test": len(category.test)}))

    store = CellStore(out / CELLS_FILE)
    plan = []
    for factor in factors:
        for spec in specs:
            for size in sizes:
                for replicate in range(1 if size == n_total else replicates):
                    plan.append({"protocol": "lowdata", "category": category.name, "detector": spec.label,
                                 "factor": factor, "policy": policy.fingerprint() if factor and policy else None,
                                 "size": size, "replicate": replicate, "seed": seed,
                                 "features": feature_config.to_json()})
    todo = [cell for cell in plan if cell not in store]
    reporter.report("lowdata", len(plan) - len(todo), len(plan), f"{len(plan) - len(todo)} of {len(plan)} cells already done")

    if todo:
        shared = LowDataShared(train=encoder.encode("train", category.train), test=encoder.encode("test", category.test),
                               labels=labels, n_total=n_total, seed=seed, specs={s.label: s for s in specs})
        for factor in sorted({cell["factor"] for cell in todo if cell["factor"]}):
            assert policy is not None
            shared.augmented[factor] = encoder.encode_augmented(category.train, policy, factor, seed)
        stats = run_cells(lowdata_cell, shared, todo, store.add_once, executor, reporter, "lowdata",
                          lambda c, r: f"{c['detector']} x{c['factor']} N={c['size']} #{c['replicate']}: "
                                       f"AUROC {r['auroc']:.3f}", already=len(plan) - len(todo))
        if stats.failed:  # fail closed: no summary from a partial grid; finished cells stay in the store
            raise InspectorError(f"{stats.failed} of {len(todo)} low-data cells failed (the {stats.done} that "
                                 f"finished are kept; run again to redo the rest): {stats.errors[0]}")

    rows = [{**cell, **(store.get(cell) or {})} for cell in plan]
    for row in rows:
        row["fraction"] = row["size"] / n_total
        row.pop("features", None)
    summary = summarise(rows, ["detector", "factor", "size"], ["auroc"])
    for row in summary:
        row["fraction"] = row["size"] / n_total
    areas = _low_data_areas(summary)
    files = [out / "lowdata_cells.csv", out / "lowdata_summary.csv", out / "lowdata_area.csv"]
    write_csv(files[0], rows, ["detector", "factor", "policy", "size", "fraction", "replicate", "seed", "auroc",
                               "n_fit", "fit_seconds"])
    write_csv(files[1], summary, ["detector", "factor", "size", "fraction", "auroc_mean", "auroc_std", "n"])
    write_csv(files[2], areas)
    if plots:
        from inspector.evaluation.plots import plot_low_data

        files.append(plot_low_data(summary, out / "lowdata_auroc.png",
                                   title=f"{category.name}: AUROC vs training images", n_total=n_total))
    return LowDataResult(out, rows, summary, areas, files)


def _low_data_areas(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from inspector.evaluation.lowdata_area import area_under_auc_percent, normalised_area_under_auc_percent

    areas = []
    for (detector, factor), members in group_rows(summary, ["detector", "factor"]).items():
        members = [m for m in members if np.isfinite(m["auroc_mean"])]
        if not members:
            continue
        fractions = np.array([m["fraction"] for m in members])
        aucs = np.array([m["auroc_mean"] for m in members])
        areas.append({"detector": detector, "factor": factor,
                      "area_under_auc_percent": area_under_auc_percent(fractions, aucs),
                      "normalised_area_under_auc_percent": normalised_area_under_auc_percent(fractions, aucs),
                      "fraction_min": float(fractions.min()), "fraction_max": float(fractions.max()),
                      "sizes": len(members)})
    return areas


