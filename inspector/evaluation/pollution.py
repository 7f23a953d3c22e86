"""Seed 001's pollution and refinement protocol (Cordier et al., sections 4.1, 4.3-4.5), resumable.

Per replicate seed, a pollution set of defective test images (as many as the largest pollution
ratio asked for needs, stratified by defect type; a third of the defects always stay for the
evaluation) is drawn and removed from the evaluation set; l training images are replaced with l
of them (nested as l grows). Outputs AUROC and AU-PRO vs pollution ratio, and at one pollution
ratio (the largest asked for by default) AUROC, AU-PRO and the refinement precision, recall
and F1 vs refinement ratio for SROC and the baselines. One module per protocol; the shared
machinery is in protocol_common.py.
"""
from __future__ import annotations

import hashlib
import math
import os
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from inspector.evaluation.executor import ExecutorSettings, run_cells
from inspector.evaluation.protocol_common import (CELLS_FILE, CellStore, DetectorSpec, FeatureCache, FeatureEncoder,
                                                  evaluate_detector, json_safe, layers_for, parse_detectors)
from inspector.evaluation.protocol_summary import summarise, write_csv
from inspector.features.extractor import FeatureConfig
from inspector.features.maps import FeatureMaps
from inspector.io.datasets import Category, load_category
from inspector.refine.sroc import (METHODS, PAPER_METHODS, RATIO_DEPENDENT_METHODS, RefinementRanking, n_flagged, refine,
                                   refinement_prf)
from inspector.store.atomic import write_json_atomic
from inspector.types import InspectorError, Reporter, as_reporter

DEFAULT_POLLUTION_RATIOS = (0.0, 0.05, 0.10, 0.15, 0.20)
DEFAULT_REFINEMENT_RATIOS = (0.0, 0.10, 0.20, 0.30, 0.40)
#: Seed 001 uses k = 5 for KNN; with k = 1 a training image's nearest neighbour is itself, so
#: scoring the training set (SROC) would give every image 0. Used when KNN refines.
KNN_REFINE_PARAMS = {"k": 5}



@dataclass
class PollutionResult:
    out_dir: Path
    robustness: list[dict[str, Any]]
    refinement: list[dict[str, Any]]
    files: list[Path]


#: At least this share of a category's defective test images (and at least one) stays out of the
#: pollution set, so the polluted models are still evaluated on defects. Seed 001's own setting on
#: MVTec bottle (a pollution set of 20 % of 209 training images: 42 of its 63 defects) keeps exactly
#: this share; KolektorSDD's 52 cracks allow a pollution set of 34 (ratio 0.122 of 278 images).
EVALUATION_DEFECT_SHARE = Fraction(1, 3)


def max_pollution_size(category: Category) -> int:
    """The most defective test images a pollution set may take: all but EVALUATION_DEFECT_SHARE of them."""
    n_defective = int(np.sum(category.test_labels == 1))
    kept = max(1, math.ceil(n_defective * EVALUATION_DEFECT_SHARE))
    return max(0, n_defective - kept)


def max_pollution_ratio(category: Category) -> float:
    """The largest pollution ratio the category's defects allow (max_pollution_size / training images)."""
    return max_pollution_size(category) / max(len(category.train), 1)


def pollution_set_size(category: Category, ratios: Sequence[float]) -> int:
    """The pollution set that serves every ratio asked for: round(largest ratio x training images).

    Refuses, naming the largest ratio allowed, when the category has too few defective test images.
    """
    n_train = len(category.train)
    largest = max((float(r) for r in ratios), default=0.0)
    needed = int(round(largest * n_train))
    allowed = max_pollution_size(category)
    if needed > allowed:
        n_defective = int(np.sum(category.test_labels == 1))
        raise InspectorError(
            f"{category.root}: pollution ratio {largest:g} needs {needed} defective images in the {n_train} training "
            f"images, but only {allowed} of its {n_defective} defective test images may pollute (at least "
            f"{n_defective - allowed}, a third, stay for evaluation): the largest pollution ratio it allows is "
            f"{math.floor(max_pollution_ratio(category) * 1000) / 1000:g} ({allowed} images). Ask for --ratios and "
            f"--refinement-pollution up to that.")
    return needed


def pollution_set(category: Category, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (into category.test) of `size` defective images, stratified by defect type.

    Each type gets its share by largest remainder, so the set keeps the test set's proportions.
    A third of the defective test images (EVALUATION_DEFECT_SHARE) stays out of it for the evaluation.
    """
    defects = np.array([s.defect for s in category.test])
    defective = np.flatnonzero(category.test_labels == 1)
    if size > max_pollution_size(category):
        raise InspectorError(
            f"{category.root} has {len(defective)} defective test image(s): too few to draw a pollution set of "
            f"{size} and still evaluate (at most {max_pollution_size(category)}: a third stay for evaluation; "
            f"Cordier et al. exclude such categories)."
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
                   pollution_size: Optional[int] = None) -> PollutedSplit:
    """Seed 001's polluted training set: l = round(ratio * N) healthy images replaced by l images
    of the pollution set. The random draws depend on (seed, replicate, pollution_size) only, so for
    one replicate and one pollution set the polluted images at a low ratio are among those at a
    higher one. `pollution_size` is the run's pollution set (pollution_set_size of its largest
    ratio); None draws the smallest set that serves `ratio`."""
    n_train = len(category.train)
    size = pollution_set_size(category, [ratio]) if pollution_size is None else int(pollution_size)
    pollution = pollution_set(category, size, np.random.default_rng([int(seed), int(replicate), 1]))
    rng = np.random.default_rng([int(seed), int(replicate), 2])
    healthy_order = rng.permutation(n_train)
    pollution_order = rng.permutation(len(pollution))
    replaced = int(round(float(ratio) * n_train))
    if replaced > len(pollution):
        raise InspectorError(f"Pollution ratio {ratio:g} needs {replaced} defective images; the pollution set holds "
                             f"{len(pollution)} (size it from the largest ratio: pollution_set_size).")
    evaluation = np.setdiff1d(np.arange(len(category.test)), pollution)
    return PollutedSplit(np.sort(healthy_order[replaced:]), pollution[np.sort(pollution_order[:replaced])],
                         pollution, evaluation)


@dataclass
class PollutionShared:
    """What every pollution cell needs, sent once to each worker: the cached features and the splits."""

    train: FeatureMaps
    test: FeatureMaps
    labels: np.ndarray  #: test labels
    masks: np.ndarray  #: test masks at the working size
    splits: dict[tuple[int, float], PollutedSplit]  #: by (replicate, pollution ratio)
    specs: dict[str, DetectorSpec]
    seed: int
    cv_splits: int
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  #: names this run in a worker's memo


_LATEST_SETTING: dict[tuple, dict[str, Any]] = {}


def polluted_setting(shared: PollutionShared, replicate: int, ratio: float) -> dict[str, Any]:
    """The polluted training set and the evaluation set of one (replicate, ratio).

    Consecutive cells mostly share one, so each process keeps the latest (the features of a
    training set are large, and building them is a copy).
    """
    key = (shared.token, replicate, ratio)
    setting = _LATEST_SETTING.get(key)
    if setting is None:
        split = shared.splits[(replicate, ratio)]
        setting = {"train": FeatureMaps.concatenate([shared.train.subset(split.healthy),
                                                     shared.test.subset(split.polluting)]),
                   "test": shared.test.subset(split.evaluation), "labels": shared.labels[split.evaluation],
                   "masks": shared.masks[split.evaluation]}
        _LATEST_SETTING.clear()
        _LATEST_SETTING[key] = setting
    return setting


def ranking_cell(shared: PollutionShared, cell: dict[str, Any]) -> dict[str, Any]:
    """One refinement ranking (SROC or a baseline) of a polluted training set; a pure task.

    Most rankings do not depend on the refinement ratio, so they are made once and cut at each;
    iterative SROC's is made for each ratio (`made_for`).
    """
    refiner = shared.specs[cell["refiner"]]
    params = refiner.kwargs
    if refiner.name == "knn" and int(params.get("k", 1)) < 2:
        params = {**params, **KNN_REFINE_PARAMS}
    setting = polluted_setting(shared, cell["replicate"], cell["pollution"])
    return {"ranking": refine(cell["method"], setting["train"], cell.get("made_for") or 0.0, refiner.name, params,
                              s=shared.cv_splits, seed=shared.seed * 1000 + cell["replicate"])}


def fit_cell(shared: PollutionShared, cell: dict[str, Any]) -> dict[str, Any]:
    """One fit on the kept images of a polluted training set, scored on its evaluation set; a pure task."""
    setting = polluted_setting(shared, cell["replicate"], cell["pollution"])
    return evaluate_detector(shared.specs[cell["detector"]], setting["train"].subset(cell["keep"]), setting["test"],
                             setting["labels"], setting["masks"], Reporter())


def _rank_key(cell: dict[str, Any]) -> tuple:
    if "made_for" in cell:  # a ranking cell
        made_for = cell["made_for"]
    else:
        made_for = cell.get("refinement") if cell["method"] in RATIO_DEPENDENT_METHODS else None
    return cell["refiner"], cell["method"], cell["replicate"], cell["pollution"], made_for


def _run_cells(shared: PollutionShared, todo: list[dict[str, Any]], store: CellStore, already: int,
               executor: ExecutorSettings | None, reporter: Reporter) -> tuple[int, list[str]]:
    """Rankings first, then every distinct fit once (a fit on the same images serves several rows,
    e.g. refinement ratio 0 of each method); each row is stored as its fit comes back.
    Returns the number of rows not stored and the errors."""
    rank_cells = list({_rank_key(c): {"refiner": c["refiner"], "method": c["method"], "replicate": c["replicate"],
                                      "pollution": c["pollution"], "made_for": _rank_key(c)[-1]}
                       for c in todo if c["protocol"] == "refinement" and c["method"] != "oracle"}.values())
    rankings: dict[tuple, RefinementRanking] = {}
    rank_stats = run_cells(ranking_cell, shared, rank_cells, lambda c, r: rankings.__setitem__(_rank_key(c), r["ranking"]),
                           executor, reporter, "refine",
                           lambda c, r: f"{c['method']} by {c['refiner']} #{c['replicate']} at {c['pollution']:.0%}")
    fits: dict[tuple, dict[str, Any]] = {}
    served: list[list[tuple[dict[str, Any], dict[str, Any]]]] = []
    for row in todo:
        is_polluted = shared.splits[(row["replicate"], row["pollution"])].is_polluted
        if row["protocol"] == "pollution":
            keep = np.arange(len(is_polluted))
            extra: dict[str, Any] = {"n_polluted": int(is_polluted.sum())}
        else:
            if row["method"] == "oracle":
                keep, flagged = np.flatnonzero(~is_polluted), is_polluted
            elif _rank_key(row) in rankings:
                ranking = rankings[_rank_key(row)].with_ratio(row["refinement"])
                keep, flagged = ranking.kept_indices(), ranking.flagged
            else:
                continue  # its ranking failed
            precision, recall, f1 = refinement_prf(flagged, is_polluted)
            extra = {"precision": precision, "recall": recall, "f1": f1, "n_flagged": int(np.sum(flagged)),
                     "n_polluted": int(is_polluted.sum())}
        keep = np.asarray(keep, np.int64)
        memo = (row["detector"], row["replicate"], row["pollution"], hashlib.sha1(keep.tobytes()).hexdigest())
        if memo not in fits:
            fits[memo] = {"fit": len(fits), "detector": row["detector"], "replicate": row["replicate"],
                          "pollution": row["pollution"], "keep": keep}
            served.append([])
        served[fits[memo]["fit"]].append((row, extra))

    def stored(cell: dict[str, Any], result: dict[str, Any]) -> None:
        for row, extra in served[cell["fit"]]:
            store.add_once(row, {**result, **extra})

    fit_cells = sorted(fits.values(), key=lambda c: (c["replicate"], c["pollution"]))  # neighbours share a setting
    fit_stats = run_cells(fit_cell, shared, fit_cells, stored, executor, reporter, "pollution",
                          lambda c, r: f"{c['detector']} #{c['replicate']} at {c['pollution']:.0%}: "
                                       f"AUROC {r['auroc']:.3f}", already=already,
                          weight=lambda c: len(served[c["fit"]]))
    return sum(row not in store for row in todo), rank_stats.errors + fit_stats.errors


def run_pollution(category_path: str | os.PathLike, out_dir: str | os.PathLike,
                  detectors: Sequence[str | DetectorSpec] = ("mahalanobis", "knn", "padim"),
                  ratios: Sequence[float] = DEFAULT_POLLUTION_RATIOS,
                  refinement_ratios: Sequence[float] = DEFAULT_REFINEMENT_RATIOS,
                  refinement_methods: Sequence[str] = PAPER_METHODS, refinement_pollution: Optional[float] = None,
                  refine_detector: Optional[str | DetectorSpec] = None, replicates: int = 5, splits: int = 5,
                  feature_config: FeatureConfig = FeatureConfig(),
                  reporter: Optional[Reporter] = None, seed: int = 0, device: str = "auto",
                  cache_dir: Optional[str | os.PathLike] = "auto", plots: bool = True,
                  executor: ExecutorSettings | None = None) -> PollutionResult:
    """Seed 001's pollution and refinement protocol (sections 4.1, 4.3-4.5); resumable.

    `refine_detector` None refines with each final detector itself (seed 001, 4.4); a name
    refines with that detector for every final one (App. B). The 'oracle' rows remove exactly
    the polluted images: the best any refinement could do. `executor` says where the cells run
    (this process by default; a process pool or a Dask cluster, see executor.py). Refinement is
    compared at `refinement_pollution` (None: the largest of `ratios`). The pollution set is sized
    from the largest ratio asked for (pollution_set_size), so a category with few defects runs at
    the ratios they allow and is refused, with the largest allowed ratio named, beyond.
    """
    reporter = as_reporter(reporter)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    category = load_category(category_path)
    specs = parse_detectors(detectors)
    refine_spec = None if refine_detector in (None, "") else DetectorSpec.parse(refine_detector)  # type: ignore[arg-type]
    methods = [{"cv": "cross_validation"}.get(m, m) for m in refinement_methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InspectorError(f"Unknown refinement method(s) {unknown}; use {', '.join(METHODS)}.")
    if not ratios:
        raise InspectorError("No pollution ratios to run.")
    if refinement_pollution is None:
        refinement_pollution = max(float(r) for r in ratios)
    for ratio in list(ratios) + [refinement_pollution]:
        if not 0.0 <= ratio < 1.0:
            raise InspectorError(f"Pollution ratio {ratio:g} must be in [0, 1).")
    for ratio in refinement_ratios:
        n_flagged(len(category.train), ratio)
    n_train = len(category.train)
    pollution_size = pollution_set_size(category, list(ratios) + [refinement_pollution])  # fails early
    size = feature_config.input_shape  # (height, width): the maps' geometry

    cache = FeatureCache(out / "cache" if cache_dir == "auto" else cache_dir)
    all_specs = specs + ([refine_spec] if refine_spec else [])
    encoder = FeatureEncoder(category, feature_config, layers_for(all_specs), cache, device, reporter)
    write_json_atomic(out / "pollution_config.json", json_safe({
        "protocol": "pollution", "category": str(category.root), "detectors": [s.label for s in specs],
        "ratios": list(ratios), "refinement_ratios": list(refinement_ratios), "methods": methods,
        "refinement_pollution": refinement_pollution, "refine_detector": refine_spec.label if refine_spec else None,
        "replicates": replicates, "splits": splits, "seed": seed, "features": feature_config.to_json(),
        "n_train": n_train, "pollution_set_size": pollution_size, "max_pollution_ratio": max_pollution_ratio(category),
        "evaluation_defect_share": float(EVALUATION_DEFECT_SHARE)}))

    base = {"category": category.name, "seed": seed, "pollution_set_size": pollution_size,
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

    if todo:
        shared = PollutionShared(
            train=encoder.encode("train", category.train), test=encoder.encode("test", category.test),
            labels=category.test_labels, masks=np.stack([s.load_mask(size) for s in category.test]),
            splits={key: polluted_split(category, key[1], key[0], seed, pollution_size)
                    for key in dict.fromkeys((c["replicate"], c["pollution"]) for c in todo)},
            specs={s.label: s for s in all_specs}, seed=seed, cv_splits=splits)
        try:
            failed, errors = _run_cells(shared, todo, store, len(plan) - len(todo), executor, reporter)
        finally:
            _LATEST_SETTING.clear()  # cells that ran in this process leave no training set behind
        if failed:  # fail closed: no summary from a partial grid; finished cells stay in the store
            raise InspectorError(f"{failed} of {len(todo)} pollution cells failed (those that finished are kept; "
                                 f"run again to redo the rest): {errors[0] if errors else 'no error reported'}")

    rows = [{**cell, **(store.get(cell) or {})} for cell in plan]
    for row in rows:
        row.pop("features", None)
    robustness = summarise([r for r in rows if r["protocol"] == "pollution"], ["detector", "pollution"],
                           ["auroc", "au_pro", "au_iou"])
    refinement = summarise([r for r in rows if r["protocol"] == "refinement"],
                           ["detector", "refiner", "method", "refinement"],
                           ["auroc", "au_pro", "au_iou", "precision", "recall", "f1"])
    files = [out / "pollution_cells.csv", out / "pollution_robustness.csv", out / "refinement.csv"]
    write_csv(files[0], rows, ["protocol", "detector", "refiner", "method", "replicate", "pollution", "refinement",
                               "auroc", "au_pro", "au_iou", "precision", "recall", "f1", "n_flagged", "n_polluted", "n_fit",
                               "fit_seconds", "splits", "seed"])
    write_csv(files[1], robustness, ["detector", "pollution", "auroc_mean", "auroc_std", "au_pro_mean",
                                     "au_pro_std", "au_iou_mean", "au_iou_std", "n"])
    write_csv(files[2], refinement, ["detector", "refiner", "method", "refinement", "auroc_mean", "auroc_std",
                                     "au_pro_mean", "au_pro_std", "au_iou_mean", "au_iou_std", "precision_mean", "recall_mean", "f1_mean",
                                     "precision_std", "recall_std", "f1_std", "n"])
    if plots:
        from inspector.evaluation.plots import plot_pollution, plot_refinement

        files += plot_pollution(robustness, out, title=f"{category.name}: pollution")
        files += plot_refinement(refinement, out, title=f"{category.name}: refinement at "
                                                        f"{refinement_pollution:.0%} pollution")
    return PollutionResult(out, robustness, refinement, files)
