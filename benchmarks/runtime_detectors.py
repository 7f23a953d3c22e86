"""End-to-end time per part for each detector: torch eager vs ONNX Runtime (and the exported model), in one run.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/runtime_detectors.py [--data ../shared/data/mvtec_ad/bottle]
        [--train 20] [--parts 8] [--rounds 3] [--detectors padim patchcore simplenet knn mahalanobis]

For each detector a small model is fitted (torch backbone) on the first `--train` good training
images, saved and exported (`inspector export --format onnx`). Then, round after round, the same
`--parts` decoded test images are judged through `InspectionModel.predict` with the backbone on
torch eager, through the same call with the backbone on ONNX Runtime (the CPU default), and, for
the detectors with torch-free scoring, through the exported model (`ExportedModel.predict`, what a
station bundle runs): one part per call (a station, batch 1) and all parts in one call (batch
`--parts`). Each time is end to end: preprocessing from the decoded image, backbone, the
detector's scoring and the anomaly map resized to the image. The figure is the median over
rounds of the time per part; ratios are torch's over the others'. SimpleNet is fitted with
`--simplenet-epochs` epochs (scoring time does not depend on them). Figures only, no assertions.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector.export_onnx import export_model  # noqa: E402
from inspector.export_runtime import ExportedModel  # noqa: E402
from inspector.export_scoring import TORCH_FREE_DETECTORS  # noqa: E402
from inspector.features.extractor import set_default_runtime  # noqa: E402
from inspector.io.datasets import load_category  # noqa: E402
from inspector.pipeline import FitSettings, InspectionModel, fit_model  # noqa: E402

DETECTORS = ("padim", "patchcore", "simplenet", "knn", "mahalanobis")


def per_part(predict, images: list[np.ndarray], one_at_a_time: bool) -> float:
    """Seconds per part for judging `images` one call per part, or all in one call."""
    time.sleep(0.1)  # the previous runtime's spinning workers must not slow this one
    start = time.perf_counter()
    if one_at_a_time:
        for image in images:
            predict([image])
    else:
        predict(images)
    return (time.perf_counter() - start) / len(images)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "mvtec_ad" / "bottle")
    parser.add_argument("--train", type=int, default=20)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--simplenet-epochs", type=int, default=3)
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS)
    args = parser.parse_args()

    import onnxruntime
    import torch

    category = load_category(args.data)
    train = [s.load() for s in category.train[: args.train]]
    step = max(1, len(category.test) // args.parts)
    parts = [s.load() for s in category.test[::step][: args.parts]]
    scratch = Path(tempfile.mkdtemp(prefix="runtime-detectors-"))
    os.environ.setdefault("INSPECTOR_ONNX_CACHE", str(scratch / "onnx-cache"))
    load_start = os.getloadavg()[0]
    paths: dict[str, tuple] = {}
    for name in args.detectors:
        params = {"epochs": args.simplenet_epochs} if name == "simplenet" else {}
        set_default_runtime("torch")
        model = fit_model(train, FitSettings(detector=name, detector_params=params, device="cpu")).model
        model.save(scratch / name)
        model = InspectionModel.load(scratch / name)
        exported = None
        if name in TORCH_FREE_DETECTORS:
            exported = ExportedModel.load(export_model(scratch / name, scratch / f"{name}-export"))
        paths[name] = (model, exported)

    def runs(name: str):
        model, exported = paths[name]

        def on(runtime: str):
            def predict(images):
                set_default_runtime(runtime)
                return model.predict(images)

            return predict

        named = [("torch", on("torch")), ("onnx", on("onnx"))]
        if exported is not None:
            named.append(("export", exported.predict))
        return named

    times: dict[tuple[str, str, bool], list[float]] = {}
    for name in args.detectors:  # warm-up: sessions, caches, first-call allocations
        for runtime, predict in runs(name):
            predict(parts[:1])
            predict(parts)
    for _ in range(args.rounds):
        for name in args.detectors:
            for one in (True, False):
                for runtime, predict in runs(name):
                    times.setdefault((name, runtime, one), []).append(per_part(predict, parts, one))
    set_default_runtime("auto")

    print(f"{args.data.name}: fit on {len(train)} good images, {len(parts)} test parts; "
          f"{platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__} eager vs onnxruntime "
          f"{onnxruntime.__version__}; median of {args.rounds} rounds; end to end per part (ms)")
    print(f"\n{'detector':<12} {'batch':>5} {'torch':>8} {'onnx':>8} {'export':>8} {'onnx/torch':>11} {'export/torch':>13}")
    for name in args.detectors:
        for one in (True, False):
            ms = {r: 1000 * float(np.median(times[(name, r, one)])) for r in ("torch", "onnx", "export")
                  if (name, r, one) in times}
            export = f"{ms['export']:>8.1f}" if "export" in ms else f"{'-':>8}"
            export_ratio = f"{ms['torch'] / ms['export']:>12.2f}x" if "export" in ms else f"{'-':>13}"
            print(f"{name:<12} {1 if one else len(parts):>5} {ms['torch']:>8.1f} {ms['onnx']:>8.1f} {export} "
                  f"{ms['torch'] / ms['onnx']:>10.2f}x {export_ratio}")
    print(f"\n(input {paths[args.detectors[0]][0].feature_config.input_shape[0]}x"
          f"{paths[args.detectors[0]][0].feature_config.input_shape[1]}; load average {load_start:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at the end; '-': the detector has no torch-free scoring)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
