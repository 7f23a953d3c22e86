"""Evaluation metrics of the seeds: image / pixel AUROC, AU-PRO (and AU-IoU) up to 30 % FPR, F1-max,
and the "area under the AUC-percent curve" (seed 000, section 4.3).

Pixel metrics are computed at the resolution of the maps they are given; callers resize the
ground-truth masks to it (nearest), which keeps a 900x900 test set within memory.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.metrics import precision_recall_curve, roc_auc_score

from inspector.evaluation.lowdata_area import normalised_area_under_auc_percent
from inspector.types import InspectorError


def _check_binary(labels: np.ndarray, what: str) -> None:
    values = np.unique(labels)
    if len(values) < 2:
        raise InspectorError(f"{what} needs both good and defective examples; got only label(s) {values.tolist()}.")


def image_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of image scores (labels: 1 = defective)."""
    labels = np.asarray(labels).astype(int).ravel()
    _check_binary(labels, "Image AUROC")
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64).ravel()))


def pixel_auroc(masks: np.ndarray, maps: np.ndarray) -> float:
    """ROC AUC over all pixels of all images (masks and maps of equal shape (N, H, W))."""
    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float32)
    if masks.shape != maps.shape:
        raise InspectorError(f"Masks {masks.shape} and maps {maps.shape} differ in shape.")
    _check_binary(masks.ravel().astype(int), "Pixel AUROC")
    return float(roc_auc_score(masks.ravel(), maps.ravel()))


def _overlap_curves(masks: np.ndarray, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FPR, PRO and IoU as a function of a threshold swept over all map values (descending).

    PRO: mean over every connected ground-truth region of the fraction of the region above the
    threshold (MVTec AD's per-region overlap). IoU: global intersection over union.
    """
    masks = np.asarray(masks).astype(bool)
    maps = np.asarray(maps, dtype=np.float32)
    if masks.shape != maps.shape:
        raise InspectorError(f"Masks {masks.shape} and maps {maps.shape} differ in shape.")
    fp_change = np.zeros(masks.shape, dtype=np.float64)
    pro_change = np.zeros(masks.shape, dtype=np.float64)
    structure = np.ones((3, 3), dtype=int)
    n_regions = 0
    for index, mask in enumerate(masks):
        labeled, n_components = ndimage.label(mask, structure=structure)
        fp_change[index][labeled == 0] = 1.0
        for component in range(1, n_components + 1):
            region = labeled == component
            pro_change[index][region] = 1.0 / region.sum()
        n_regions += n_components
    n_ok = float(fp_change.sum())
    n_defect = float(masks.sum())
    if n_regions == 0 or n_ok == 0:
        raise InspectorError("AU-PRO needs defective regions and good pixels in the ground truth.")
    order = np.argsort(maps.ravel(), kind="stable")[::-1]
    sorted_scores = maps.ravel()[order]
    fpr = np.cumsum(fp_change.ravel()[order]) / n_ok
    pro = np.cumsum(pro_change.ravel()[order]) / n_regions
    true_pos = np.cumsum(masks.ravel()[order].astype(np.float64))
    predicted = np.arange(1, len(order) + 1, dtype=np.float64)
    iou = true_pos / (n_defect + predicted - true_pos)
    last_of_value = np.append(np.diff(sorted_scores) != 0, True)
    zero = np.zeros(1)
    return (np.concatenate([zero, fpr[last_of_value]]), np.concatenate([zero, pro[last_of_value]]),
            np.concatenate([zero, iou[last_of_value]]))


def _area_up_to(x: np.ndarray, y: np.ndarray, limit: float) -> float:
    """Trapezoidal area under y(x) for x in [0, limit], divided by `limit` (so 1.0 is perfect)."""
    if not 0 < limit <= 1:
        raise InspectorError(f"The FPR limit must be in (0, 1], got {limit}.")
    keep = x <= limit
    xs, ys = x[keep], y[keep]
    if xs[-1] < limit and keep.sum() < len(x):
        nxt = int(np.argmax(~keep))
        y_at = np.interp(limit, [x[nxt - 1], x[nxt]], [y[nxt - 1], y[nxt]])
        xs, ys = np.append(xs, limit), np.append(ys, y_at)
    return float(np.trapezoid(ys, xs) / limit)


def au_pro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Normalised area under the per-region-overlap curve up to `fpr_limit` FPR (seed 001; MVTec AD)."""
    fpr, pro, _ = _overlap_curves(masks, maps)
    return _area_up_to(fpr, pro, fpr_limit)


def au_iou(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Normalised area under the IoU curve up to `fpr_limit` FPR (seed 001)."""
    fpr, _, iou = _overlap_curves(masks, maps)
    return _area_up_to(fpr, iou, fpr_limit)


def f1_optimal_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold that maximises F1 on labelled data (score >= threshold -> defective), and that F1."""
    labels = np.asarray(labels).astype(int).ravel()
    _check_binary(labels, "The F1-optimal threshold")
    precision, recall, thresholds = precision_recall_curve(labels, np.asarray(scores, dtype=np.float64).ravel())
    precision, recall = precision[:-1], recall[:-1]
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def working_point_rates(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """What a station sees at one working point: the share of good parts rejected (false-reject
    rate) and of defective parts caught (recall). A non-finite score is an ERROR verdict: it is
    never passed, so it counts as rejected for good parts and as caught for defects."""
    labels = np.asarray(labels).astype(int).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    _check_binary(labels, "working-point rates")
    rejected = ~np.isfinite(scores) | (np.nan_to_num(scores, nan=np.inf) >= threshold)
    return {"false_reject_rate": float(rejected[labels == 0].mean()),
            "defect_recall": float(rejected[labels == 1].mean()),
            "n_good": int((labels == 0).sum()), "n_defective": int((labels == 1).sum())}


def area_under_auc_percent(fractions: np.ndarray, aucs: np.ndarray) -> float:
    """The span-normalised area under AUC(fraction of the training set): a constant AUC of a gives a.

    Kept for its existing callers; it is `lowdata_area.normalised_area_under_auc_percent`, the one
    implementation (the paper's un-normalised area is `lowdata_area.area_under_auc_percent`)."""
    return normalised_area_under_auc_percent(fractions, aucs)
