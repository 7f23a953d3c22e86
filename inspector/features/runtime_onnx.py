"""The frozen backbone through ONNX Runtime: about twice torch eager's speed on a small CPU.

The graph is exported once from the very same timm model and weights that torch runs, up to the
deepest stage the detectors need, with dynamic batch, height and width (non-square inputs and
tiles work), and normalisation folded in (its input is the [0, 1] image batch). It is cached
under the user's cache folder, keyed by backbone, weights SHA-256 and stages, written atomically
with a fingerprint that is checked on every load, so a damaged or swapped file is re-exported
rather than trusted.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from inspector.store.atomic import write_bytes_atomic, write_json_atomic
from inspector.types import InspectorError

log = logging.getLogger(__name__)

def physical_cores() -> int:
    """CPU cores this process may use, counting each physical core once (hyper-threads do not add speed here)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    try:
        import psutil

        cores = psutil.cpu_count(logical=False) or usable
    except Exception:  # noqa: BLE001 - psutil is optional
        cores = usable
    return max(1, min(usable, cores))


def session_threads() -> int:
    """Intra-op threads: `$INSPECTOR_ONNX_THREADS`, else the physical cores (torch's count is never touched)."""
    try:
        return max(1, int(os.environ.get("INSPECTOR_ONNX_THREADS", "")))
    except ValueError:
        return physical_cores()


ONNX_THREADS = session_threads()  # intra-op threads of the session; torch's global count is never touched


def session_options():
    """ONNX Runtime options for the backbone and SimpleNet's head (measured in benchmarks/runtime.py).

    All graph optimisations (constant folding, Conv+BN+activation fusion, NCHWc layout on x86),
    one intra-op thread per physical core, sequential execution (the graph is a chain), the memory
    arena and pattern planner on. Worker threads sleep between ops (INSPECTOR_ONNX_SPIN=1 makes
    them spin, ONNX Runtime's own default): a workstation shares its cores with the GUI, the camera
    and the backbone owner, and spinning workers steal their cycles. On this shared 2-core CPU,
    sleeping was 1.88-7.19x faster than torch eager where spinning reached 1.34-2.48x at batch 1;
    on a quiet machine spinning is 5-15 % faster (docs/benchmarks/runtime.txt).
    Feeding a batch in smaller chunks was measured slower at every size, so batches go whole.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = session_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = True
    spin = "1" if os.environ.get("INSPECTOR_ONNX_SPIN", "") in ("1", "true", "yes") else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    return options
OPSET = 17
EXPORT_FORMAT = 1  # bump when the wrapper or export arguments change: old caches then re-export


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_folder() -> Path:
    """`$INSPECTOR_ONNX_CACHE`, else `$XDG_CACHE_HOME/inspector/onnx`, else `~/.cache/inspector/onnx`."""
    explicit = os.environ.get("INSPECTOR_ONNX_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "inspector" / "onnx"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_WEIGHTS_DIGESTS: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: Path) -> str:
    """SHA-256 of a weights file, memoised per (path, size, mtime): hashing 20 MB costs ~50 ms."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _WEIGHTS_DIGESTS:
        _WEIGHTS_DIGESTS[key] = file_sha256(path)
    return _WEIGHTS_DIGESTS[key]


def _stage_prefix(model, deepest: int):
    """(stem modules, stage modules up to `deepest`) for EfficientNet-style and ResNet-style timm models."""
    if hasattr(model, "blocks") and hasattr(model, "conv_stem"):
        return [model.conv_stem, model.bn1], list(model.blocks)[: deepest + 1]
    if all(hasattr(model, name) for name in ("conv1", "bn1", "act1", "maxpool", "layer1")):
        layers = [getattr(model, f"layer{i}") for i in range(1, 5) if hasattr(model, f"layer{i}")]
        return [model.conv1, model.bn1, model.act1, model.maxpool], layers[: deepest + 1]
    raise InspectorError(f"{type(model).__name__}: no known stem/stage layout to export to ONNX.")


def _stage_wrapper(model, mean: Sequence[float], std: Sequence[float], layers: Sequence[int]):
    """An nn.Module: normalise, run the stem and stages up to the deepest requested, return those stages."""
    import torch

    stem, stages = _stage_prefix(model, max(layers))
    if max(layers) >= len(stages):
        raise InspectorError(f"The backbone has {len(stages)} stages; stage {max(layers)} does not exist.")

    class StageOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Sequential(*stem)
            self.stages = torch.nn.ModuleList(stages)
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

        def forward(self, images):
            x = self.stem((images - self.mean) / self.std)
            outputs = []
            for index, stage in enumerate(self.stages):
                x = stage(x)
                if index in layers:
                    outputs.append(x)
            return tuple(outputs)

    return StageOutputs().eval()


def export_stages(model, mean: Sequence[float], std: Sequence[float], layers: Sequence[int]) -> bytes:
    """ONNX bytes of the backbone prefix with dynamic batch/height/width, outputs `stage{i}` per layer."""
    import torch

    wrapper = _stage_wrapper(model, mean, std, layers)
    names = [f"stage{layer}" for layer in layers]
    axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    axes.update({name: {0: "batch", 2: f"{name}_h", 3: f"{name}_w"} for name in names})
    buffer = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice: it is chosen on purpose
        torch.onnx.export(wrapper, (torch.rand(1, 3, 224, 224),), buffer, input_names=["images"],
                          output_names=names, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def cache_key(backbone: str, weights_digest: str, layers: Sequence[int]) -> str:
    import torch

    text = json.dumps({"backbone": backbone, "weights_sha256": weights_digest, "layers": list(layers),
                       "opset": OPSET, "format": EXPORT_FORMAT, "torch": torch.__version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _read_verified(graph: Path, manifest: Path, expected: dict) -> Optional[bytes]:
    """The cached graph's bytes when its manifest matches `expected` and its digest checks out."""
    if not (graph.is_file() and manifest.is_file()):
        return None
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        data = graph.read_bytes()
    except (OSError, ValueError):
        return None
    if any(recorded.get(key) != value for key, value in expected.items()):
        return None
    if recorded.get("onnx_sha256") != hashlib.sha256(data).hexdigest():
        log.warning("Cached ONNX graph %s fails its fingerprint; exporting it again.", graph)
        return None
    return data


_EXPORT_LOCK = threading.Lock()


def cached_stage_graph(model, backbone: str, weights_file: Path, mean, std, layers: Sequence[int],
                       folder: Optional[Path] = None) -> bytes:
    """The verified cached graph for (backbone, weights, layers), exported and cached when missing."""
    layers = sorted(set(int(layer) for layer in layers))
    digest = weights_sha256(Path(weights_file))
    key = cache_key(backbone, digest, layers)
    folder = Path(folder) if folder is not None else cache_folder()
    graph, manifest = folder / f"{backbone}-{key}.onnx", folder / f"{backbone}-{key}.json"
    expected = {"backbone": backbone, "weights_sha256": digest, "layers": layers, "key": key}
    with _EXPORT_LOCK:
        data = _read_verified(graph, manifest, expected)
        if data is not None:
            return data
        data = export_stages(model, mean, std, layers)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(graph, data)  # graph first: a manifest never names a graph that is not there
            write_json_atomic(manifest, {**expected, "onnx_sha256": hashlib.sha256(data).hexdigest()})
        except (OSError, InspectorError) as exc:  # a read-only home still runs, it just re-exports next time
            log.warning("Could not cache the ONNX graph in %s: %s", folder, exc)
        return data


#: Input shapes that get their own session with every dimension fixed (least recently used evicted).
FIXED_SHAPE_SESSIONS = 4


class OnnxStageRunner:
    """Runs one exported stage graph with ONNX Runtime's CPU provider.

    A shape seen a second time (a station's batch of 1, a fit's batches of 16) gets its own
    session with the batch, height and width fixed (`add_free_dimension_override_by_name`): ORT
    then plans memory and shapes once, which measured faster at every size here
    (docs/benchmarks/runtime-levers.md). A shape's first call uses the dynamic session, so a
    one-off shape (a fit's last, shorter batch) never pays the ~0.2 s of building a session.
    """

    def __init__(self, graph: bytes, layers: Sequence[int], threads: Optional[int] = None) -> None:
        self._graph = graph
        self._threads = threads
        self.session = self._new_session({})
        self.layers = sorted(set(int(layer) for layer in layers))
        self._names = [f"stage{layer}" for layer in self.layers]
        self._fixed: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self._seen: set[tuple[int, ...]] = set()
        self._lock = threading.Lock()

    def _new_session(self, fixed: dict[str, int]):
        import onnxruntime as ort

        options = session_options()
        if self._threads is not None:
            options.intra_op_num_threads = max(1, int(self._threads))
        for name, value in fixed.items():
            options.add_free_dimension_override_by_name(name, int(value))
        try:
            return ort.InferenceSession(self._graph, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InspectorError(f"ONNX Runtime could not load the backbone graph: {exc}") from exc

    def _session_for(self, shape: tuple[int, ...]):
        """The fixed-shape session for `shape` once it repeats, else the dynamic one."""
        with self._lock:
            if shape in self._fixed:
                self._fixed.move_to_end(shape)
                return self._fixed[shape]
            if shape not in self._seen:
                if len(self._seen) > 64:
                    self._seen.clear()
                self._seen.add(shape)
                return self.session
        try:
            session = self._new_session({"batch": shape[0], "height": shape[2], "width": shape[3]})
        except InspectorError as exc:  # the dynamic session still gives the same features
            log.warning("No fixed-shape ONNX session for %s (%s); using the dynamic one.", shape, exc)
            return self.session
        with self._lock:
            self._fixed[shape] = session
            while len(self._fixed) > FIXED_SHAPE_SESSIONS:
                self._fixed.popitem(last=False)
        return session

    def run(self, batch: np.ndarray) -> dict[int, np.ndarray]:
        """float32 (N, 3, H, W) in [0, 1] -> {layer: float32 (N, C, h, w)}."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4:
            raise InspectorError(f"The backbone takes a batch (N, 3, H, W), got shape {batch.shape}.")
        outputs = self._session_for(tuple(int(v) for v in batch.shape)).run(self._names, {"images": batch})
        return {layer: np.asarray(out, dtype=np.float32) for layer, out in zip(self.layers, outputs)}
