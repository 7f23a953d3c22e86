"""Worker-side work of the Review page: an image's heatmap and its nearest kept image.

Runs on a worker (inspector.gui.workers.LatestOnly), touching no widget. "Nearest" is by
appearance: the kept training image whose 32 x 32 grey thumbnail is closest (L2, after
removing brightness and contrast), which needs no model and shows the person the kept part
that the flagged one should look like. Thumbnails are cached per file for the session.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import cv2
import numpy as np

SIGNATURE_SIDE = 32


@dataclass
class Reasons:
    """What the reasons panel shows for one selected training image."""

    index: int  # ranking index of the selected image
    image: np.ndarray
    anomaly_map: Optional[np.ndarray]
    nearest_index: Optional[int]  # ranking index of the nearest kept image
    nearest_image: Optional[np.ndarray]
    nearest_map: Optional[np.ndarray]
    distance: float = float("nan")


def signature(image: np.ndarray) -> np.ndarray:
    """A small grey, brightness- and contrast-free vector of an RGB image."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey.astype(np.float32), (SIGNATURE_SIDE, SIGNATURE_SIDE), interpolation=cv2.INTER_AREA).ravel()
    small -= small.mean()
    return small / max(float(small.std()), 1e-6)


def nearest(target: np.ndarray, candidates: Sequence[np.ndarray]) -> tuple[Optional[int], float]:
    """(position, distance) of the candidate signature closest to `target`."""
    if not len(candidates):
        return None, float("nan")
    distances = np.linalg.norm(np.stack(candidates) - target[None], axis=1)
    best = int(np.argmin(distances))
    return best, float(distances[best])


def reasons_job(model: Any, index: int, path: Path, kept: Sequence[tuple[int, Path]], cache: dict[str, np.ndarray]):
    """Work computing the selected image's map and its nearest kept image (with its map)."""

    def work(reporter) -> Reasons:
        from inspector.io.images import load_image
        from inspector.types import Reporter

        image = load_image(path, max_side=1024)
        target = signature(image)
        candidates, where = [], []
        for other_index, other in kept:
            if other == path:
                continue
            key = str(other)
            if key not in cache:
                try:
                    cache[key] = signature(load_image(other, max_side=128))
                except Exception:  # noqa: BLE001 (an unreadable kept file is simply not a candidate)
                    continue
            candidates.append(cache[key])
            where.append((other_index, other))
            reporter.check()  # a newer selection supersedes this one
        position, distance = nearest(target, candidates)
        nearest_index = nearest_image = None
        if position is not None:
            nearest_index, nearest_path = where[position]
            nearest_image = load_image(nearest_path, max_side=1024)
        maps: list[Optional[np.ndarray]] = [None, None]
        if model is not None and getattr(model, "localizes", False):
            images = [image] + ([nearest_image] if nearest_image is not None else [])
            predictions = model.predict(images, Reporter(None, reporter.cancel_token))
            maps = [None if p.anomaly_map is None else np.asarray(p.anomaly_map, dtype=np.float32)
                    for p in predictions] + [None]
        return Reasons(index, image, maps[0], nearest_index, nearest_image, maps[1], distance)

    return work
