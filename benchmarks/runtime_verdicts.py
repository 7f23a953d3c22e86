"""Verdicts on every test image of bottle and KolektorSDD through torch, ONNX Runtime and an export.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/runtime_verdicts.py [--data ../shared/data]
        [--sets bottle kolektorsdd] [--detectors padim] [--train 0]

For each set and detector: a model is fitted (default runtime) on the good training images
(all of them, or the first `--train`), at the default settings (PaDiM, the auto geometry: bottle
224 x 224, KolektorSDD 576 x 224), saved and exported (`--format onnx`). Every test image is then
judged four ways: torch eager, ONNX Runtime (the CPU default), the export without torch
(`ExportedModel`) and the export on the torch path (`load_export`). Prints, per way, the verdict
counts, how many verdicts differ from torch's and the largest relative score difference. The
CI test (tests/realdata/test_runtime_verdicts.py) checks a sample; this checks all of them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector.export_onnx import export_model, load_export  # noqa: E402
from inspector.export_runtime import ExportedModel  # noqa: E402
from inspector.export_scoring import TORCH_FREE_DETECTORS  # noqa: E402
from inspector.features.extractor import set_default_runtime  # noqa: E402
from inspector.io.datasets import load_category  # noqa: E402
from inspector.pipeline import FitSettings, fit_model  # noqa: E402

SETS = {"bottle": Path("mvtec_ad") / "bottle", "kolektorsdd": Path("kolektorsdd")}


def judge_all_ways(model, images: list[np.ndarray], scratch: Path) -> dict[str, list]:
    """Predictions per way: torch, onnx, and the export without torch / on the torch path."""
    set_default_runtime("torch")
    by = {"torch": model.predict(images)}
    set_default_runtime("onnx")
    by["onnx"] = model.predict(images)
    model.save(scratch / "model")
    export = export_model(scratch / "model", scratch / "export")
    if model.detector.name in TORCH_FREE_DETECTORS:
        by["export, no torch"] = ExportedModel.load(export).predict(images)
    by["export, torch path"] = load_export(export).predict(images)
    set_default_runtime("auto")
    return by


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--detectors", nargs="+", default=["padim"])
    parser.add_argument("--train", type=int, default=0, help="first N good training images (0: all)")
    args = parser.parse_args()
    os.environ.setdefault("INSPECTOR_ONNX_CACHE", tempfile.mkdtemp(prefix="runtime-verdicts-cache-"))
    all_identical = True
    for set_name in args.sets:
        category = load_category(args.data / SETS[set_name])
        train_samples = category.train[: args.train] if args.train else category.train
        train = [s.load() for s in train_samples]
        images = [s.load() for s in category.test]
        kinds = Counter("good" if s.defect == "good" else "defective" for s in category.test)
        for detector in args.detectors:
            start = time.perf_counter()
            set_default_runtime("auto")  # the default CPU path fits (faster); inspection is what is compared
            model = fit_model(train, FitSettings(detector=detector, device="cpu")).model
            height, width = model.feature_config.input_shape
            by = judge_all_ways(model, images, Path(tempfile.mkdtemp(prefix=f"runtime-verdicts-{set_name}-")))
            reference = np.array([p.score for p in by["torch"]])
            verdicts = [p.verdict for p in by["torch"]]
            print(f"\n{set_name} {detector} ({height}x{width}): fit on {len(train)} good, "
                  f"{len(images)} test images ({kinds['good']} good, {kinds['defective']} defective), "
                  f"{time.perf_counter() - start:.0f} s")
            print(f"  {'way':<20} {'PASS':>5} {'REVIEW':>6} {'FAIL':>5} {'ERROR':>5} {'verdicts != torch':>18} "
                  f"{'max rel score diff':>19}")
            for way, predictions in by.items():
                counts = Counter(p.verdict for p in predictions)
                differ = sum(p.verdict != v for p, v in zip(predictions, verdicts))
                scores = np.array([p.score for p in predictions])
                rel = float(np.max(np.abs(scores - reference) / np.abs(reference)))
                all_identical &= differ == 0 and counts["ERROR"] == 0
                print(f"  {way:<20} {counts['PASS']:>5} {counts['REVIEW']:>6} {counts['FAIL']:>5} "
                      f"{counts['ERROR']:>5} {differ:>18} {rel:>19.1e}")
    print(f"\nall verdicts identical to torch's, none ERROR: {'yes' if all_identical else 'NO'}")
    return 0 if all_identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
