"""One inspection service: judge images batch by batch, fail closed, cancellable (Qt-free).

Each file gets a result: an unreadable file or a non-finite score is an ERROR result, never PASS,
and never stops the batch. The CLI, the GUI and the station run loop are meant to share it.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from inspector.io.images import load_image

ERROR = "ERROR"


class CancelToken:
    """Set from any thread; the service stops before the next batch."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s`, waking at once on cancel; True when cancelled."""
        return self._event.wait(timeout_s)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class InspectionResult:
    path: Path
    score: Optional[float]
    verdict: str
    error: Optional[str] = None


# predict(images) -> [(score, verdict)], e.g. a wrapper around InspectionModel.predict
Predictor = Callable[[Sequence[np.ndarray]], Sequence[tuple[float, str]]]


def inspect_files(paths: Sequence[Path], predict: Predictor, batch_size: int = 8,
                  cancel: Optional[CancelToken] = None) -> Iterator[list[InspectionResult]]:
    """Yield one list of results per batch, in input order."""
    for start in range(0, len(paths), batch_size):
        if cancel is not None and cancel.cancelled:
            return
        batch: list[InspectionResult | None] = []
        images, slots = [], []
        for path in paths[start:start + batch_size]:
            try:
                images.append(load_image(path))
                slots.append(len(batch))
                batch.append(None)
            except Exception as exc:  # any decode failure is this file's ERROR, not the batch's
                batch.append(InspectionResult(Path(path), None, ERROR, f"unreadable: {exc}"))
        if images:
            try:
                predictions = list(predict(images))
            except Exception as exc:
                predictions = [(math.nan, ERROR)] * len(images)
                reason = f"scoring failed: {exc}"
            else:
                reason = "non-finite score"
            for slot, (score, verdict) in zip(slots, predictions):
                path = Path(paths[start + slot])
                if score is None or not math.isfinite(score):
                    batch[slot] = InspectionResult(path, None, ERROR, reason)
                else:
                    batch[slot] = InspectionResult(path, float(score), verdict)
        yield [result for result in batch if result is not None]
