"""Which ONNX Runtime settings make the backbone faster here: each lever vs torch eager, in one run.

    .venv/bin/python benchmarks/runtime_levers.py [--rounds 5] [--sizes 224x224 224x560] [--batches 1 16]

Every variant is an ONNX Runtime session on the very graph the application runs (the cached
export of `runtime_onnx.cached_stage_graph`), differing from the default `session_options()` in
one setting. Each round runs torch eager and then every variant on the same random batch, with a
0.1 s pause before each timed call (spinning workers of one must not slow the next); the figure
per cell is the median over rounds, and the ratio is torch's median over the variant's. Since
all variants share the rounds, their ratios compare with each other even on a busy CPU.
Figures only: nothing here asserts on timings. Results: docs/benchmarks/runtime-levers.md.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from benchmarks.runtime import parse_size, runtime_arguments  # noqa: E402  (one CLI for the runtime benchmarks)
from inspector.features.backbones import resolve_weights_file  # noqa: E402
from inspector.features.extractor import FeatureConfig, FeatureExtractor  # noqa: E402
from inspector.features.runtime_onnx import cached_stage_graph, session_options  # noqa: E402

Runner = Callable[[np.ndarray], list[np.ndarray]]


def plain(graph: bytes, names: list[str], change: Callable[[ort.SessionOptions], None] | None = None) -> Runner:
    """A session with the default options, `change` applied; run() with NumPy in and out."""
    options = session_options()
    if change is not None:
        change(options)
    session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    return lambda batch: session.run(names, {"images": batch})


def per_shape(graph: bytes, names: list[str]) -> Runner:
    """One session per input shape, its free dimensions fixed (lets ORT plan memory statically)."""
    sessions: dict[tuple[int, ...], ort.InferenceSession] = {}

    def run(batch: np.ndarray) -> list[np.ndarray]:
        if batch.shape not in sessions:
            options = session_options()
            for name, value in zip(("batch", "height", "width"), (batch.shape[0], *batch.shape[2:])):
                options.add_free_dimension_override_by_name(name, int(value))
            sessions[batch.shape] = ort.InferenceSession(graph, sess_options=options,
                                                         providers=["CPUExecutionProvider"])
        return sessions[batch.shape].run(names, {"images": batch})

    return run


def io_bound(graph: bytes, names: list[str]) -> Runner:
    """IOBinding: the input bound without a copy, outputs written into buffers reused per shape."""
    session = ort.InferenceSession(graph, sess_options=session_options(), providers=["CPUExecutionProvider"])
    outputs: dict[tuple[int, ...], list[np.ndarray]] = {}

    def run(batch: np.ndarray) -> list[np.ndarray]:
        if batch.shape not in outputs:
            outputs[batch.shape] = [np.empty_like(o) for o in session.run(names, {"images": batch})]
        binding = session.io_binding()
        binding.bind_cpu_input("images", batch)
        for name, out in zip(names, outputs[batch.shape]):
            binding.bind_output(name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
        session.run_with_iobinding(binding)
        return outputs[batch.shape]

    return run


def pre_optimised(graph: bytes, names: list[str], folder: Path) -> tuple[Runner, float, float]:
    """Optimise once and save (optimized_model_filepath), then load that file with optimisations off."""
    path = folder / "backbone.optimised.onnx"
    options = session_options()
    options.optimized_model_filepath = str(path)
    start = time.perf_counter()
    ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    cold = time.perf_counter() - start
    options = session_options()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    start = time.perf_counter()
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    warm = time.perf_counter() - start
    return (lambda batch: session.run(names, {"images": batch})), cold, warm


def main() -> int:
    args = runtime_arguments(__doc__.splitlines()[0], ["224x224", "224x560"]).parse_args()
    layers = sorted(set(args.layers))
    names = [f"stage{layer}" for layer in layers]

    eager = FeatureExtractor(FeatureConfig(backbone=args.backbone), "cpu", runtime="torch")
    weights = resolve_weights_file(args.backbone, None)
    graph = cached_stage_graph(eager.model, args.backbone, weights, eager.spec.mean, eager.spec.std, layers)
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="ort-levers-"))
    optimised, cold_load, warm_load = pre_optimised(graph, names, scratch)

    def level(value):
        return lambda o: setattr(o, "graph_optimization_level", value)

    variants: dict[str, Runner] = {
        "default (ENABLE_ALL, spin on)": plain(graph, names),
        "spinning off": plain(graph, names, lambda o: o.add_session_config_entry("session.intra_op.allow_spinning", "0")),
        "ENABLE_EXTENDED (no NCHWc)": plain(graph, names, level(ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)),
        "ENABLE_BASIC": plain(graph, names, level(ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)),
        "mem pattern off": plain(graph, names, lambda o: setattr(o, "enable_mem_pattern", False)),
        "arena off": plain(graph, names, lambda o: setattr(o, "enable_cpu_mem_arena", False)),
        "denormals as zero": plain(graph, names, lambda o: o.add_session_config_entry("session.set_denormal_as_zero", "1")),
        "1 intra-op thread": plain(graph, names, lambda o: setattr(o, "intra_op_num_threads", 1)),
        "session per shape (dims fixed)": per_shape(graph, names),
        "IOBinding, reused outputs": io_bound(graph, names),
        "pre-optimised file, opt off": optimised,
    }
    torch_run: Runner = lambda b: [eager._forward_torch(b, layers)[layer] for layer in layers]  # noqa: E731
    load = os.getloadavg()[0]
    print(f"backbone {args.backbone}, stages {layers}; {platform.machine()}, {os.cpu_count()} CPUs; "
          f"torch {torch.__version__} eager ({torch.get_num_threads()} threads) vs onnxruntime {ort.__version__} "
          f"CPUExecutionProvider; median of {args.rounds} rounds, all variants in each round")
    print(f"session creation: {cold_load * 1000:.0f} ms optimising the graph, {warm_load * 1000:.0f} ms loading "
          f"the pre-optimised file")
    rng = np.random.default_rng(0)
    cells = []
    for size in args.sizes:
        height, width = parse_size(size)
        for batch_size in args.batches:
            batch = rng.random((batch_size, 3, height, width), dtype=np.float32)
            expected = torch_run(batch)
            diffs = {}
            for name, run in variants.items():  # warm-up, and the features must agree
                got = run(batch)
                diffs[name] = max(float(np.abs(g - e).max() / np.abs(e).max()) for g, e in zip(got, expected))
            cells.append((f"{height}x{width}", batch_size, batch, diffs, {name: [] for name in ["torch", *variants]}))
    for _ in range(args.rounds):
        for _size, batch_size, batch, _diffs, times in cells:
            for name, run in [("torch", torch_run), *variants.items()]:
                time.sleep(0.1)
                start = time.perf_counter()
                run(batch)
                times[name].append((time.perf_counter() - start) / batch_size)
    for size, batch_size, _batch, diffs, times in cells:
        torch_ms = 1000 * float(np.median(times["torch"]))
        print(f"\n{size} batch {batch_size}: torch eager {torch_ms:.1f} ms/img")
        print(f"  {'variant':<32} {'ms/img':>7} {'vs torch':>9} {'max rel diff':>13}")
        for name in variants:
            ms = 1000 * float(np.median(times[name]))
            print(f"  {name:<32} {ms:>7.1f} {torch_ms / ms:>8.2f}x {diffs[name]:>13.1e}")
    print(f"\n(load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
