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
#: What is known of a part beyond its label: (defect type, ground-truth mask file).
Truth = tuple[Optional[str], Optional[Path]]


def mask_at_map(mask_file: Optional[Path], anomaly_map: Optional[np.ndarray]) -> tuple[Optional[np.ndarray], float]:
    """(mask resized to the map, pixel AUROC of the map against it); (None, nan) when either is missing."""
    if mask_file is None or anomaly_map is None:
        return None, float("nan")
    from inspector.evaluation.metrics import pixel_auroc
    from inspector.io.images import load_mask

    try:
        mask = load_mask(mask_file, anomaly_map.shape)
    except Exception:  # noqa: BLE001 (a damaged mask only loses the coverage figures)
        return None, float("nan")
    if not mask.any() or mask.all():
        return mask, float("nan")
    return mask, float(pixel_auroc(mask[None], anomaly_map.astype(np.float32)[None]))


def inspect_paths_job(model: Any, project: Any, class_name: str, threshold: Any, paths: Sequence[Path],
                      labels: Sequence[Optional[str]], emit: Emit, truths: Optional[Sequence[Truth]] = None) -> Callable:
    """Work that scores `paths` in batches of BATCH, logs every part and emits each batch's results.

    With `truths`, each result carries its defect type and, where a mask is known, the mask at the
    map's size and the map's pixel AUROC (how the heatmap covers the defect)."""

    def work(reporter):
        from inspector.inspection import inspect_files
        from inspector.types import Reporter

        log = project.log
        total, done = len(paths), 0
        predict = lambda images: model.predict(images, Reporter(None, reporter.cancel_token))  # noqa: E731
        reporter.report("inspect", 0, total, f"Inspecting {total} part(s)")
        for batch in inspect_files(paths, predict, BATCH, cancel=reporter.cancel_token):
            rows = []
            for result in batch:  # the page's working point judges (the operator may have moved it)
                verdict = threshold.verdict(result.score)
                log_id = log.record(None, class_name, model.model_id, result.score, threshold.fail, verdict,
                                    str(result.path), review_threshold=threshold.review, note=result.error)
                score = float("nan") if result.score is None else result.score
                defect_type, mask_file = truths[done] if truths is not None else (None, None)
                anomaly_map = small_map(result.anomaly_map)
                mask, auroc = mask_at_map(mask_file, anomaly_map)
                rows.append(InspectionResult(result.path, score, anomaly_map, labels[done], log_id,
                                             model_id=model.model_id, recorded_verdict=verdict,
                                             defect_type=defect_type, mask=mask, pixel_auroc=auroc))
                done += 1
            emit(class_name, rows)
            reporter.report("inspect", done, total, f"Inspected {batch[-1].path.name} ({done}/{total})")
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
                                    None if path is None else str(path), review_threshold=threshold.review,
                                    note=prediction.error or None)
        emit(class_name, [InspectionResult(path, float(prediction.score), small_map(prediction.anomaly_map), label,
                                           log_id, image=None if path is not None else image,
                                           model_id=model.model_id, recorded_verdict=verdict)])
        return 1

    return work


def results_csv(results: Sequence[InspectionResult], threshold: Any, judge: Callable[[InspectionResult], str]) -> bytes:
    """The results as CSV bytes (UTF-8 with BOM, so spreadsheets read the names right)."""
    import io

    from inspector.store.safe_output import CsvWriter

    buffer = io.StringIO()
    writer = CsvWriter(buffer)  # file names are untrusted: never a formula
    writer.writerow(["image", "label", "score", "fail_threshold", "review_threshold", "verdict",
                     "operator_decision", "log_id"])
    for result in results:
        writer.writerow((str(result.path) if result.path else "", result.label or "", result.score,
                         threshold.fail if threshold else None, None if threshold is None else threshold.review,
                         judge(result), result.decision or "", result.log_id or ""))
    return buffer.getvalue().encode("utf-8-sig")
