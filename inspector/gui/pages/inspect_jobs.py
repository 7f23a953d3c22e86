"""The worker-side work of the Inspect page: score files or a camera frame, log them, export CSV.

These closures run on a worker thread (inspector.gui.workers), so they take everything they use
as arguments and touch no widget; results reach the GUI through `emit(class_name, results)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from inspector.gui.widgets.results_model import InspectionResult, small_map

BATCH = 8
Emit = Callable[[str, list], None]


def inspect_paths_job(model: Any, project: Any, class_name: str, threshold: Any, paths: Sequence[Path],
                      labels: Sequence[Optional[str]], emit: Emit) -> Callable:
    """Work that scores `paths` in batches of BATCH, logs every part and emits each batch's results."""

    def work(reporter):
        from inspector.io.images import load_image
        from inspector.pipeline import Prediction
        from inspector.types import InspectorError, Reporter

        log = project.log
        total = len(paths)
        for start in range(0, total, BATCH):
            reporter.report("inspect", start, total, f"Inspecting {paths[start].name} ({start + 1}/{total})")
            chunk = paths[start:start + BATCH]
            loaded, unreadable = {}, {}
            for offset, path in enumerate(chunk):
                try:
                    loaded[offset] = load_image(path)
                except InspectorError as exc:  # an unreadable file is an ERROR row, never stops the batch
                    unreadable[offset] = Prediction.failed(str(exc))
            scored = iter(model.predict(list(loaded.values()), Reporter(None, reporter.cancel_token)) if loaded else ())
            predictions = [unreadable[i] if i in unreadable else next(scored) for i in range(len(chunk))]
            batch = []
            for offset, (path, prediction) in enumerate(zip(chunk, predictions)):
                verdict = threshold.verdict(prediction.score)
                log_id = log.record(None, class_name, model.model_id, prediction.score, threshold.fail, verdict,
                                    str(path), review_threshold=threshold.review, note=prediction.error or None)
                batch.append(InspectionResult(path, float(prediction.score), small_map(prediction.anomaly_map),
                                              labels[start + offset], log_id, model_id=model.model_id,
                                              recorded_verdict=verdict))
            emit(class_name, batch)
        reporter.report("inspect", total, total, f"{total} part(s) inspected")
        return total

    return work


def inspect_array_job(model: Any, project: Any, class_name: str, threshold: Any, image: np.ndarray, save: bool,
                      label: Optional[str], emit: Emit) -> Callable:
    """Work that scores one in-memory image (saved under inspected/ when `save`), logs and emits it."""

    def work(reporter):
        from inspector.types import Reporter

        reporter.report("inspect", 0, 1, "Inspecting the captured part")
        path = project.save_inspected_image(class_name, image) if save else None
        prediction = model.predict([image], Reporter(None, reporter.cancel_token))[0]
        verdict = threshold.verdict(prediction.score)
        log_id = project.log.record(None, class_name, model.model_id, prediction.score, threshold.fail, verdict,
                                    None if path is None else str(path), review_threshold=threshold.review)
        emit(class_name, [InspectionResult(path, float(prediction.score), small_map(prediction.anomaly_map), label,
                                           log_id, image=None if path is not None else image,
                                           model_id=model.model_id, recorded_verdict=verdict)])
        return 1

    return work


def results_csv(results: Sequence[InspectionResult], threshold: Any, judge: Callable[[InspectionResult], str]) -> bytes:
    """The results as CSV bytes (UTF-8 with BOM, so spreadsheets read the names right)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["image", "label", "score", "fail_threshold", "review_threshold", "verdict",
                     "operator_decision", "log_id"])
    for result in results:
        writer.writerow([str(result.path) if result.path else "", result.label or "", repr(result.score),
                         repr(threshold.fail) if threshold else "",
                         "" if threshold is None or threshold.review is None else repr(threshold.review),
                         judge(result), result.decision or "", result.log_id or ""])
    return buffer.getvalue().encode("utf-8-sig")
