"""`inspector export MODEL --format onnx`: a self-contained inspection model for stations without torch.

The export folder holds the model as saved (JSON + arrays, under `model/`), `backbone.onnx` (the
stages its detector needs, normalisation folded in, dynamic batch and size), for SimpleNet
`head.onnx` (adaptor + discriminator: patch features (M, D) -> normality logits (M, 1)), and
`manifest.json` (export_manifest.py) naming the preprocessing, the weights' SHA-256, both graphs
and the size + SHA-256 of every file. `export_runtime.ExportedModel` inspects with it without
torch; `load_export` here is the torch path (same backbone graph, the detectors' own scoring),
used for detectors without torch-free scoring and for `--runtime torch`.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

from inspector.export_manifest import (
    BACKBONE_FILE,
    BACKBONE_INPUT,
    HEAD_FILE,
    HEAD_INPUT,
    MODEL_FOLDER,
    is_export,
    read_graph,
    read_manifest,
    write_manifest,
)
from inspector.store.atomic import atomic_directory, write_bytes_atomic
from inspector.types import InspectorError

__all__ = ["export_model", "is_export", "load_export", "simplenet_head_graph"]


def simplenet_head_graph(detector) -> bytes:
    """ONNX bytes of SimpleNet's adaptor + discriminator (eval mode: BatchNorm uses its running statistics)."""
    import torch

    head = torch.nn.Sequential(detector.adaptor_, detector.discriminator_).eval()
    buffer = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(head, (torch.zeros(2, detector.grid_.dim),), buffer, input_names=["patches"],
                          output_names=["logits"], dynamic_axes={"patches": {0: "patches"}, "logits": {0: "patches"}},
                          opset_version=17, dynamo=False)
    return buffer.getvalue()


def _graph_entry(data: bytes, file: str, layers: list[int], input_text: str, outputs: list[str]) -> dict:
    return {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "layers": layers, "input": input_text,
            "outputs": outputs}


def export_model(model_dir: str | Path, out: str | Path) -> Path:
    """Write the export folder `out` atomically from the model folder `model_dir`."""
    from inspector.features.backbone_owner import default_owner
    from inspector.features.backbones import resolve_weights_file
    from inspector.features.extractor import get_extractor
    from inspector.features.runtime_onnx import cached_stage_graph, weights_sha256
    from inspector.pipeline import InspectionModel

    model = InspectionModel.load(model_dir)
    config = model.feature_config
    layers = sorted({int(layer) for layer in model.detector.layers})
    extractor = get_extractor(config, "cpu", runtime="torch")
    weights = resolve_weights_file(config.backbone, config.weights_file)
    # Tracing runs the shared backbone: on its owner's thread, like every forward pass.
    graph = default_owner().run(lambda _r: cached_stage_graph(extractor.model, config.backbone, weights,
                                                              extractor.spec.mean, extractor.spec.std, layers),
                                label="export the backbone graph")
    head = simplenet_head_graph(model.detector) if model.detector.name == "simplenet" else None
    out = Path(out)
    with atomic_directory(out) as staging:
        model.save(staging / MODEL_FOLDER)
        write_bytes_atomic(staging / BACKBONE_FILE, graph)
        if head is not None:
            write_bytes_atomic(staging / HEAD_FILE, head)
        write_manifest(staging, {  # written last: lists every file above with its size and SHA-256
            "model_id": model.model_id, "detector": model.detector.name,
            "features": config.to_json(), "weights_sha256": weights_sha256(weights),
            "backbone_graph": _graph_entry(graph, BACKBONE_FILE, layers, BACKBONE_INPUT,
                                           [f"stage{layer}" for layer in layers]),
            "head_graph": None if head is None else _graph_entry(
                head, HEAD_FILE, sorted({int(v) for v in model.detector.layers}),
                HEAD_INPUT, ["logits"]),
        })
    return out


def load_export(folder: str | Path):
    """The exported `InspectionModel` (torch path), its extractor running the bundled, verified graph."""
    from inspector.features.extractor import get_extractor
    from inspector.pipeline import InspectionModel

    folder = Path(folder)
    from inspector.export_runtime import read_exported_model_json

    manifest = read_manifest(folder)  # every file's size and SHA-256, keys and types
    read_exported_model_json(folder, manifest)  # the inner model is the one the manifest describes
    graph = read_graph(folder, manifest, "backbone_graph")
    model = InspectionModel.load(folder / MODEL_FOLDER)
    layers = manifest["backbone_graph"]["layers"]
    if layers != sorted({int(layer) for layer in model.detector.layers}):
        raise InspectorError(f"{folder}: the backbone graph's stages {layers} are not the detector's.")
    if model.model_id != manifest["model_id"] or model.detector.name != manifest["detector"]:
        raise InspectorError(f"{folder}: manifest.json does not describe the model in {folder / MODEL_FOLDER}.")
    model.settings.device = "cpu"  # the export runs on the CPU provider
    extractor = get_extractor(model.feature_config, "cpu")  # the one `model.features` will use
    if extractor.runtime == "onnx":  # `--runtime torch` still means torch
        extractor.use_graph(layers, graph)
    return model
