"""Backbone time per image: torch eager vs ONNX Runtime (CPU provider), as ratios in one run.

    .venv/bin/python benchmarks/runtime.py [--backbone efficientnet_lite0] [--layers 1 2 3 4 5 6]
                                           [--rounds 5] [--sizes 224x224 576x224] [--batches 1 16]

For each input size and batch size the two runtimes run alternately, round after round, on the
same random batch (already preprocessed: this times the backbone alone), so a busy machine slows
both alike (a third column times the single dynamic-shape session alone, without the fixed-shape
sessions the default path builds for repeated shapes); the figure per cell is the median over rounds. It also prints the largest feature
difference between the two, relative to the feature scale. Run it with the launcher's glibc
malloc settings for the figures the application sees (the script prints whether they are set):

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=1073741824

Figures only: nothing here asserts on timings.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from inspector.features.extractor import FeatureConfig, FeatureExtractor  # noqa: E402
from inspector.features.runtime_onnx import ONNX_THREADS  # noqa: E402

MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def parse_size(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width or height)


def timed(run, batch: np.ndarray) -> float:
    time.sleep(0.1)  # let the other runtime's worker threads stop spinning: they must not slow this one
    start = time.perf_counter()
    run(batch)
    return time.perf_counter() - start


def runtime_arguments(description: str, sizes: list[str]) -> argparse.ArgumentParser:
    """The backbone, stages, rounds, input sizes and batches every runtime benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", nargs="+", default=sizes)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    return parser


def main() -> int:
    args = runtime_arguments(__doc__.splitlines()[0], ["224x224", "576x224"]).parse_args()

    import onnxruntime

    config = FeatureConfig(backbone=args.backbone)
    eager = FeatureExtractor(config, "cpu", runtime="torch")
    onnx = FeatureExtractor(config, "cpu", runtime="onnx")
    layers = sorted(set(args.layers))
    runners = {"torch": lambda b: eager._forward(b, layers), "onnx": lambda b: onnx._forward(b, layers)}
    tuned = all(os.environ.get(name) for name in MALLOC_VARS)
    print(f"backbone {args.backbone}, stages {layers}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; glibc malloc tuned: {'yes' if tuned else 'no'}")
    print(f"torch {torch.__version__} eager ({torch.get_num_threads()} threads) vs onnxruntime "
          f"{onnxruntime.__version__} CPUExecutionProvider ({ONNX_THREADS} intra-op threads, spinning {'on' if os.environ.get('INSPECTOR_ONNX_SPIN') in ('1', 'true', 'yes') else 'off'}, "
          f"ORT_ENABLE_ALL, a fixed-shape session per repeated shape); "
          f"median of {args.rounds} alternating rounds")
    rng = np.random.default_rng(0)
    cells = []
    for size in args.sizes:
        height, width = parse_size(size)
        for batch_size in args.batches:
            batch = rng.random((batch_size, 3, height, width), dtype=np.float32)
            expected, got = runners["torch"](batch), runners["onnx"](batch)  # warm-up (and ONNX export)
            runners["onnx"](batch)  # a repeated shape gets its fixed-shape session: built here, not timed
            if onnx.runtime != "onnx":
                print("error: ONNX Runtime fell back to torch; see the log above", file=sys.stderr)
                return 1
            if "dynamic" not in runners:  # the one dynamic-shape session, without the fixed-shape ones
                dynamic = onnx._onnx_runners[tuple(layers)].session
                names = [f"stage{layer}" for layer in layers]
                runners["dynamic"] = lambda b: dynamic.run(names, {"images": b})
            diff = max(float(np.abs(got[l] - expected[l]).max() / np.abs(expected[l]).max()) for l in layers)
            cells.append((height, width, batch_size, batch, diff, {"torch": [], "onnx": [], "dynamic": []}))
    for _ in range(args.rounds):
        for height, width, batch_size, batch, _diff, times in cells:
            for name in ("torch", "onnx", "dynamic"):
                times[name].append(timed(runners[name], batch) / batch_size)
    print()
    print(f"{'input':>9} {'batch':>5} {'torch ms/img':>13} {'onnx ms/img':>12} {'speed-up':>9} {'max rel diff':>13}"
          f"   {'dynamic-shape session only':>27}")
    for height, width, batch_size, _batch, diff, times in cells:
        t, o, d = (1000 * float(np.median(times[name])) for name in ("torch", "onnx", "dynamic"))
        print(f"{height:>4}x{width:<4} {batch_size:>5} {t:>13.1f} {o:>12.1f} {t / o:>8.2f}x {diff:>13.1e}"
              f"   {d:>9.1f} ms/img, {t / d:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
