"""One inspection service: judge image files batch by batch, fail closed, cancellable (Qt-free).

The CLI's `inspect`, the station's run loop and the app share it, so there is one place that
decides what a file's result is: an unreadable file, a scoring error or a non-finite score is an
ERROR result with its reason, never PASS, and never stops the rest of the batch. It imports
neither torch nor Qt: a predictor is any callable that turns decoded images into `Prediction`s
(`InspectionModel.predict`, an exported ONNX model, a test double).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from inspector.io.images import load_image
from inspector.threshold import ERROR
from inspector.types import CancelToken, Cancelled


@dataclass
class Prediction:
    """The result for one image: score (higher = more anomalous), map at the image's size, verdict.

    A prediction that could not be trusted (a scoring error, a non-finite score or map) has the
    verdict ERROR, a NaN score, no map and the reason in `error`: it is never judged PASS.
    """

    score: float
    anomaly_map: Optional[np.ndarray]
    verdict: str
    error: str = ""

    @classmethod
    def failed(cls, reason: str) -> "Prediction":
        return cls(float("nan"), None, ERROR, reason)


@dataclass
class InspectionResult:
    """One file's result. `image` and `anomaly_map` are kept for the caller's display or heatmap file."""

    path: Path
    score: Optional[float]  # None when there is no trustworthy score
    verdict: str
    error: Optional[str] = None
    image: Optional[np.ndarray] = None
    anomaly_map: Optional[np.ndarray] = None


Predictor = Callable[[Sequence[np.ndarray]], Sequence[Prediction]]


def predict_failing_closed(images: list[np.ndarray], predict_batch: Callable[[list[np.ndarray]], list[Prediction]],
                           failed: Callable[[BaseException], Prediction]) -> list[Prediction]:
    """Run `predict_batch` on the whole batch; when it raises, retry image by image so one bad image
    costs only its own ERROR (`failed(exc)`), never the batch's verdicts and never a PASS.

    The one fail-closed batch rule of the saved-model and the exported-model predictors.
    """
    try:
        return predict_batch(images)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - any scoring failure must become ERROR, not a crash or PASS
        if len(images) == 1:
            return [failed(exc)]
    predictions: list[Prediction] = []
    for image in images:
        try:
            predictions.extend(predict_batch([image]))
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            predictions.append(failed(exc))
    return predictions


def _judged(path: Path, image: np.ndarray, prediction: Prediction) -> InspectionResult:
    score = prediction.score
    if score is None or not math.isfinite(score):  # whatever the predictor said: no score, no PASS
        return InspectionResult(path, None, ERROR, prediction.error or "non-finite score", image)
    if prediction.verdict == ERROR:
        return InspectionResult(path, None, ERROR, prediction.error or "scoring failed", image)
    return InspectionResult(path, float(score), prediction.verdict, prediction.error or None, image,
                            prediction.anomaly_map)


def inspect_files(paths: Sequence[Path], predict: Predictor, batch_size: int = 8,
                  cancel: Optional[CancelToken] = None) -> Iterator[list[InspectionResult]]:
    """Yield one list of results per batch, in input order; stop before the next batch on cancel."""
    for start in range(0, len(paths), batch_size):
        if cancel is not None and cancel.cancelled:
            return
        batch: list[Optional[InspectionResult]] = []
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
                if len(predictions) != len(images):
                    raise ValueError(f"{len(predictions)} predictions for {len(images)} images")
            except Cancelled:
                raise
            except Exception as exc:
                predictions = [Prediction.failed(f"scoring failed: {exc}")] * len(images)
            for slot, image, prediction in zip(slots, images, predictions):
                batch[slot] = _judged(Path(paths[start + slot]), image, prediction)
        yield [result for result in batch if result is not None]
