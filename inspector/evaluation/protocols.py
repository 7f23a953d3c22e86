"""The seeds' evaluation protocols, resumable: low data (seed 000) and pollution / refinement (seed 001).

Both protocols work on features encoded once and cached (seed 000, section 4.3): every fit
after that only runs the detector. Each finished cell (one fit and its metrics) is appended to
`cells.jsonl` in the output folder, keyed by its full configuration, so a killed sweep started
again with the same options skips what is done. At the end the cells are summarised into CSV
files and a PNG plot per curve.

Low data (`run_low_data`): on a grid of sample sizes, M replicates each draw N training images
without replacement (the same draws for every detector and augmentation factor), fit, and
score the whole test set. Augmented copies are encoded once per (policy, factor) for every
original and reused across replicates. Outputs AUROC vs sample size and the "area under the
AUC-percent curve".

Pollution (`run_pollution`): per replicate seed, a pollution set of defective test images
(a fraction of the training-set size, stratified by defect type) is drawn and removed from the
evaluation set; l training images are replaced with l of them (nested as l grows). Outputs
AUROC and AU-PRO vs pollution ratio, and at one pollution ratio (20 % by default) AUROC, AU-PRO
and the refinement precision, recall and F1 vs refinement ratio for SROC and the baselines.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from inspector.augment.engine import iter_augmented_copies
from inspector.augment.policy import AugmentationPolicy
from inspector.detectors.params import parse_detector_spec
from inspector.evaluation.executor import ExecutorSettings, run_cells
from inspector.features.extractor import FeatureConfig, get_extractor
from inspector.features.maps import FeatureMaps
from inspector.io.datasets import Category, Sample, load_category
from inspector.refine.sroc import METHODS, RefinementRanking, make_detector, n_flagged, refine, refinement_prf
from inspector.store.atomic import atomic_open, read_npz, write_json_atomic, write_npz_atomic
from inspector.types import InspectorError, Reporter, as_reporter

CELLS_FILE = "cells.jsonl"
DEFAULT_POLLUTION_RATIOS = (0.0, 0.05, 0.10, 0.15, 0.20)
DEFAULT_REFINEMENT_RATIOS = (0.0, 0.10, 0.20, 0.30, 0.40)
#: Seed 001 uses k = 5 for KNN; with k = 1 a training image's nearest neighbour is itself, so
#: scoring the training set (SROC) would give every image 0. Used when KNN refines.
KNN_REFINE_PARAMS = {"k": 5}


# -- configuration helpers -----------------------------------------------------------------------
@dataclass(frozen=True)
class DetectorSpec:
    """A detector name and its parameters, e.g. parsed from 'mahalanobis:covariance=empirical'."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return self.name + "[" + ",".join(f"{k}={v}" for k, v in self.params) + "]"

    def create(self):
        return make_detector(self.name, self.kwargs)

    @classmethod
    def parse(cls, text: "str | DetectorSpec") -> "DetectorSpec":
        """'name' or 'name:key=value:key=value' (values parsed as JSON when they can be)."""
        if isinstance(text, DetectorSpec):
            return text
        name, options = parse_detector_spec(text)
        params = [(key, tuple(value) if isinstance(value, list) else value) for key, value in options.items()]
        return cls(name, tuple(sorted(params)))


def sample_size_grid(n_total: int, small_step: int = 5, small_max: int = 50, large_step: int = 10) -> list[int]:
    """Seed 000's grid: 5, 10, ... 50, then steps of 10, up to and including all images."""
    sizes = list(range(small_step, min(small_max, n_total) + 1, small_step))
    sizes += list(range(small_max + large_step, n_total + 1, large_step))
    if n_total >= small_step and (not sizes or sizes[-1] != n_total):
        sizes.append(n_total)
    return sizes


def parse_number_list(text: str | Sequence[float], integer: bool = False) -> list:
    """'5:50:5,60,80' -> [5, 10, ..., 50, 60, 80]; 'a:b:step' ranges include b when on the grid."""
    if not isinstance(text, str):
        return [int(v) if integer else float(v) for v in text]
    values: list = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if ":" in part:
                start, stop, step = (float(v) for v in part.split(":"))
                if step <= 0:
                    raise ValueError
                count = int(math.floor((stop - start) / step + 1e-9)) + 1
                values += [start + i * step for i in range(max(count, 0))]
            else:
                values.append(float(part))
        except ValueError as exc:
            raise InspectorError(f"Cannot read {part!r} in {text!r}: use numbers, or start:stop:step.") from exc
    if integer:
        if any(v != int(v) for v in values):
            raise InspectorError(f"{text!r} must hold whole numbers.")
        return [int(v) for v in values]
    return [round(v, 10) for v in values]


# -- resumable cell store ----------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class CellStore:
    """Finished cells, one JSON line each, keyed by their configuration.

    Each line is flushed and fsynced as soon as its cell finishes; a line torn by a kill is
    dropped on the next open, so only that one cell is redone.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._cells: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    @staticmethod
    def key(config: dict[str, Any]) -> str:
        return json.dumps(_clean(config), sort_keys=True, separators=(",", ":"))

    def _load(self) -> None:
        good_lines, torn = [], False
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._cells[self.key(record["config"])] = record["result"]
                good_lines.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                torn = True
        if torn:  # rewrite without the damaged line(s) so that appends start on a clean line
            with atomic_open(self.path, "w") as handle:
                handle.write("".join(line + "\n" for line in good_lines))

    def __len__(self) -> int:
        return len(self._cells)

    def __contains__(self, config: dict[str, Any]) -> bool:
        return self.key(config) in self._cells

    def get(self, config: dict[str, Any]) -> Optional[dict[str, Any]]:
        return self._cells.get(self.key(config))

    def add_once(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        """Add a cell unless it is already stored (a retried cell may report twice)."""
        if config not in self:
            self.add(config, result)

    def add(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        config, result = _clean(config), _clean(result)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write(json.dumps({"config": config, "result": result}, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._cells[self.key(config)] = result


# -- features, encoded once and cached ---------------------------------------------------------------
def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(_clean(obj), sort_keys=True).encode()).hexdigest()[:16]


def _files_signature(samples: Sequence[Sample]) -> list:
    signature = []
    for sample in samples:
        try:
            stat = sample.path.stat()
            signature.append([str(sample.path), stat.st_size, int(stat.st_mtime)])
        except OSError:
            signature.append([str(sample.path), -1, -1])
    return signature


class FeatureCache:
    """Features (and other arrays) stored as npz under a content key; None disables caching."""

    def __init__(self, folder: Optional[str | os.PathLike]) -> None:
        self.folder = None if folder is None else Path(folder)

    def get_or_compute(self, name: str, key: Any, compute: Callable[[], FeatureMaps]) -> FeatureMaps:
        if self.folder is None:
            return compute()
        path = self.folder / f"{name}-{_digest(key)}.npz"
        if path.exists():
            try:
                arrays = read_npz(path)
                size = tuple(int(v) for v in arrays.pop("input_size"))
                return FeatureMaps({int(k.split("_")[1]): v for k, v in arrays.items()}, size)  # type: ignore[arg-type]
            except (InspectorError, KeyError, ValueError, IndexError):
                path.unlink(missing_ok=True)  # damaged cache: recompute
        features = compute()
        arrays = {f"level_{k}": v for k, v in features.levels.items()}
        arrays["input_size"] = np.array(features.input_size, dtype=np.int64)
        write_npz_atomic(path, arrays)
        return features


@dataclass
class _Encoder:
    """Encodes a category's images for the protocols, with caching."""

    category: Category
    feature_config: FeatureConfig
    layers: tuple[int, ...]
    cache: FeatureCache
    device: str = "auto"
    reporter: Reporter = field(default_factory=Reporter)

    def _key(self, samples: Sequence[Sample], **extra: Any) -> dict[str, Any]:
        return {"files": _files_signature(samples), "features": self.feature_config.to_json(),
                "layers": list(self.layers), **extra}

    def encode(self, name: str, samples: Sequence[Sample]) -> FeatureMaps:
        def compute() -> FeatureMaps:
            extractor = get_extractor(self.feature_config, self.device)
            return extractor.extract((s.load() for s in samples), self.layers, self.reporter, total=len(samples),
                                     stage="extract")

        return self.cache.get_or_compute(name, self._key(samples), compute)

    def encode_augmented(self, samples: Sequence[Sample], policy: AugmentationPolicy, factor: int, seed: int,
                         chunk: int = 8) -> FeatureMaps:
        """Features of `factor` copies of every sample, grouped by original (copies of 0 first)."""
        size = self.feature_config.image_size

        def compute() -> FeatureMaps:
            extractor = get_extractor(self.feature_config, self.device)
            parts: list[FeatureMaps] = []
            total = len(samples) * factor
            for start in range(0, len(samples), chunk):
                batch = samples[start:start + chunk]
                images = [s.load() for s in batch]
                copies: list[np.ndarray] = []
                for _, group in iter_augmented_copies(images, policy, factor, seed, working_size=size,
                                                      indices=range(start, start + len(batch))):
                    copies.extend(group)
                parts.append(extractor.extract(copies, self.layers))
                done = min(total, (start + len(batch)) * factor)
                self.reporter.report("extract", done, total, f"{done}/{total} augmented copies encoded (x{factor})")
            return FeatureMaps.concatenate(parts)

        key = self._key(samples, policy=policy.fingerprint(), factor=factor, seed=seed, working_size=size)
        return self.cache.get_or_compute(f"augmented-x{factor}", key, compute)


def _layers_for(specs: Sequence[DetectorSpec]) -> tuple[int, ...]:
    layers: set[int] = set()
    for spec in specs:
        layers.update(int(layer) for layer in spec.create().layers)
    return tuple(sorted(layers))


def _evaluate(detector_spec: DetectorSpec, train: FeatureMaps, test: FeatureMaps, labels: np.ndarray,
              masks: Optional[np.ndarray], reporter: Reporter) -> dict[str, Any]:
    from inspector.evaluation.metrics import au_iou, au_pro, image_auroc

    detector = detector_spec.create()
    start = time.perf_counter()
    detector.fit(train)
    fit_seconds = time.perf_counter() - start
    reporter.check()
    result = detector.score(test)
    out: dict[str, Any] = {"auroc": image_auroc(labels, result.image_scores), "n_fit": len(train),
                           "fit_seconds": round(fit_seconds, 4)}
    if masks is not None:
        usable = result.maps is not None and masks.any()
        out["au_pro"] = au_pro(masks, result.maps) if usable else None
        out["au_iou"] = au_iou(masks, result.maps) if usable else None
    return out


# -- outputs ------------------------------------------------------------------------------------------
def _write_csv(path: Path, rows: list[dict[str, Any]], columns: Optional[list[str]] = None) -> None:
    if columns is None:
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns]
    with atomic_open(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else
                                 (f"{v:.6g}" if isinstance(v, float) else v)) for k, v in row.items()})


def _mean_std(values: Iterable[Any]) -> tuple[float, float, int]:
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    array = array[np.isfinite(array)]
    if len(array) == 0:
        return float("nan"), float("nan"), 0
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0, len(array)


def _group(rows: list[dict[str, Any]], keys: Sequence[str]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def _summarise(rows: list[dict[str, Any]], keys: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    summary = []
    for group_key, members in _group(rows, keys).items():
        out = dict(zip(keys, group_key))
        for metric in metrics:
            mean, std, count = _mean_std(m.get(metric) for m in members)
            out[f"{metric}_mean"], out[f"{metric}_std"] = mean, std
            out["n"] = max(out.get("n", 0), count)
        summary.append(out)
    return summary


# -- low data -----------------------------------------------------------------------------------------
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
    return _evaluate(shared.specs[cell["detector"]], train, shared.test, shared.labels, None, Reporter())


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
    specs = [DetectorSpec.parse(d) for d in detectors]
    if not specs:
        raise InspectorError("No detector to evaluate.")
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
    layers = _layers_for(specs)
    encoder = _Encoder(category, feature_config, layers, cache, device, reporter)
    write_json_atomic(out / "lowdata_config.json", _clean({
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
                                       f"AUROC {r['auroc']:.3f}")
        if stats.failed:  # fail closed: no summary from a partial grid; finished cells stay in the store
            raise InspectorError(f"{stats.failed} of {len(todo)} low-data cells failed (the {stats.done} that "
                                 f"finished are kept; run again to redo the rest): {stats.errors[0]}")

    rows = [{**cell, **(store.get(cell) or {})} for cell in plan]
    for row in rows:
        row["fraction"] = row["size"] / n_total
        row.pop("features", None)
    summary = _summarise(rows, ["detector", "factor", "size"], ["auroc"])
    for row in summary:
        row["fraction"] = row["size"] / n_total
    areas = _low_data_areas(summary)
    files = [out / "lowdata_cells.csv", out / "lowdata_summary.csv", out / "lowdata_area.csv"]
    _write_csv(files[0], rows, ["detector", "factor", "policy", "size", "fraction", "replicate", "seed", "auroc",
                                "n_fit", "fit_seconds"])
    _write_csv(files[1], summary, ["detector", "factor", "size", "fraction", "auroc_mean", "auroc_std", "n"])
    _write_csv(files[2], areas)
    if plots:
        from inspector.evaluation.plots import plot_low_data

        files.append(plot_low_data(summary, out / "lowdata_auroc.png",
                                   title=f"{category.name}: AUROC vs training images", n_total=n_total))
    return LowDataResult(out, rows, summary, areas, files)


def _low_data_areas(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from inspector.evaluation.lowdata_area import area_under_auc_percent, normalised_area_under_auc_percent

    areas = []
    for (detector, factor), members in _group(summary, ["detector", "factor"]).items():
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


# -- pollution and refinement ------------------------------------------------------------------------
@dataclass
class PollutionResult:
    out_dir: Path
    robustness: list[dict[str, Any]]
    refinement: list[dict[str, Any]]
    files: list[Path]


def pollution_set(category: Category, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (into category.test) of `size` defective images, stratified by defect type.

    Each type gets its share by largest remainder, so the set keeps the test set's proportions.
    At least one defective image of the test set must stay out of it for the evaluation.
    """
    defects = np.array([s.defect for s in category.test])
    defective = np.flatnonzero(category.test_labels == 1)
    if size >= len(defective):
        raise InspectorError(
            f"{category.root} has {len(defective)} defective test image(s): too few to draw a pollution set of "
            f"{size} and still evaluate (seed 001 excludes such categories)."
        )
    types = sorted(set(defects[defective]))
    counts = np.array([np.sum(defects[defective] == t) for t in types], dtype=np.float64)
    shares = counts / counts.sum() * size
    quota = np.floor(shares).astype(int)
    for extra in np.argsort(-(shares - quota), kind="stable")[: size - quota.sum()]:
        quota[extra] += 1
    chosen = []
    for defect, count in zip(types, quota):
        members = np.flatnonzero(defects == defect)
        chosen.extend(rng.choice(members, size=int(count), replace=False).tolist())
    return np.array(sorted(chosen), dtype=np.int64)


@dataclass(frozen=True)
class PollutedSplit:
    """One polluted training set and its evaluation set (indices into category.train / .test)."""

    healthy: np.ndarray  #: training images kept (category.train indices)
    polluting: np.ndarray  #: defective test images put in the training set (category.test indices)
    pollution_set: np.ndarray  #: the whole pollution set (category.test indices), never evaluated on
    evaluation: np.ndarray  #: test images used for evaluation (category.test indices)

    @property
    def is_polluted(self) -> np.ndarray:
        """Per training image (healthy first, then polluting): True for the defective ones."""
        return np.r_[np.zeros(len(self.healthy), bool), np.ones(len(self.polluting), bool)]


def polluted_split(category: Category, ratio: float, replicate: int, seed: int = 0,
                   pollution_fraction: float = 0.2) -> PollutedSplit:
    """Seed 001's polluted training set: l = round(ratio * N) healthy images replaced by l images
    of the pollution set. The random draws depend on (seed, replicate) only, so for one replicate
    the polluted images at a low ratio are among those at a higher one."""
    n_train = len(category.train)
    size = int(round(pollution_fraction * n_train))
    pollution = pollution_set(category, size, np.random.default_rng([int(seed), int(replicate), 1]))
    rng = np.random.default_rng([int(seed), int(replicate), 2])
    healthy_order = rng.permutation(n_train)
    pollution_order = rng.permutation(len(pollution))
    replaced = int(round(float(ratio) * n_train))
    if replaced > len(pollution):
        raise InspectorError(f"Pollution ratio {ratio:g} needs {replaced} defective images; the pollution set holds "
                             f"{len(pollution)} (raise the pollution set fraction).")
    evaluation = np.setdiff1d(np.arange(len(category.test)), pollution)
    return PollutedSplit(np.sort(healthy_order[replaced:]), pollution[np.sort(pollution_order[:replaced])],
                         pollution, evaluation)


def run_pollution(category_path: str | os.PathLike, out_dir: str | os.PathLike,
                  detectors: Sequence[str | DetectorSpec] = ("mahalanobis", "knn", "padim"),
                  ratios: Sequence[float] = DEFAULT_POLLUTION_RATIOS,
                  refinement_ratios: Sequence[float] = DEFAULT_REFINEMENT_RATIOS,
                  refinement_methods: Sequence[str] = METHODS, refinement_pollution: float = 0.2,
                  refine_detector: Optional[str | DetectorSpec] = None, replicates: int = 5, splits: int = 5,
                  pollution_fraction: float = 0.2, feature_config: FeatureConfig = FeatureConfig(),
                  reporter: Optional[Reporter] = None, seed: int = 0, device: str = "auto",
                  cache_dir: Optional[str | os.PathLike] = "auto", plots: bool = True) -> PollutionResult:
    """Seed 001's pollution and refinement protocol (sections 4.1, 4.3-4.5); resumable.

    `refine_detector` None refines with each final detector itself (seed 001, 4.4); a name
    refines with that detector for every final one (App. B). The 'oracle' rows remove exactly
    the polluted images: the best any refinement could do.
    """
    reporter = as_reporter(reporter)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    category = load_category(category_path)
    specs = [DetectorSpec.parse(d) for d in detectors]
    if not specs:
        raise InspectorError("No detector to evaluate.")
    refine_spec = None if refine_detector in (None, "") else DetectorSpec.parse(refine_detector)  # type: ignore[arg-type]
    methods = [{"cv": "cross_validation"}.get(m, m) for m in refinement_methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InspectorError(f"Unknown refinement method(s) {unknown}; use {', '.join(METHODS)}.")
    for ratio in list(ratios) + [refinement_pollution]:
        if not 0.0 <= ratio <= pollution_fraction + 1e-9:
            raise InspectorError(f"Pollution ratio {ratio:g} must be between 0 and the pollution set fraction "
                                 f"({pollution_fraction:g}).")
    for ratio in refinement_ratios:
        n_flagged(len(category.train), ratio)
    n_train = len(category.train)
    pollution_size = int(round(pollution_fraction * n_train))
    pollution_set(category, pollution_size, np.random.default_rng(0))  # fail early when too few defects
    size = feature_config.image_size

    cache = FeatureCache(out / "cache" if cache_dir == "auto" else cache_dir)
    all_specs = specs + ([refine_spec] if refine_spec else [])
    encoder = _Encoder(category, feature_config, _layers_for(all_specs), cache, device, reporter)
    write_json_atomic(out / "pollution_config.json", _clean({
        "protocol": "pollution", "category": str(category.root), "detectors": [s.label for s in specs],
        "ratios": list(ratios), "refinement_ratios": list(refinement_ratios), "methods": methods,
        "refinement_pollution": refinement_pollution, "refine_detector": refine_spec.label if refine_spec else None,
        "replicates": replicates, "splits": splits, "pollution_fraction": pollution_fraction, "seed": seed,
        "features": feature_config.to_json(), "n_train": n_train, "pollution_set_size": pollution_size}))

    base = {"category": category.name, "seed": seed, "pollution_fraction": pollution_fraction,
            "features": feature_config.to_json()}
    plan: list[dict[str, Any]] = []
    for replicate in range(replicates):
        for spec in specs:
            for ratio in ratios:
                plan.append({**base, "protocol": "pollution", "detector": spec.label, "replicate": replicate,
                             "pollution": float(ratio)})
            refiner = (refine_spec or spec).label
            for method in methods:
                for rr in refinement_ratios:
                    plan.append({**base, "protocol": "refinement", "detector": spec.label, "refiner": refiner,
                                 "method": method, "splits": splits if method in ("cross_validation", "stoc") else None,
                                 "replicate": replicate, "pollution": float(refinement_pollution),
                                 "refinement": float(rr)})
            plan.append({**base, "protocol": "refinement", "detector": spec.label, "refiner": "oracle",
                         "method": "oracle", "splits": None, "replicate": replicate,
                         "pollution": float(refinement_pollution), "refinement": float(refinement_pollution)})
    store = CellStore(out / CELLS_FILE)
    todo = [cell for cell in plan if cell not in store]
    done = len(plan) - len(todo)
    reporter.report("pollution", done, len(plan), f"{done} of {len(plan)} cells already done")

    spec_by_label = {s.label: s for s in all_specs}
    loaded: dict[str, Any] = {}
    rankings: dict[tuple, RefinementRanking] = {}
    fits: dict[tuple, dict[str, Any]] = {}

    def data() -> dict[str, Any]:
        if not loaded:
            loaded["train"] = encoder.encode("train", category.train)
            loaded["test"] = encoder.encode("test", category.test)
            loaded["masks"] = np.stack([s.load_mask((size, size)) for s in category.test])
        return loaded

    def setup(replicate: int, ratio: float) -> dict[str, Any]:
        d = data()
        split = polluted_split(category, ratio, replicate, seed, pollution_fraction)
        train = FeatureMaps.concatenate([d["train"].subset(split.healthy), d["test"].subset(split.polluting)])
        return {"train": train, "is_polluted": split.is_polluted, "test": d["test"].subset(split.evaluation),
                "labels": category.test_labels[split.evaluation], "masks": d["masks"][split.evaluation]}

    def fit_eval(spec: DetectorSpec, replicate: int, ratio: float, keep: np.ndarray, setting: dict[str, Any]):
        memo = (spec.label, replicate, ratio, hashlib.sha1(np.asarray(keep, np.int64).tobytes()).hexdigest())
        if memo not in fits:
            fits[memo] = _evaluate(spec, setting["train"].subset(keep), setting["test"], setting["labels"],
                                   setting["masks"], reporter)
        return fits[memo]

    settings_cache: dict[tuple, dict[str, Any]] = {}
    for cell in todo:
        replicate, ratio = cell["replicate"], cell["pollution"]
        if (replicate, ratio) not in settings_cache:
            settings_cache[(replicate, ratio)] = setup(replicate, ratio)
        setting = settings_cache[(replicate, ratio)]
        spec = spec_by_label[cell["detector"]]
        n = len(setting["train"])
        if cell["protocol"] == "pollution":
            result = fit_eval(spec, replicate, ratio, np.arange(n), setting)
            result = {**result, "n_polluted": int(setting["is_polluted"].sum())}
        else:
            method = cell["method"]
            if method == "oracle":
                keep = np.flatnonzero(~setting["is_polluted"])
                flagged = setting["is_polluted"]
            else:
                rank_key = (cell["refiner"], method, replicate, ratio)
                if rank_key not in rankings:
                    refiner = spec_by_label[cell["refiner"]]
                    params = refiner.kwargs
                    if refiner.name == "knn" and int(params.get("k", 1)) < 2:
                        params = {**params, **KNN_REFINE_PARAMS}
                    rankings[rank_key] = refine(method, setting["train"], 0.0, refiner.name, params, s=splits,
                                                seed=seed * 1000 + replicate, reporter=reporter)
                ranking = rankings[rank_key].with_ratio(cell["refinement"])
                keep, flagged = ranking.kept_indices(), ranking.flagged
            precision, recall, f1 = refinement_prf(flagged, setting["is_polluted"])
            result = {**fit_eval(spec, replicate, ratio, keep, setting), "precision": precision, "recall": recall,
                      "f1": f1, "n_flagged": int(np.sum(flagged)), "n_polluted": int(setting["is_polluted"].sum())}
        store.add(cell, result)
        done += 1
        reporter.report("pollution", done, len(plan), f"{cell['detector']} {cell.get('method', 'polluted')} "
                                                      f"#{replicate}: AUROC {result['auroc']:.3f}")
        if len(settings_cache) > 2:  # bound memory: keep only the latest settings
            settings_cache.pop(next(iter(settings_cache)))

    rows = [{**cell, **(store.get(cell) or {})} for cell in plan]
    for row in rows:
        row.pop("features", None)
    robustness = _summarise([r for r in rows if r["protocol"] == "pollution"], ["detector", "pollution"],
                            ["auroc", "au_pro", "au_iou"])
    refinement = _summarise([r for r in rows if r["protocol"] == "refinement"],
                            ["detector", "refiner", "method", "refinement"],
                            ["auroc", "au_pro", "au_iou", "precision", "recall", "f1"])
    files = [out / "pollution_cells.csv", out / "pollution_robustness.csv", out / "refinement.csv"]
    _write_csv(files[0], rows, ["protocol", "detector", "refiner", "method", "replicate", "pollution", "refinement",
                                "auroc", "au_pro", "au_iou", "precision", "recall", "f1", "n_flagged", "n_polluted", "n_fit",
                                "fit_seconds", "splits", "seed"])
    _write_csv(files[1], robustness, ["detector", "pollution", "auroc_mean", "auroc_std", "au_pro_mean",
                                      "au_pro_std", "au_iou_mean", "au_iou_std", "n"])
    _write_csv(files[2], refinement, ["detector", "refiner", "method", "refinement", "auroc_mean", "auroc_std",
                                      "au_pro_mean", "au_pro_std", "au_iou_mean", "au_iou_std", "precision_mean", "recall_mean", "f1_mean",
                                      "precision_std", "recall_std", "f1_std", "n"])
    if plots:
        from inspector.evaluation.plots import plot_pollution, plot_refinement

        files += plot_pollution(robustness, out, title=f"{category.name}: pollution")
        files += plot_refinement(refinement, out, title=f"{category.name}: refinement at "
                                                        f"{refinement_pollution:.0%} pollution")
    return PollutionResult(out, robustness, refinement, files)
