"""Working points: calibrated from good images alone, with an optional REVIEW band.

Operators rarely have defect images, so the default threshold comes from the scores of nominal
images the detector did not learn from (cross-validated or left-out good parts): a quantile or
mean + k * sigma. (A chi-square quantile for Mahalanobis scores was removed: with the 10-50
images a user has, fitted means and covariances make unseen good parts score far above the
population chi-square law; it rejected about 12 % of ideal Gaussian good parts where it
claimed at most 3 %.) A second, lower threshold defines a REVIEW band (scores in [review, fail)
go to a person), as industrial vision tools offer. Defect scores are not part of a working point:
no fit has them; the Inspect page's histogram takes them from the labelled parts it inspected, and
the evaluation's F1-optimal threshold is a metric (`f1_threshold` column), not a stored field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from inspector.types import InspectorError

PASS, REVIEW, FAIL = "PASS", "REVIEW", "FAIL"
#: The verdict when no trustworthy score exists (non-finite score, scoring error): never PASS.
ERROR = "ERROR"
#: How a working point was set: calibrated from good scores, or by the user.
METHODS = ("quantile", "sigma", "manual")
#: Keys that models saved before 0.2 may carry and loading ignores (no fit ever filled them).
LEGACY_KEYS = frozenset({"defect_scores", "f1_threshold"})


def calibrate(nominal_scores: np.ndarray, method: str = "quantile", parameter: float = 0.99) -> float:
    """A threshold from scores of good images only.

    - quantile: the `parameter` quantile of the nominal scores (e.g. 0.99);
    - sigma: mean + `parameter` * standard deviation.
    """
    scores = np.asarray(nominal_scores, dtype=np.float64).ravel()
    scores = scores[np.isfinite(scores)]
    if method == "chi2":
        raise InspectorError("The chi-square calibration was removed: it rejected far more good parts than it "
                             "claimed; use --calibration sigma or quantile.")
    if len(scores) == 0:
        raise InspectorError("No nominal scores to calibrate a threshold from.")
    if method == "quantile":
        if not 0 < parameter <= 1:
            raise InspectorError(f"The quantile must be in (0, 1], got {parameter}.")
        return float(np.quantile(scores, parameter))
    if method == "sigma":
        if parameter < 0:
            raise InspectorError(f"k (number of standard deviations) must be >= 0, got {parameter}.")
        return float(scores.mean() + parameter * scores.std(ddof=1 if len(scores) > 1 else 0))
    raise InspectorError(f"Unknown calibration method '{method}'; use quantile or sigma.")


@dataclass
class Threshold:
    """The working point of a model: FAIL at or above `fail`; REVIEW in [review, fail) if set."""

    fail: float
    review: Optional[float] = None
    method: str = "quantile"
    parameter: float = 0.99
    nominal_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.nominal_scores = np.asarray(self.nominal_scores, dtype=np.float64).ravel()
        self.validate()

    def validate(self) -> None:
        if not np.isfinite(self.fail):
            raise InspectorError("The FAIL threshold must be a finite number.")
        if self.review is not None and not np.isfinite(self.review):
            raise InspectorError("The REVIEW threshold must be a finite number.")
        if self.review is not None and self.review > self.fail:
            raise InspectorError(f"The REVIEW threshold ({self.review:.4g}) must not exceed the FAIL threshold ({self.fail:.4g}).")

    def verdict(self, score: Optional[float]) -> str:
        """PASS / REVIEW / FAIL for a finite score; ERROR for None, NaN or infinity (fail closed)."""
        try:
            score = float(score)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return ERROR
        if not math.isfinite(score):
            return ERROR
        if score >= self.fail:
            return FAIL
        if self.review is not None and score >= self.review:
            return REVIEW
        return PASS

    def verdicts(self, scores: np.ndarray) -> list[str]:
        return [self.verdict(s) for s in np.asarray(scores, dtype=np.float64).ravel()]

    def with_values(self, fail: float, review: Optional[float] = None) -> "Threshold":
        """A copy with user-set thresholds (scores are kept: re-judging needs no re-scoring)."""
        return Threshold(fail, review, "manual", self.parameter, self.nominal_scores)

    @property
    def expected_false_reject_rate(self) -> float:
        """Fraction of the calibration's good parts that this working point would fail."""
        if len(self.nominal_scores) == 0:
            return float("nan")
        return float(np.mean(self.nominal_scores >= self.fail))

    def to_json(self) -> dict:
        return {
            "fail": self.fail, "review": self.review, "method": self.method, "parameter": self.parameter,
            "nominal_scores": self.nominal_scores.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Threshold":
        """The stored working point; LEGACY_KEYS of older models are ignored."""
        try:
            return cls(float(data["fail"]), None if data.get("review") is None else float(data["review"]),
                       str(data.get("method", "manual")), float(data.get("parameter", 0.0)),
                       np.asarray(data.get("nominal_scores", []), dtype=np.float64))
        except (KeyError, TypeError, ValueError) as exc:
            raise InspectorError(f"Invalid threshold data: {exc}") from exc
