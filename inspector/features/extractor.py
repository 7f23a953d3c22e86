"""Batched, bounded-memory extraction of multi-level feature maps from a frozen backbone."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from inspector.features import backbone_owner
from inspector.features.backbones import DEFAULT_BACKBONE, build_backbone, resolve_weights_file, stage_modules
from inspector.features.maps import FeatureMaps
from inspector.features.preprocess import (DEFAULT_SHORT_SIDE, PREPROCESSING_V1, PREPROCESSING_V2, Geometry, check_preprocessing,
                                          input_geometry, to_backbone_input)
from inspector.features.runtime_onnx import ONNX_THREADS
from inspector.features.tiling import TiledExtractor, TileLayout
from inspector.types import CancelToken, InspectorError, Reporter, as_reporter

log = logging.getLogger(__name__)
RUNTIMES = ("auto", "torch", "onnx")
_default_runtime = os.environ.get("INSPECTOR_RUNTIME", "auto")


def set_default_runtime(runtime: str) -> None:
    """The runtime `get_extractor` uses when none is named (the CLI's `--runtime`): not stored in models."""
    global _default_runtime
    if runtime not in RUNTIMES:
        raise InspectorError(f"Unknown runtime '{runtime}': choose one of {', '.join(RUNTIMES)}.")
    _default_runtime = runtime


def default_runtime() -> str:
    return _default_runtime if _default_runtime in RUNTIMES else "auto"


def resolve_runtime(runtime: str, device: torch.device) -> str:
    """'auto' is ONNX Runtime on the CPU when it is installed (about 2x faster), torch on CUDA."""
    if runtime not in RUNTIMES:
        raise InspectorError(f"Unknown runtime '{runtime}': choose one of {', '.join(RUNTIMES)}.")
    from inspector.features.runtime_onnx import onnxruntime_available

    if runtime == "onnx":
        if device.type != "cpu":
            raise InspectorError("The ONNX runtime runs on the CPU; use --device cpu or --runtime torch.")
        if not onnxruntime_available():
            raise InspectorError("The ONNX runtime was asked for, but onnxruntime is not installed.")
        return "onnx"
    if runtime == "auto":
        return "onnx" if device.type == "cpu" and onnxruntime_available() else "torch"
    return "torch"


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when available (or asked for), the CPU otherwise."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise InspectorError("CUDA was asked for, but no CUDA GPU is available.")
    return torch.device(preference)


def describe_device(device: torch.device) -> str:
    """A human-readable device name for the status bar (GPU model or 'CPU (n threads)')."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that determines the features: saved with each model so scoring matches fitting."""

    backbone: str = DEFAULT_BACKBONE
    image_size: int = DEFAULT_SHORT_SIDE
    weights_file: Optional[str] = None
    # (height, width) kept from the part's aspect ratio (preprocessing v2); None: an image_size square (v1).
    geometry: Optional[Geometry] = None
    # Overlapping tiles (preprocessing v3, features/tiling.py); `geometry` is then each tile's input.
    tiles: Optional[TileLayout] = None

    @property
    def input_shape(self) -> Geometry:
        """The (height, width) of the detectors' input: fed to the backbone, or the tiles' mosaic."""
        if self.tiles is not None:
            return self.tiles.mosaic_shape
        return tuple(self.geometry) if self.geometry is not None else (self.image_size, self.image_size)

    @property
    def preprocessing(self) -> dict:
        if self.tiles is not None:
            return self.tiles.record()
        if self.geometry is None:
            return dict(PREPROCESSING_V1)
        return {**PREPROCESSING_V2, "height": int(self.geometry[0]), "width": int(self.geometry[1])}

    def to_json(self) -> dict:
        return {"backbone": self.backbone, "image_size": self.image_size, "weights_file": self.weights_file,
                "preprocessing": self.preprocessing}

    @classmethod
    def from_json(cls, data: dict) -> "FeatureConfig":
        # absent in 0.1.0 models: version 1, their behaviour
        return cls.from_record(str(data["backbone"]), int(data["image_size"]), data.get("weights_file"),
                               data.get("preprocessing"))

    @classmethod
    def from_record(cls, backbone: str, image_size: int, weights_file: Optional[str],
                    record: Optional[dict]) -> "FeatureConfig":
        """The config a (resolved) preprocessing record describes."""
        record = check_preprocessing(record)
        tiles = TileLayout.from_record(record) if record["version"] == 3 else None
        geometry = None if record["version"] == 1 else tiles.input if tiles else input_geometry(record, image_size)
        return cls(backbone, int(image_size), weights_file, geometry, tiles)


class _StopForward(Exception):
    """Raised by a hook once the deepest stage needed has run: the rest of the network is skipped."""


class FeatureExtractor:
    """Turns RGB uint8 images into `FeatureMaps` for the requested backbone stages.

    Images are resized (no crop, as in seed 000) to the config's `input_shape`, normalised with the
    backbone's statistics and pushed through the network in batches of `batch_size`, so memory
    stays bounded whatever the number of images. Only stages up to the deepest requested one run.
    Every forward pass (and every change to the ONNX sessions) runs on the backbone owner's thread
    (`features.backbone_owner`), one at a time, at the submitting thread's priority.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig(), device: str = "auto", batch_size: int = 16,
                 runtime: str = "auto") -> None:
        if config.image_size < 32 or config.image_size > 1024:
            raise InspectorError(f"Input size must be between 32 and 1024 pixels, got {config.image_size}.")
        if config.tiles is not None:
            raise InspectorError("A tiled config is encoded by `get_extractor`'s TiledExtractor, not directly.")
        self.config = config
        self.device = pick_device(device)
        self.batch_size = max(1, int(batch_size))
        self.model, self.spec = build_backbone(config.backbone, config.weights_file)
        self.model.to(self.device)
        self.stages = stage_modules(self.model)
        self._mean = torch.tensor(self.spec.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.spec.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.runtime = resolve_runtime(runtime, self.device)
        self._onnx_runners: dict[tuple[int, ...], object] = {}  # one session per set of stages

    @property
    def device_name(self) -> str:
        if self.runtime == "onnx":
            return f"CPU (ONNX Runtime, {ONNX_THREADS} threads)"
        return describe_device(self.device)

    def use_graph(self, layers: Sequence[int], graph: bytes) -> None:
        """Run `layers` through this (already verified) ONNX graph, e.g. one bundled in an export."""
        from inspector.features.runtime_onnx import OnnxStageRunner

        key = tuple(sorted(set(int(layer) for layer in layers)))

        def install(_reporter: Reporter) -> None:
            self._onnx_runners[key] = OnnxStageRunner(graph, key)

        backbone_owner.default_owner().run(install, label="install ONNX graph")

    def _onnx_runner(self, layers: Sequence[int]):
        """The ONNX session for `layers`, or None (and torch from then on) when export fails."""
        key = tuple(layers)
        if key not in self._onnx_runners:
            from inspector.features.runtime_onnx import OnnxStageRunner, cached_stage_graph

            try:
                weights = resolve_weights_file(self.config.backbone, self.config.weights_file)
                graph = cached_stage_graph(self.model, self.config.backbone, weights, self.spec.mean,
                                           self.spec.std, key)
                self._onnx_runners[key] = OnnxStageRunner(graph, key)
            except Exception as exc:  # any export/load failure: torch still gives the same features
                log.warning("ONNX Runtime unavailable for %s stages %s (%s); using torch.",
                            self.config.backbone, list(key), exc)
                self.runtime = "torch"
                return None
        return self._onnx_runners[key]

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) -> float32 (3, h, w) in [0, 1] at the model's one geometry (batches stack)."""
        return to_backbone_input(image, self.config.input_shape)

    def _forward(self, batch: np.ndarray, layers: Sequence[int],
                 cancel_token: Optional[CancelToken] = None) -> dict[int, np.ndarray]:
        """One batch through the backbone, on the owner thread (queued; never run once cancelled).

        The hooks and ONNX sessions live on the shared backbone: two threads (a GUI fit and an
        inspection) must never interleave them, or one batch's features land in the other's capture.
        """
        return backbone_owner.default_owner().run(lambda _r: self._forward_owned(batch, layers),
                                                  label=f"forward {len(batch)} image(s)",
                                                  reporter=Reporter(None, cancel_token))

    def _forward_owned(self, batch: np.ndarray, layers: Sequence[int]) -> dict[int, np.ndarray]:
        if self.runtime == "onnx":
            self._check_stages(layers)
            runner = self._onnx_runner(layers)
            if runner is not None:
                return runner.run(batch)
        return self._forward_torch(batch, layers)

    def _check_stages(self, layers: Sequence[int]) -> None:
        for index in layers:
            if index >= len(self.stages):
                raise InspectorError(f"Backbone '{self.config.backbone}' has {len(self.stages)} stages; stage {index} does not exist.")

    @torch.inference_mode()
    def _forward_torch(self, batch: np.ndarray, layers: Sequence[int]) -> dict[int, np.ndarray]:
        captured: dict[int, torch.Tensor] = {}
        deepest = max(layers)
        handles = []

        def make_hook(index: int):
            def hook(_module, _inputs, output):
                captured[index] = output
                if index == deepest:
                    raise _StopForward

            return hook

        self._check_stages(layers)
        for index in layers:
            handles.append(self.stages[index].register_forward_hook(make_hook(index)))
        try:
            x = torch.from_numpy(batch).to(self.device)
            x = (x - self._mean) / self._std
            try:
                self.model(x)
            except _StopForward:
                pass
        finally:
            for handle in handles:
                handle.remove()
        return {index: captured[index].float().cpu().numpy() for index in layers}

    def extract(self, images: Sequence[np.ndarray] | Iterable[np.ndarray], layers: Sequence[int],
                reporter: Optional[Reporter] = None, total: Optional[int] = None, stage: str = "extract") -> FeatureMaps:
        """Features of `images` (RGB uint8 arrays, any size) for backbone `layers`.

        `images` may be a lazy iterable (e.g. files loaded on the fly); `total` then sizes the progress bar.
        """
        reporter = as_reporter(reporter)
        layers = sorted(set(int(layer) for layer in layers))
        if not layers:
            raise InspectorError("No backbone stages requested.")
        if total is None and hasattr(images, "__len__"):
            total = len(images)  # type: ignore[arg-type]
        total = total or 0
        chunks: dict[int, list[np.ndarray]] = {layer: [] for layer in layers}
        batch: list[np.ndarray] = []
        done = 0
        reporter.report(stage, 0, total, "Extracting features")

        def flush() -> None:
            nonlocal done
            out = self._forward(np.stack(batch), layers, reporter.cancel_token)
            for layer in layers:
                chunks[layer].append(out[layer])
            done += len(batch)
            batch.clear()
            reporter.report(stage, done, max(total, done), f"{done} image(s) encoded on {self.device_name}")

        for image in images:
            batch.append(self.preprocess(image))
            if len(batch) == self.batch_size:
                flush()
        if batch:
            flush()
        if done == 0:
            raise InspectorError("No images to extract features from.")
        return FeatureMaps({layer: np.concatenate(chunks[layer]) for layer in layers}, self.config.input_shape)


_EXTRACTOR_CACHE: dict[tuple, FeatureExtractor] = {}
# Written only on the owner thread (so two threads asking at once share one backbone, not build
# two); the lock only makes the caller threads' look-up safe next to that write.
_CACHE_LOCK = threading.Lock()


def get_extractor(config: FeatureConfig, device: str = "auto", runtime: Optional[str] = None) -> FeatureExtractor:
    """A shared extractor per (config, device, runtime): building a backbone costs about a second."""
    runtime = runtime or default_runtime()
    if config.tiles is not None:  # each tile through the plain extractor at the tile's input size
        inner = get_extractor(FeatureConfig(config.backbone, config.image_size, config.weights_file,
                                            config.tiles.input), device, runtime)
        return TiledExtractor(inner, config.tiles, config)
    key = (config, device, runtime)
    with _CACHE_LOCK:
        cached = _EXTRACTOR_CACHE.get(key)
    if cached is not None:
        return cached

    def build(_reporter: Reporter) -> FeatureExtractor:
        with _CACHE_LOCK:
            existing = _EXTRACTOR_CACHE.get(key)
        if existing is not None:
            return existing
        extractor = FeatureExtractor(config, device, runtime=runtime)
        with _CACHE_LOCK:
            _EXTRACTOR_CACHE[key] = extractor
        return extractor

    return backbone_owner.default_owner().run(build, label=f"build {config.backbone}")
