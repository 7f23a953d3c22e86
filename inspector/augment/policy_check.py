"""Policy check: score augmented copies with a fitted model and place them at its working point.

An augmentation policy is meant to add plausible *good* parts. Whether it does can be read off
the model: copies that score like the good parts (below REVIEW) are nominal; copies that score
at or above FAIL look defective to the model, so training on them would teach it that such
parts are normal (a threshold set on them would let defects pass, see issue 10's PatchCore
calibration). The check makes exactly the copies a fit would make (same positions, seed and
working size, see `engine.iter_augmented_copies`), scores them with any predictor and counts
them against FAIL and REVIEW. Fails closed: a copy that cannot be scored counts as an error,
and a check with errors never reports "nominal". Qt-free; long work reports progress and
honours the reporter's cancel token.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from inspector.augment.engine import iter_augmented_copies, parse_factor
from inspector.augment.policy import AugmentationPolicy
from inspector.types import InspectorError, Reporter, as_reporter

#: Scores images; None (or a non-finite value) for an image it could not score.
Scorer = Callable[[list[np.ndarray]], Sequence[Optional[float]]]

#: Share of copies at or above FAIL that still counts as nominal (the calibration's own
#: false-reject rate is of this order).
NOMINAL_FAIL_SHARE = 0.05
DEFAULT_COPIES = 40
BATCH = 8


@dataclass(frozen=True)
class PolicyCheck:
    """Scores of the copies and where they fall against the working point."""

    copy_scores: np.ndarray  # finite scores of the copies that could be scored
    fail: float
    review: Optional[float]
    n_requested: int
    n_errors: int = 0
    image_indices: tuple[int, ...] = ()  # the training images the copies were made from
    factor: int = 0
    good_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    defect_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model_id: str = ""  # which model scored them (a result is stale once another model is active)

    @property
    def n_scored(self) -> int:
        return int(len(self.copy_scores))

    @property
    def n_fail(self) -> int:
        return int(np.sum(self.copy_scores >= self.fail))

    @property
    def n_review(self) -> int:
        """Copies in the REVIEW band [REVIEW, FAIL)."""
        if self.review is None:
            return 0
        return int(np.sum((self.copy_scores >= self.review) & (self.copy_scores < self.fail)))

    @property
    def n_below_fail(self) -> int:
        return self.n_scored - self.n_fail

    @property
    def status(self) -> str:
        """'nominal', 'borderline', 'defective' or 'error' (any copy unscored, or none scored)."""
        if self.n_errors or not self.n_scored:
            return "error"
        share = self.n_fail / self.n_scored
        if share <= NOMINAL_FAIL_SHARE:
            return "nominal"
        return "borderline" if share <= 0.25 else "defective"

    def summary(self) -> str:
        """One line for the engineer, e.g. '38 of 40 copies below FAIL: the policy stays nominal.'"""
        total = self.n_scored + self.n_errors
        if not total:
            return "No copies were scored."
        text = f"{self.n_below_fail} of {total} copies below FAIL"
        if self.review is not None and self.n_review:
            text += f" ({self.n_review} in the REVIEW band)"
        if self.n_errors:
            return text + f"; {self.n_errors} could not be scored: no conclusion (see Messages)."
        return text + {
            "nominal": ": the policy stays nominal.",
            "borderline": ": some copies look defective to the model; narrow the ranges that make them.",
            "defective": ": the policy leaves the nominal range; the model sees many copies as defects.",
        }[self.status]


def pick_images(n_images: int, factor: int, n_copies: int = DEFAULT_COPIES) -> list[int]:
    """Evenly spread training positions so that about `n_copies` copies are made at `factor` each."""
    if n_images <= 0:
        return []
    wanted = max(1, math.ceil(n_copies / max(1, factor)))
    if wanted >= n_images:
        return list(range(n_images))
    return sorted({int(round(i)) for i in np.linspace(0, n_images - 1, wanted)})


def check_policy(images: Sequence[np.ndarray], policy: AugmentationPolicy, score: Scorer, fail: float,
                 review: Optional[float] = None, *, factor: int = 4, n_copies: int = DEFAULT_COPIES,
                 seed: int = 0, working_size: Optional[int | tuple[int, int]] = None,
                 good_scores: Sequence[float] = (), defect_scores: Sequence[float] = (),
                 reporter: Optional[Reporter] = None) -> PolicyCheck:
    """Make the fit's copies of a spread of `images` (`factor` each, about `n_copies` in all), score them.

    `images` are the class's training images in fit order (positions matter: they seed the copies).
    """
    if not math.isfinite(float(fail)):
        raise InspectorError("The policy check needs a finite FAIL threshold.")
    factor = parse_factor(factor)
    if factor <= 0:
        raise InspectorError("The policy check needs at least one copy per image (factor >= 1).")
    if policy.is_identity:
        raise InspectorError("This policy changes nothing: its copies would equal the training images.")
    reporter = as_reporter(reporter)
    positions = pick_images(len(images), factor, n_copies)
    if not positions:
        raise InspectorError("The policy check needs training images.")
    subset = [images[i] for i in positions]
    total = len(subset) * factor
    scores: list[float] = []
    errors = 0
    batch: list[np.ndarray] = []

    def flush() -> None:
        nonlocal errors
        if not batch:
            return
        results = list(score(list(batch)))
        if len(results) != len(batch):
            raise InspectorError(f"The model returned {len(results)} scores for {len(batch)} copies.")
        for value in results:
            if value is None or not math.isfinite(float(value)):
                errors += 1
            else:
                scores.append(float(value))
        batch.clear()
        done = len(scores) + errors
        reporter.report("policy-check", done, total, f"{done}/{total} copies scored")

    reporter.report("policy-check", 0, total, f"Scoring {total} augmented copies")
    for _, copies in iter_augmented_copies(subset, policy, factor, seed, working_size=working_size,
                                           indices=positions):
        for copy in copies:
            batch.append(copy)
            if len(batch) >= BATCH:
                flush()
    flush()
    return PolicyCheck(
        copy_scores=np.asarray(scores, dtype=np.float64), fail=float(fail),
        review=None if review is None else float(review), n_requested=total, n_errors=errors,
        image_indices=tuple(positions), factor=factor,
        good_scores=np.asarray(list(good_scores), dtype=np.float64),
        defect_scores=np.asarray(list(defect_scores), dtype=np.float64),
    )
