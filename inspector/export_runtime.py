"""Inspect with an exported model in a process without torch (an inspection-only station).

`ExportedModel.load` verifies the export (export_manifest.py: every file's size and SHA-256, the
inner model folder's own manifest, key sets and types), then builds the backbone from the bundled
ONNX graph (ONNX Runtime) and the detector's scoring from its arrays (export_scoring.py: NumPy,
faiss, SimpleNet's head graph). `predict` has `InspectionModel.predict`'s contract: a prediction
per image, maps at the image's size, and ERROR (never PASS) for any failure or non-finite score.

`load_inspection_model` is what `inspector inspect` and `inspector run` call: the torch-free path
for exports of PaDiM, PatchCore and SimpleNet; the torch path (`export_onnx.load_export`) for
other detectors' exports or `--runtime torch`; `InspectionModel.load` for model folders.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from inspector.export_manifest import MODEL_FOLDER, is_export, read_graph, read_manifest
from inspector.features.tiling import TileLayout, map_to_image
from inspector.export_scoring import (
    TORCH_FREE_DETECTORS,
    PaDiMScorer,
    PatchCoreScorer,
    SimpleNetScorer,
)
from inspector.inspection import Prediction, predict_failing_closed
from inspector.store.model_checks import (
    DETECTOR_KEYS,
    MODEL_FILE,
    SHA256_HEX,
    check_threshold,
    is_count,
    read_json_bounded,
)
from inspector.store.model_manifest import content_checksum, verify_manifest
from inspector.threshold import Threshold
from inspector.types import Cancelled, InspectorError, Reporter, as_reporter

_LOG = logging.getLogger(__name__)
DISPLAY_NAMES = {"padim": "PaDiM", "patchcore": "PatchCore", "simplenet": "SimpleNet"}
#: Images per backbone run (the extractor's batch size).
BATCH = 16
MODEL_KEYS = {"format", "version", "model_id", "inspector_version", "settings", "threshold", "info", "files",
              "checksum"}
#: Largest neighbour counts and feature widths a stored model may ask for (bounds the search and memory).
MAX_NEIGHBOURS = 1024
MAX_WIDTH = 1 << 14


def _bad(where: Path, key: str, value: Any, wanted: str) -> InspectorError:
    return InspectorError(f"{where}: '{key}' must be {wanted}, got {str(value)[:60]}.")


def _int_list(where: Path, key: str, value: Any, low: int = 0, high: int = MAX_WIDTH, length: int | None = None) -> list[int]:
    if not (isinstance(value, list) and value and all(is_count(v) and low <= v <= high for v in value)
            and (length is None or len(value) == length)):
        raise _bad(where, key, value, f"a list of {length or 'some'} whole numbers in [{low}, {high}]")
    return [int(v) for v in value]


def _finite(where: Path, key: str, value: Any, low: float = 0.0) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value >= low):
        raise _bad(where, key, value, f"a finite number >= {low:g}")
    return float(value)


def _count(where: Path, key: str, value: Any, low: int = 1, high: int = MAX_NEIGHBOURS) -> int:
    if not (is_count(value) and low <= value <= high):
        raise _bad(where, key, value, f"a whole number in [{low}, {high}]")
    return int(value)


def read_exported_model_json(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The inner model.json, verified (its own manifest) and matched against manifest.json, without torch."""
    from inspector.features.preprocess import check_preprocessing

    model_dir = folder / MODEL_FOLDER
    where = model_dir / MODEL_FILE
    meta = read_json_bounded(where)
    if not isinstance(meta, dict) or meta.get("format") != "inspector-model" or meta.get("version") != 2:
        raise InspectorError(f"{where} is not an Inspector model of format 2.")
    if set(meta) != MODEL_KEYS:
        raise InspectorError(f"{where}: unexpected keys {sorted(set(meta) ^ MODEL_KEYS)}.")
    if meta["checksum"] != content_checksum(meta):
        raise InspectorError(f"Damaged model file {where}: its content does not match its checksum.")
    verify_manifest(model_dir, meta["files"])
    if not isinstance(meta["settings"], dict) or not isinstance(meta["info"], dict):
        raise InspectorError(f"{where}: 'settings' and 'info' must be JSON objects.")
    check_threshold(where, meta["threshold"])
    settings, info, features = meta["settings"], meta["info"], manifest["features"]
    if meta["model_id"] != manifest["model_id"] or settings.get("detector") != manifest["detector"]:
        raise InspectorError(f"{where} is not the model manifest.json describes (model id or detector differ).")
    for key in ("backbone", "image_size", "weights_file"):
        if settings.get(key) != features[key]:
            raise InspectorError(f"{where}: settings.{key} is {settings.get(key)!r}, manifest.json says {features[key]!r}.")
    weights = info.get("weights_sha256")
    if not (isinstance(weights, str) and SHA256_HEX.match(weights)) or weights != manifest["weights_sha256"]:
        raise InspectorError(f"{where}: the backbone fingerprint is missing or is not the exported graph's.")
    if check_preprocessing(features["preprocessing"]) != check_preprocessing(settings.get("preprocessing")):
        raise InspectorError(f"{folder}: the preprocessing in manifest.json is not the model's.")
    return meta


def _read_detector(detector_dir: Path, name: str, layers: Sequence[int]) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """detector.json's params and state (the fields scoring uses, type-checked) and its checked arrays."""
    from inspector.store.atomic import read_npz
    from inspector.store.binary_formats import check_npz

    where = detector_dir / "detector.json"
    meta = read_json_bounded(where)
    if not isinstance(meta, dict) or set(meta) != DETECTOR_KEYS or meta.get("format") != "inspector-detector":
        raise InspectorError(f"{where} is not an Inspector detector file.")
    if meta["detector"] != name:
        raise InspectorError(f"{where} holds a {meta['detector']} detector; manifest.json says {name}.")
    params, state, shapes = meta["params"], meta["state"], meta["arrays"]
    if not (isinstance(params, dict) and isinstance(state, dict) and isinstance(shapes, dict)):
        raise InspectorError(f"{where}: 'params', 'state' and 'arrays' must be JSON objects.")
    stages = _int_list(where, "params.layers", params.get("layers"), 0, 16)
    if not set(stages) <= set(layers):
        raise InspectorError(f"{where}: stages {stages} are not all in the exported backbone graph ({list(layers)}).")
    _finite(where, "params.sigma", params.get("sigma"))
    if name in ("patchcore", "simplenet"):
        dim = params.get("feature_dim")
        if dim is not None:
            _count(where, "params.feature_dim", dim, len(stages), MAX_WIDTH)
        _int_list(where, "state.grid", state.get("grid"), 1, MAX_WIDTH, 3)
        _int_list(where, "state.level_channels", state.get("level_channels"), 1, MAX_WIDTH, len(stages))
    if name == "padim":
        _int_list(where, "state.grid", state.get("grid"), 1, MAX_WIDTH, 2)
        _count(where, "state.total_channels", state.get("total_channels"), 1, MAX_WIDTH)
    if name == "patchcore":
        for key in ("score_neighbors", "reweight_neighbors", "nprobe"):
            _count(where, f"params.{key}", params.get(key))
        _count(where, "state.bank_size", state.get("bank_size"), 1, 1 << 31)
    if not all(isinstance(v, list) and all(is_count(d) for d in v) for v in shapes.values()):
        raise InspectorError(f"{where}: 'arrays' must map names to shapes.")
    check_npz(detector_dir / "detector.npz", shapes)  # headers against bytes, before allocating
    arrays = read_npz(detector_dir / "detector.npz")
    for key, array in arrays.items():
        if np.issubdtype(array.dtype, np.number) and not np.all(np.isfinite(array)):
            raise InspectorError(f"{detector_dir / 'detector.npz'}: array '{key}' holds NaN or infinite values; "
                                 "the model is damaged and is refused.")
    return params, state, arrays


def _session(graph: bytes, what: str):
    import onnxruntime as ort

    from inspector.features.runtime_onnx import session_options

    try:
        return ort.InferenceSession(graph, sess_options=session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise InspectorError(f"ONNX Runtime could not load {what}: {exc}") from exc


class ExportedModel:
    """An exported model running on ONNX Runtime, NumPy and faiss only (no torch import)."""

    def __init__(self, folder: Path, manifest: dict, meta: dict, scorer, runner, input_shape: tuple[int, int]) -> None:
        self.folder = folder
        self.manifest = manifest
        self.model_id: str = meta["model_id"]
        self.threshold = Threshold.from_json(meta["threshold"])
        self.info = meta["info"]
        self.scorer = scorer
        self.runner = runner
        self.input_shape = input_shape  # the detector's input: the backbone's, or the tile mosaic (v3)
        record = manifest["features"]["preprocessing"]
        self.tiles = TileLayout.from_record(record) if record.get("version") == 3 else None
        name = manifest["detector"]
        self.detector = SimpleNamespace(name=name, display_name=DISPLAY_NAMES.get(name, name), layers=runner.layers)
        self.localizes = True

    @classmethod
    def load(cls, folder: str | Path) -> ExportedModel:
        folder = Path(folder)
        try:
            return cls._load(folder)
        except (InspectorError, Cancelled):
            raise
        except MemoryError as exc:
            raise InspectorError(f"Refused the export {folder}: it asks for more memory than is available.") from exc
        except Exception as exc:
            raise InspectorError(f"Damaged export {folder}: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _load(cls, folder: Path) -> ExportedModel:
        from inspector.features.preprocess import check_preprocessing, input_geometry
        from inspector.features.runtime_onnx import OnnxStageRunner

        manifest = read_manifest(folder)
        name = manifest["detector"]
        if name not in TORCH_FREE_DETECTORS:
            raise InspectorError(f"{folder}: a {name} export needs torch to score; inspect it with the full Inspector "
                                 f"(torch-free scoring covers {', '.join(TORCH_FREE_DETECTORS)}).")
        model_dir = folder / MODEL_FOLDER
        meta = read_exported_model_json(folder, manifest)
        record = check_preprocessing(manifest["features"]["preprocessing"])
        input_shape = input_geometry(record, int(manifest["features"]["image_size"]))
        layers = manifest["backbone_graph"]["layers"]
        params, state, arrays = _read_detector(model_dir / "detector", name, layers)
        if name == "padim":
            scorer = PaDiMScorer(params, state, arrays)
        elif name == "patchcore":
            scorer = PatchCoreScorer(params, state, _faiss_bank(model_dir / "detector", state, params))
        else:
            if manifest["head_graph"] is None:
                raise InspectorError(f"{folder}: a SimpleNet export needs its head graph (head.onnx).")
            scorer = SimpleNetScorer(params, state, arrays, _session(read_graph(folder, manifest, "head_graph"),
                                                                     f"{folder / 'head.onnx'}"))
        runner = OnnxStageRunner(read_graph(folder, manifest, "backbone_graph"), layers)
        return cls(folder, manifest, meta, scorer, runner, input_shape)

    def device_name(self) -> str:
        from inspector.features.runtime_onnx import session_threads

        return f"CPU (ONNX Runtime, {session_threads()} threads, no torch)"

    def predict(self, images: Sequence[np.ndarray], reporter: Reporter | None = None) -> list[Prediction]:
        """Score images (RGB uint8, any size); fail closed per image, as InspectionModel.predict does."""
        reporter = as_reporter(reporter)
        images = list(images)
        if not images:
            return []
        return predict_failing_closed(images, lambda batch: self._predict_batch(batch, reporter), self._failed)

    def _failed(self, exc: BaseException) -> Prediction:
        reason = str(exc) if isinstance(exc, InspectorError) else f"Scoring failed: {type(exc).__name__}: {exc}"
        _LOG.error("ERROR verdict (exported model %s): %s", self.model_id, reason)
        return Prediction.failed(reason)

    def scores_and_maps(self, images: Sequence[np.ndarray], reporter: Reporter | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Image scores and maps at the backbone input size (no fail-closed wrapping: for tests and tools)."""
        from inspector.features.preprocess import to_backbone_input

        reporter = as_reporter(reporter)
        scores, maps = [], []
        for start in range(0, len(images), BATCH):
            reporter.check()
            chunk = images[start:start + BATCH]
            if self.tiles is None:
                levels = self.runner.run(np.stack([to_backbone_input(image, self.input_shape) for image in chunk]))
            else:  # each image's tiles, their features arranged as the mosaic the detector was fitted on
                levels = self.runner.run(np.concatenate([self.tiles.backbone_inputs(image) for image in chunk]))
                levels = {layer: self.tiles.mosaic(level) for layer, level in levels.items()}
            s, m = self.scorer.score(levels, self.input_shape)
            scores.append(s)
            maps.append(m)
        return np.concatenate(scores), np.concatenate(maps)

    def _predict_batch(self, images: list[np.ndarray], reporter: Reporter) -> list[Prediction]:
        reporter.report("score", 0, len(images), "Scoring (ONNX Runtime)")
        scores, maps = self.scores_and_maps(images, reporter)
        reporter.report("score", len(images), len(images))
        if len(scores) != len(images):
            raise InspectorError(f"The exported model returned {len(scores)} scores for {len(images)} images.")
        predictions = []
        for image, score, raw in zip(images, scores, maps):
            score = float(score)
            if not np.isfinite(score) or not np.all(np.isfinite(raw)):
                predictions.append(self._failed(InspectorError(
                    f"The model gave a non-finite score ({score}) or map: the model or the image is damaged.")))
                continue
            predictions.append(Prediction(score, map_to_image(raw, self.tiles, image.shape[:2]), self.threshold.verdict(score)))
        return predictions


def _faiss_bank(detector_dir: Path, state: dict, params: dict):
    from inspector.detectors.nearest_neighbours import FaissNearestNeighbours
    from inspector.store.model_checks import check_regular

    name = state.get("index_file")
    if not (isinstance(name, str) and name and "/" not in name and "\\" not in name and name not in (".", "..")):
        raise _bad(detector_dir / "detector.json", "state.index_file", name, "a file name")
    path = detector_dir / name
    size = check_regular(path, "model file")
    with open(path, "rb") as handle:
        data = handle.read(size)
    return FaissNearestNeighbours.from_bytes(path, data, int(state["grid"][2]), int(state["bank_size"]),
                                             int(params["nprobe"]))


def torch_free_supported(folder: str | Path) -> bool:
    """Whether `folder` is an export whose detector scores without torch (read cheaply; checked on load)."""
    import json

    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
        return isinstance(manifest, dict) and manifest.get("detector") in TORCH_FREE_DETECTORS
    except (OSError, ValueError):
        return False


def load_inspection_model(folder: str | Path, runtime: str | None = None):
    """The model `inspect` and `run` judge with: torch-free for supported exports unless runtime is torch."""
    if is_export(folder):
        if runtime != "torch" and torch_free_supported(folder):
            return ExportedModel.load(folder)
        from inspector.export_onnx import load_export

        return load_export(folder)
    from inspector.pipeline import InspectionModel

    return InspectionModel.load(folder)
