"""SROC (seed 001, section 3.2): find the defective images hidden in a "good" training set.

Fit a detector on the whole (possibly polluted) training features, score those same features,
rank the images from most to least anomalous and flag the top `ratio` of them. A person reviews
the ranking; the detector used for inspection is then fitted on what is kept. The refining
detector may differ from the final one (seed 001, App. B: refine with Mahalanobis, then fit
PaDiM or PatchCore).

Iterative SROC (`rounds` > 1, method 'sroc_iterative'): round r refits on the images that round
r-1 did not flag (it flags (r-1)/rounds of the ratio) and rescores every image, so defects that
masked each other in the first fit stand out once their neighbours are out of it. Its ranking
depends on the ratio it was made for (`with_ratio` cuts the same scores at another ratio).

Baselines of seed 001, section 4.5, with the same output type:
- Random: flag a random `ratio` of the images.
- Cross-validation (s splits): fit on s-1 splits, score the held-out split.
- STOC (s splits, not iterated since the backbone is frozen): fit one detector per split, score
  every image with each, average the s scores.

Every ranking keeps all scores, so flagging another ratio (`with_ratio`) costs no refit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from inspector.detectors.base import Detector
from inspector.features.maps import FeatureMaps
from inspector.types import InspectorError, Reporter, as_reporter

RANKING_FORMAT = "inspector-refinement-ranking"
RANKING_VERSION = 1
#: Seed 001's SROC and its baselines (section 4.5): the pollution protocol's default comparison.
PAPER_METHODS = ("sroc", "random", "cross_validation", "stoc")
METHODS = PAPER_METHODS + ("sroc_iterative",)
#: Methods whose ranking depends on the refinement ratio it was made for (the others rank once).
RATIO_DEPENDENT_METHODS = ("sroc_iterative",)
#: Rounds of iterative SROC: measured on KolektorSDD and bottle (docs/benchmarks/kolektorsdd-pollution).
DEFAULT_ROUNDS = 3


def n_flagged(n: int, ratio: float) -> int:
    """How many of `n` images a refinement ratio flags: round(ratio * n), always keeping one."""
    if not 0.0 <= float(ratio) < 1.0:
        raise InspectorError(f"The refinement ratio must be in [0, 1), got {ratio}.")
    return int(min(max(n - 1, 0), round(float(ratio) * n)))


@dataclass
class RefinementRanking:
    """Training images ranked for review: scores (higher = more anomalous) and the flagged top.

    `order` lists image indices, most anomalous first; `flagged[i]` is True for the images the
    ratio removes; `names` (optional) are file names to show to a person.
    """

    scores: np.ndarray
    order: np.ndarray
    flagged: np.ndarray
    ratio: float
    method: str
    detector: str = ""
    names: Optional[list[str]] = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.order = np.asarray(self.order, dtype=np.int64).reshape(-1)
        self.flagged = np.asarray(self.flagged, dtype=bool).reshape(-1)
        n = len(self.scores)
        if len(self.order) != n or len(self.flagged) != n or sorted(self.order.tolist()) != list(range(n)):
            raise InspectorError("A refinement ranking needs one score, one rank and one flag per image.")
        if self.names is not None and len(self.names) != n:
            raise InspectorError(f"{len(self.names)} names for {n} ranked images.")

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def from_scores(cls, scores: np.ndarray, ratio: float, method: str, detector: str = "",
                    names: Optional[Sequence[str]] = None, params: Optional[dict[str, Any]] = None,
                    order: Optional[np.ndarray] = None) -> "RefinementRanking":
        """Rank by score (ties keep the original order) and flag the top `ratio`."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(scores)):
            raise InspectorError("Refinement scores contain NaN or infinite values.")
        if order is None:
            order = np.argsort(-scores, kind="stable")
        flagged = np.zeros(len(scores), dtype=bool)
        flagged[order[: n_flagged(len(scores), ratio)]] = True
        return cls(scores, order, flagged, float(ratio), method, detector,
                   None if names is None else [str(n) for n in names], dict(params or {}))

    def with_ratio(self, ratio: float) -> "RefinementRanking":
        """The same ranking with another refinement ratio (no refit)."""
        return RefinementRanking.from_scores(self.scores, ratio, self.method, self.detector, self.names,
                                             self.params, self.order)

    def kept_indices(self) -> np.ndarray:
        """Indices of the images kept for fitting, in their original order."""
        return np.flatnonzero(~self.flagged)

    def flagged_indices(self) -> np.ndarray:
        """Flagged image indices, most anomalous first (the review order)."""
        return self.order[self.flagged[self.order]]

    def rank_of(self) -> np.ndarray:
        """(N,) rank of each image, 0 = most anomalous."""
        ranks = np.empty(len(self.order), dtype=np.int64)
        ranks[self.order] = np.arange(len(self.order))
        return ranks

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RANKING_FORMAT,
            "version": RANKING_VERSION,
            "method": self.method,
            "detector": self.detector,
            "ratio": self.ratio,
            "params": self.params,
            "scores": [float(s) for s in self.scores],
            "order": [int(i) for i in self.order],
            "flagged": [bool(f) for f in self.flagged],
            "names": self.names,
        }

    @classmethod
    def from_json(cls, data: Any) -> "RefinementRanking":
        if not isinstance(data, dict) or data.get("format") != RANKING_FORMAT:
            raise InspectorError("Not a refinement ranking file.")
        if int(data.get("version", 0)) > RANKING_VERSION:
            raise InspectorError(f"This refinement ranking was written by a newer Inspector (version {data['version']}).")
        try:
            return cls(np.array(data["scores"], dtype=np.float64), np.array(data["order"], dtype=np.int64),
                       np.array(data["flagged"], dtype=bool), float(data["ratio"]), str(data["method"]),
                       str(data.get("detector", "")), data.get("names"), dict(data.get("params") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise InspectorError(f"Damaged refinement ranking: {exc}") from exc


# -- detectors --------------------------------------------------------------------------------
def make_detector(detector: str | Detector, params: Optional[dict[str, Any]] = None) -> Detector:
    """A fresh, unfitted detector from a registry name (+ params) or from a template instance."""
    if isinstance(detector, Detector):
        merged = {**detector.get_params(), **(params or {})}
        return type(detector)(**merged)
    from inspector.detectors.registry import create_detector

    return create_detector(str(detector), **(params or {}))


def _label(detector: str | Detector) -> str:
    return detector.name if isinstance(detector, Detector) else str(detector)


def _fit_score(detector: str | Detector, params: Optional[dict[str, Any]], fit_on: FeatureMaps,
               score_on: FeatureMaps, reporter: Reporter) -> np.ndarray:
    model = make_detector(detector, params)
    model.fit(fit_on)
    reporter.check()
    return np.asarray(model.score(score_on).image_scores, dtype=np.float64)


def _memorises_training_set(detector: str | Detector, params: Optional[dict[str, Any]]) -> bool:
    """True for a nearest-neighbour detector with k=1, whose training scores are all 0."""
    model = make_detector(detector, params)
    return getattr(model, "name", "") == "knn" and int(getattr(model, "k", 2)) < 2


def _splits(n: int, s: int, seed: int) -> list[np.ndarray]:
    if s < 2:
        raise InspectorError(f"The number of splits must be at least 2, got {s}.")
    if n < s:
        raise InspectorError(f"{n} training images cannot be cut into {s} splits.")
    permutation = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(permutation, s)]


# -- strategies -------------------------------------------------------------------------------
def sroc(features: FeatureMaps, ratio: float, detector: str | Detector = "mahalanobis",
         detector_params: Optional[dict[str, Any]] = None, reporter: Optional[Reporter] = None,
         names: Optional[Sequence[str]] = None, rounds: int = 1) -> RefinementRanking:
    """SROC: fit on all training features, score them, flag the top `ratio` (seed 001, 3.2).

    With `rounds` > 1, iterative SROC: round r fits on what round r-1 left (it flagged
    round((r-1)/rounds * ratio * n) images) and scores every image; the last round's scores rank.
    """
    reporter = as_reporter(reporter)
    n = len(features)
    target = n_flagged(n, ratio)  # validate before the work
    rounds = int(rounds)
    if rounds < 1:
        raise InspectorError(f"SROC needs at least one round, got {rounds}.")
    if _memorises_training_set(detector, detector_params):
        raise InspectorError(
            "SROC cannot rank with a KNN that uses k=1: each training image is its own nearest neighbour, so "
            "every training score is 0. Use k of 2 or more (SROC, Cordier et al., uses 5) or refine with Mahalanobis."
        )
    kept = np.arange(n)
    effective = rounds if target > 0 else 1  # nothing to flag: every round would refit the same images
    for round_index in range(effective):
        reporter.report("refine", round_index, effective,
                        f"SROC round {round_index + 1}/{effective}: fitting {_label(detector)} on {len(kept)} image(s)")
        scores = _fit_score(detector, detector_params, features.subset(kept) if len(kept) < n else features,
                            features, reporter)
        if len(scores) > 1 and np.ptp(scores) == 0:
            raise InspectorError(f"SROC: {_label(detector)} gives every training image the same score, so it cannot "
                                 "rank them.")
        excluded = int(round(target * (round_index + 1) / effective))
        kept = np.sort(np.argsort(-scores, kind="stable")[excluded:])
    reporter.report("refine", effective, effective, "SROC: training images ranked")
    method = "sroc" if rounds == 1 else "sroc_iterative"
    params: dict[str, Any] = {"detector_params": detector_params or {}}
    if rounds > 1:
        params.update(rounds=rounds, made_for_ratio=float(ratio))
    return RefinementRanking.from_scores(scores, ratio, method, _label(detector), names, params)


def random_refinement(n: int, ratio: float, seed: int = 0, names: Optional[Sequence[str]] = None) -> RefinementRanking:
    """Random baseline: a random order (scores are 1 - rank/n so that they sort the same way)."""
    order = np.random.default_rng(seed).permutation(int(n))
    scores = np.empty(int(n), dtype=np.float64)
    scores[order] = 1.0 - np.arange(int(n)) / max(int(n), 1)
    return RefinementRanking.from_scores(scores, ratio, "random", "", names, {"seed": int(seed)}, order)


def cross_validation_refinement(features: FeatureMaps, ratio: float, detector: str | Detector = "mahalanobis",
                                s: int = 5, detector_params: Optional[dict[str, Any]] = None, seed: int = 0,
                                reporter: Optional[Reporter] = None,
                                names: Optional[Sequence[str]] = None) -> RefinementRanking:
    """Cross-validation baseline: each split is scored by a detector fitted on the other s-1."""
    reporter = as_reporter(reporter)
    n_flagged(len(features), ratio)
    parts = _splits(len(features), s, seed)
    scores = np.empty(len(features), dtype=np.float64)
    everything = np.arange(len(features))
    for index, held_out in enumerate(parts):
        reporter.report("refine", index, s, f"Cross-validation: split {index + 1}/{s}")
        train = np.setdiff1d(everything, held_out)
        scores[held_out] = _fit_score(detector, detector_params, features.subset(train), features.subset(held_out), reporter)
    reporter.report("refine", s, s, "Cross-validation: training images ranked")
    return RefinementRanking.from_scores(scores, ratio, "cross_validation", _label(detector), names,
                                         {"s": s, "seed": seed, "detector_params": detector_params or {}})


def stoc_refinement(features: FeatureMaps, ratio: float, detector: str | Detector = "mahalanobis", s: int = 5,
                    detector_params: Optional[dict[str, Any]] = None, seed: int = 0,
                    reporter: Optional[Reporter] = None, names: Optional[Sequence[str]] = None) -> RefinementRanking:
    """STOC baseline (one round): a detector per split scores every image; scores are averaged."""
    reporter = as_reporter(reporter)
    n_flagged(len(features), ratio)
    parts = _splits(len(features), s, seed)
    total = np.zeros(len(features), dtype=np.float64)
    for index, part in enumerate(parts):
        reporter.report("refine", index, s, f"STOC: detector {index + 1}/{s}")
        total += _fit_score(detector, detector_params, features.subset(part), features, reporter)
    reporter.report("refine", s, s, "STOC: training images ranked")
    return RefinementRanking.from_scores(total / s, ratio, "stoc", _label(detector), names,
                                         {"s": s, "seed": seed, "detector_params": detector_params or {}})


def refine(method: str, features: FeatureMaps, ratio: float, detector: str | Detector = "mahalanobis",
           detector_params: Optional[dict[str, Any]] = None, s: int = 5, seed: int = 0,
           reporter: Optional[Reporter] = None, names: Optional[Sequence[str]] = None,
           rounds: int = DEFAULT_ROUNDS) -> RefinementRanking:
    """Dispatch on a method name: 'sroc', 'sroc_iterative' (`rounds` rounds), 'random',
    'cross_validation' (or 'cv'), 'stoc'."""
    method = {"cv": "cross_validation", "crossvalidation": "cross_validation"}.get(method.lower(), method.lower())
    if method == "sroc":
        return sroc(features, ratio, detector, detector_params, reporter, names)
    if method == "sroc_iterative":
        return sroc(features, ratio, detector, detector_params, reporter, names, rounds=max(int(rounds), 2))
    if method == "random":
        return random_refinement(len(features), ratio, seed, names)
    if method == "cross_validation":
        return cross_validation_refinement(features, ratio, detector, s, detector_params, seed, reporter, names)
    if method == "stoc":
        return stoc_refinement(features, ratio, detector, s, detector_params, seed, reporter, names)
    raise InspectorError(f"Unknown refinement method '{method}'; use one of {', '.join(METHODS)}.")


def refinement_prf(flagged: np.ndarray, is_polluted: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of the flagged images against the truly polluted ones (seed 001, 4.1).

    Precision is NaN when nothing is flagged and recall NaN when nothing is polluted (undefined,
    shown as '-' in seed 001's Table 2); F1 is NaN when either is, and 0 when both are 0.
    """
    flagged = np.asarray(flagged, dtype=bool).reshape(-1)
    truth = np.asarray(is_polluted, dtype=bool).reshape(-1)
    if flagged.shape != truth.shape:
        raise InspectorError(f"{len(flagged)} flags for {len(truth)} images.")
    hits = float(np.sum(flagged & truth))
    precision = hits / flagged.sum() if flagged.any() else float("nan")
    recall = hits / truth.sum() if truth.any() else float("nan")
    if np.isnan(precision) or np.isnan(recall):
        f1 = float("nan")
    elif precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return float(precision), float(recall), float(f1)
