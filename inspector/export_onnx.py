"""`inspector export MODEL --format onnx`: a model folder plus its backbone as an ONNX graph.

The export holds the model as saved (JSON + arrays, under `model/`), `backbone.onnx` (the stages
its detector needs, normalisation folded in, dynamic batch and size) and `manifest.json` naming
the preprocessing, the weights' SHA-256 and the graph's SHA-256. Loading checks both digests and
hands the bundled graph to the extractor, so inspection runs it through ONNX Runtime without
exporting anything or reading the backbone's weights package for the forward pass.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from inspector.store.atomic import atomic_directory, read_json, write_bytes_atomic, write_json_atomic
from inspector.types import InspectorError

EXPORT_FORMAT = "inspector-onnx-export"
EXPORT_VERSION = 1


def is_export(folder: str | Path) -> bool:
    manifest = Path(folder) / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == EXPORT_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def export_model(model_dir: str | Path, out: str | Path) -> Path:
    """Write the export folder `out` atomically from the model folder `model_dir`."""
    from inspector.features.backbone_owner import default_owner
    from inspector.features.backbones import resolve_weights_file
    from inspector.features.extractor import get_extractor
    from inspector.features.runtime_onnx import cached_stage_graph, weights_sha256
    from inspector.pipeline import InspectionModel

    model = InspectionModel.load(model_dir)
    config = model.feature_config
    layers = sorted(set(int(layer) for layer in model.detector.layers))
    extractor = get_extractor(config, "cpu", runtime="torch")
    weights = resolve_weights_file(config.backbone, config.weights_file)
    # Tracing runs the shared backbone: on its owner's thread, like every forward pass.
    graph = default_owner().run(lambda _r: cached_stage_graph(extractor.model, config.backbone, weights,
                                                              extractor.spec.mean, extractor.spec.std, layers),
                                label="export the backbone graph")
    out = Path(out)
    with atomic_directory(out) as staging:
        model.save(staging / "model")
        write_bytes_atomic(staging / "backbone.onnx", graph)
        write_json_atomic(staging / "manifest.json", {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "model": "model",
            "features": config.to_json(), "weights_sha256": weights_sha256(weights),
            "backbone_graph": {"file": "backbone.onnx", "sha256": hashlib.sha256(graph).hexdigest(),
                               "layers": layers, "input": "images: float32 (N, 3, H, W) in [0, 1]",
                               "outputs": [f"stage{layer}" for layer in layers]},
        })
    return out


def load_export(folder: str | Path):
    """The exported `InspectionModel`, its extractor already running the bundled, verified graph."""
    from inspector.features.extractor import get_extractor
    from inspector.pipeline import InspectionModel

    folder = Path(folder)
    manifest = read_json(folder / "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise InspectorError(f"{folder} is not an Inspector ONNX export.")
    if int(manifest.get("version", 0)) > EXPORT_VERSION:
        raise InspectorError(f"{folder} was exported by a newer Inspector (export format {manifest['version']}).")
    entry = manifest.get("backbone_graph") or {}
    path = folder / str(entry.get("file", "backbone.onnx"))
    try:
        graph = path.read_bytes()
    except OSError as exc:
        raise InspectorError(f"Cannot read {path}: {exc}") from exc
    if hashlib.sha256(graph).hexdigest() != entry.get("sha256"):
        raise InspectorError(f"{path} does not match its fingerprint in manifest.json; the export is damaged.")
    model = InspectionModel.load(folder / str(manifest.get("model", "model")))
    layers = sorted(set(int(layer) for layer in entry.get("layers", [])))
    if layers != sorted(set(int(layer) for layer in model.detector.layers)):
        raise InspectorError(f"{folder}: the backbone graph's stages {layers} are not the detector's.")
    model.settings.device = "cpu"  # the export runs on the CPU provider
    extractor = get_extractor(model.feature_config, "cpu")  # the one `model.features` will use
    if extractor.runtime == "onnx":  # `--runtime torch` still means torch
        extractor.use_graph(layers, graph)
    return model
