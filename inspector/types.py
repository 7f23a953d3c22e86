"""Small shared types: scores, progress reports and the cancel token.

Convention used everywhere in Inspector: **a higher score means more anomalous.**
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


class InspectorError(Exception):
    """An error whose message is meant for the user (shown as-is in the CLI and the GUI)."""


class NotFittedError(InspectorError):
    """Raised when scoring is asked of a detector that has not been fitted."""


class Cancelled(InspectorError):
    """Raised inside long work when the user cancelled it."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)


@dataclass
class ScoreResult:
    """Image scores (N,) and, for detectors that localise, anomaly maps (N, H, W)."""

    image_scores: np.ndarray
    maps: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.image_scores = np.asarray(self.image_scores, dtype=np.float64).reshape(-1)
        if self.maps is not None:
            self.maps = np.asarray(self.maps, dtype=np.float32)
            if self.maps.ndim != 3 or len(self.maps) != len(self.image_scores):
                raise ValueError(f"maps must be (N, H, W) with N={len(self.image_scores)}, got {self.maps.shape}")


@dataclass(frozen=True)
class Progress:
    """One progress report: `stage` is a short name (augment, extract, refine, fit, calibrate...)."""

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Thread-safe cancel flag. Long work calls `raise_if_cancelled()` between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s`, waking at once on cancel; True when cancelled (a loop's pause)."""
        return self._event.wait(timeout_s)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass
class Reporter:
    """Bundles a progress callback and a cancel token; passed down through long work.

    `report` also checks the cancel token, so every progress point is a cancel point.
    """

    callback: Optional[ProgressCallback] = None
    cancel_token: Optional[CancelToken] = None

    def report(self, stage: str, done: int, total: int, message: str = "") -> None:
        self.check()
        if self.callback is not None:
            self.callback(Progress(stage, done, total, message))

    def check(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.raise_if_cancelled()


def as_reporter(reporter: "Reporter | None") -> Reporter:
    return reporter if reporter is not None else Reporter()
