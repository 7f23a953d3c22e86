"""What both seed protocols share: detector specs, features encoded once, and resumable cells.

Seed 000 (section 4.3) encodes every image once and only refits the detector afterwards, so the
features live in an on-disk `FeatureCache` keyed by content. Each finished cell (one fit and its
metrics) goes to a `CellStore`, keyed by its full configuration, so a killed sweep started again
with the same options skips what is done. Split out of protocols.py so that the low-data and
pollution modules each hold one protocol.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from inspector.augment.engine import iter_augmented_copies
from inspector.augment.policy import AugmentationPolicy
from inspector.detectors.params import DetectorSpec
from inspector.features.extractor import FeatureConfig, get_extractor
from inspector.features.maps import FeatureMaps
from inspector.io.datasets import Category, Sample
from inspector.store.atomic import atomic_open, read_npz, write_npz_atomic
from inspector.types import InspectorError, Reporter

CELLS_FILE = "cells.jsonl"


# -- configuration helpers -----------------------------------------------------------------------
def parse_detectors(detectors: Sequence[str | DetectorSpec]) -> list[DetectorSpec]:
    """The protocols' detector list, parsed; at least one is needed."""
    specs = [DetectorSpec.parse(d) for d in detectors]
    if not specs:
        raise InspectorError("No detector to evaluate.")
    return specs


def sample_size_grid(n_total: int, small_step: int = 5, small_max: int = 50, large_step: int = 10) -> list[int]:
    """Seed 000's grid: 5, 10, ... 50, then steps of 10, up to and including all images."""
    sizes = list(range(small_step, min(small_max, n_total) + 1, small_step))
    sizes += list(range(small_max + large_step, n_total + 1, large_step))
    if n_total >= small_step and (not sizes or sizes[-1] != n_total):
        sizes.append(n_total)
    return sizes


def parse_number_list(text: str | Sequence[float], integer: bool = False) -> list:
    """'5:50:5,60,80' -> [5, 10, ..., 50, 60, 80]; 'a:b:step' ranges include b when on the grid."""
    if not isinstance(text, str):
        return [int(v) if integer else float(v) for v in text]
    values: list = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if ":" in part:
                start, stop, step = (float(v) for v in part.split(":"))
                if step <= 0:
                    raise ValueError
                count = int(math.floor((stop - start) / step + 1e-9)) + 1
                values += [start + i * step for i in range(max(count, 0))]
            else:
                values.append(float(part))
        except ValueError as exc:
            raise InspectorError(f"Cannot read {part!r} in {text!r}: use numbers, or start:stop:step.") from exc
    if integer:
        if any(v != int(v) for v in values):
            raise InspectorError(f"{text!r} must hold whole numbers.")
        return [int(v) for v in values]
    return [round(v, 10) for v in values]


# -- resumable cell store ----------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class CellStore:
    """Finished cells, one JSON line each, keyed by their configuration.

    Each line is flushed and fsynced as soon as its cell finishes; a line torn by a kill is
    dropped on the next open, so only that one cell is redone.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._cells: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    @staticmethod
    def key(config: dict[str, Any]) -> str:
        return json.dumps(json_safe(config), sort_keys=True, separators=(",", ":"))

    def _load(self) -> None:
        good_lines, torn = [], False
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._cells[self.key(record["config"])] = record["result"]
                good_lines.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                torn = True
        if torn:  # rewrite without the damaged line(s) so that appends start on a clean line
            with atomic_open(self.path, "w") as handle:
                handle.write("".join(line + "\n" for line in good_lines))

    def __len__(self) -> int:
        return len(self._cells)

    def results(self) -> list[dict[str, Any]]:
        """Every stored result, in the order the cells were first recorded."""
        return list(self._cells.values())

    def __contains__(self, config: dict[str, Any]) -> bool:
        return self.key(config) in self._cells

    def get(self, config: dict[str, Any]) -> Optional[dict[str, Any]]:
        return self._cells.get(self.key(config))

    def add_once(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        """Add a cell unless it is already stored (a retried cell may report twice)."""
        if config not in self:
            self.add(config, result)

    def add(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        config, result = json_safe(config), json_safe(result)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write(json.dumps({"config": config, "result": result}, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._cells[self.key(config)] = result


# -- features, encoded once and cached ---------------------------------------------------------------
def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(json_safe(obj), sort_keys=True).encode()).hexdigest()[:16]


def _files_signature(samples: Sequence[Sample]) -> list:
    signature = []
    for sample in samples:
        try:
            stat = sample.path.stat()
            signature.append([str(sample.path), stat.st_size, int(stat.st_mtime)])
        except OSError:
            signature.append([str(sample.path), -1, -1])
    return signature


class FeatureCache:
    """Features (and other arrays) stored as npz under a content key; None disables caching."""

    def __init__(self, folder: Optional[str | os.PathLike]) -> None:
        self.folder = None if folder is None else Path(folder)

    def get_or_compute(self, name: str, key: Any, compute: Callable[[], FeatureMaps]) -> FeatureMaps:
        if self.folder is None:
            return compute()
        path = self.folder / f"{name}-{_digest(key)}.npz"
        if path.exists():
            try:
                arrays = read_npz(path)
                size = tuple(int(v) for v in arrays.pop("input_size"))
                return FeatureMaps({int(k.split("_")[1]): v for k, v in arrays.items()}, size)  # type: ignore[arg-type]
            except (InspectorError, KeyError, ValueError, IndexError):
                path.unlink(missing_ok=True)  # damaged cache: recompute
        features = compute()
        arrays = {f"level_{k}": v for k, v in features.levels.items()}
        arrays["input_size"] = np.array(features.input_size, dtype=np.int64)
        write_npz_atomic(path, arrays)
        return features


@dataclass
class FeatureEncoder:
    """Encodes a category's images for the protocols, with caching."""

    category: Category
    feature_config: FeatureConfig
    layers: tuple[int, ...]
    cache: FeatureCache
    device: str = "auto"
    reporter: Reporter = field(default_factory=Reporter)

    def _key(self, samples: Sequence[Sample], **extra: Any) -> dict[str, Any]:
        return {"files": _files_signature(samples), "features": self.feature_config.to_json(),
                "layers": list(self.layers), **extra}

    def encode(self, name: str, samples: Sequence[Sample]) -> FeatureMaps:
        def compute() -> FeatureMaps:
            extractor = get_extractor(self.feature_config, self.device)
            return extractor.extract((s.load() for s in samples), self.layers, self.reporter, total=len(samples),
                                     stage="extract")

        return self.cache.get_or_compute(name, self._key(samples), compute)

    def encode_augmented(self, samples: Sequence[Sample], policy: AugmentationPolicy, factor: int, seed: int,
                         chunk: int = 8) -> FeatureMaps:
        """Features of `factor` copies of every sample, grouped by original (copies of 0 first)."""
        size = self.feature_config.input_shape  # copies at the working geometry, as fit makes them

        def compute() -> FeatureMaps:
            extractor = get_extractor(self.feature_config, self.device)
            parts: list[FeatureMaps] = []
            total = len(samples) * factor
            for start in range(0, len(samples), chunk):
                batch = samples[start:start + chunk]
                images = [s.load() for s in batch]
                copies: list[np.ndarray] = []
                for _, group in iter_augmented_copies(images, policy, factor, seed, working_size=size,
                                                      indices=range(start, start + len(batch))):
                    copies.extend(group)
                parts.append(extractor.extract(copies, self.layers))
                done = min(total, (start + len(batch)) * factor)
                self.reporter.report("extract", done, total, f"{done}/{total} augmented copies encoded (x{factor})")
            return FeatureMaps.concatenate(parts)

        key = self._key(samples, policy=policy.fingerprint(), factor=factor, seed=seed, working_size=list(size))
        return self.cache.get_or_compute(f"augmented-x{factor}", key, compute)


def layers_for(specs: Sequence[DetectorSpec]) -> tuple[int, ...]:
    layers: set[int] = set()
    for spec in specs:
        layers.update(int(layer) for layer in spec.create().layers)
    return tuple(sorted(layers))


def evaluate_detector(detector_spec: DetectorSpec, train: FeatureMaps, test: FeatureMaps, labels: np.ndarray,
                      masks: Optional[np.ndarray], reporter: Reporter) -> dict[str, Any]:
    from inspector.evaluation.metrics import au_iou, au_pro, image_auroc

    detector = detector_spec.create()
    start = time.perf_counter()
    detector.fit(train)
    fit_seconds = time.perf_counter() - start
    reporter.check()
    result = detector.score(test)
    out: dict[str, Any] = {"auroc": image_auroc(labels, result.image_scores), "n_fit": len(train),
                           "fit_seconds": round(fit_seconds, 4)}
    if masks is not None:
        usable = result.maps is not None and masks.any()
        out["au_pro"] = au_pro(masks, result.maps) if usable else None
        out["au_iou"] = au_iou(masks, result.maps) if usable else None
    return out


