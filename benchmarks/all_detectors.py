"""Every detector on both development sets, one table (issue 11, "measure generality honestly").

    nice -n 10 .venv/bin/python benchmarks/all_detectors.py [--data PATH ...] [--detectors NAME ...]
        [--image-size N] [--cache DIR] [--out docs/benchmarks/all_detectors]

For each data set and detector this runs the standard evaluation (`evaluation.standard.
evaluate_category`, what `inspector evaluate` runs) at the default geometry: image AUROC, pixel
AUROC, AU-PRO (30 % FPR), the false-reject rate on good test parts and the defect recall at the
working point calibrated on the good training images exactly as `inspector fit` sets it, the fit
time, and the per-image scoring time as a ratio to the backbone's own time per image, measured
in the same process on already decoded test images (timings: ratios inside one run only).

Each finished (data set, detector) cell is appended to `OUT.cells.jsonl` (resumable: a cell
already there is not rerun), and `OUT.md` / `OUT.json` are rewritten from every cell after each
one, so a run stopped at a deadline leaves a table of what finished and names what did not.
Features are encoded once per data set for the union of every detector's layers and cached in
`--cache`, so one detector per process (e.g. under `timeout`) costs no second encoding.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector.detectors.params import DetectorSpec
from inspector.detectors.registry import available_detectors, create_detector
from inspector.evaluation.protocol_common import CellStore
from inspector.evaluation.standard import evaluate_category
from inspector.features.extractor import FeatureConfig, get_extractor
from inspector.features.preprocess import (
    DEFAULT_SHORT_SIDE,
    choose_geometry,
    image_file_shape,
)
from inspector.io.datasets import load_category

DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATA = (DATA / "kolektorsdd", DATA / "mvtec_ad" / "bottle")
ORDER = ("padim", "patchcore", "simplenet", "knn", "mahalanobis", "ocsvm", "iforest", "kde", "lof", "elliptic")
COLUMNS = (("image_auroc", "image AUROC", "{:.3f}"), ("pixel_auroc", "pixel AUROC", "{:.3f}"),
           ("au_pro", "AU-PRO", "{:.3f}"), ("false_reject_rate", "false rejects", "{:.1%}"),
           ("defect_recall", "recall", "{:.1%}"), ("fit_seconds", "fit s", "{:.1f}"),
           ("fit_ratio", "fit / backbone (train set)", "{:.2f}x"), ("score_ratio", "per image / backbone", "{:.2f}x"))


def all_layers() -> tuple[int, ...]:
    """The union of every detector's default layers: one cached encoding serves them all."""
    return tuple(sorted({layer for name in available_detectors() for layer in create_detector(name).layers}))


def backbone_seconds_per_image(category: Any, config: FeatureConfig, layers: tuple[int, ...], n: int = 8) -> float:
    """The backbone's time per image on `n` decoded test images (after one warm-up batch)."""
    images = [sample.load() for sample in category.test[:n]]
    extractor = get_extractor(config, "auto")
    extractor.extract(images[:2], layers)
    started = time.perf_counter()
    extractor.extract(images, layers)
    return (time.perf_counter() - started) / len(images)


def run_cell(data: Path, detector: str, image_size: int, cache: str) -> dict[str, Any]:
    category = load_category(data)
    geometry = choose_geometry([image_file_shape(s.path) for s in category.train], image_size)
    config = FeatureConfig(image_size=image_size, geometry=geometry)
    layers = all_layers()
    spec = DetectorSpec.parse(detector)
    row = evaluate_category(category, [spec], config, device="auto", cache_folder=cache, extra_layers=layers)[0]
    backbone = backbone_seconds_per_image(category, config, layers)
    row.update({"data": category.name, "geometry": list(geometry), "n_train": len(category.train),
                "n_test": len(category.test), "backbone_seconds_per_image": backbone,
                "fit_ratio": row["fit_seconds"] / (backbone * len(category.train)),
                "score_ratio": row["score_seconds_per_image"] / backbone})
    return row


def render(cells: list[dict[str, Any]], expected: list[tuple[str, str]], command: str) -> str:
    lines = ["# Every detector on both development sets (issue 11)", "",
             "Written by `benchmarks/all_detectors.py`; command:", "", f"    {command}", "",
             ("Working point: each detector's default calibration on the good training images "
             "(see README, 'Thresholds from good images only'). Fit time excludes that calibration. "
             "Ratios: to the backbone's time per image measured in the same process (this shared 2-core CPU "
             "was loaded by other jobs, so seconds are upper bounds; ratios and metrics are what to compare)."), "",
             "| data | geometry (h x w) | detector | " + " | ".join(c[1] for c in COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    done = {(c["data"], c["detector_name"]) for c in cells}
    for cell in sorted(cells, key=lambda c: (c["data"], ORDER.index(c["detector_name"]) if c["detector_name"] in ORDER else 99)):
        values = ["-" if cell.get(key) is None else fmt.format(cell[key]) for key, _, fmt in COLUMNS]
        lines.append(f"| {cell['data']} | {cell['geometry'][0]} x {cell['geometry'][1]} | {cell['detector']} | "
                     + " | ".join(values) + " |")
    missing = [f"{d} / {n}" for d, n in expected if (d, n) not in done]
    if missing:
        lines += ["", "**Not measured in this run** (did not finish in the time given, or not run): " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", type=Path, default=list(DEFAULT_DATA))
    parser.add_argument("--detectors", nargs="+", default=list(ORDER), help="names, optionally name:param=value")
    parser.add_argument("--image-size", type=int, default=DEFAULT_SHORT_SIDE, help="short side (default: the app's)")
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "all_detectors"), help="feature cache folder")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "all_detectors")
    parser.add_argument("--expect", nargs="*", default=None,
                        help="detectors the table should list (missing ones are named); default --detectors")
    args = parser.parse_args(argv)
    store = CellStore(args.out.with_suffix(".cells.jsonl"))
    expect_names = args.expect if args.expect is not None else args.detectors
    expected = [(load_category(d).name, DetectorSpec.parse(n).name) for d in args.data for n in expect_names]
    command = "nice -n 10 .venv/bin/python benchmarks/all_detectors.py " + " ".join(sys.argv[1:] if argv is None else argv)
    for data in args.data:
        for detector in args.detectors:
            key = {"data": str(data.name), "detector": detector, "image_size": args.image_size}
            if key in store:
                continue
            print(f"{data.name} / {detector} ...", flush=True)
            row = run_cell(data, detector, args.image_size, args.cache)
            row["detector_name"] = DetectorSpec.parse(detector).name
            store.add(key, row)
            print(json.dumps({k: row[k] for k in ("detector", "image_auroc", "pixel_auroc", "au_pro", "false_reject_rate",
                                                   "defect_recall", "fit_seconds", "score_ratio")}), flush=True)
            cells = store.results()
            args.out.with_suffix(".md").write_text(render(cells, expected, command), encoding="utf-8")
            args.out.with_suffix(".json").write_text(json.dumps(cells, indent=1), encoding="utf-8")
    cells = store.results()
    args.out.with_suffix(".md").write_text(render(cells, expected, command), encoding="utf-8")
    print(render(cells, expected, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
