"""Tiling against the default aspect-kept geometry on one MVTec-layout class (issue 11, KolektorSDD).

    nice -n 10 python benchmarks/kolektorsdd_tiling.py ../shared/data/kolektorsdd --tile-size 250 \
        --out docs/benchmarks/kolektorsdd-tiling.json

Fits one detector (PaDiM by default, its default parameters) twice through the product's own
preprocessing records: `auto` (preprocessing v2, the training images' aspect kept at short side 224)
and `tiles` (v3: overlapping tiles of `--tile-size` source pixels, each at 224). Both runs' maps are
brought to the same frame, half the training images' median size, with the product's own
`map_to_image` (tiled maps stitched, overlaps averaged), and the masks are read at that frame, so the
pixel metrics compare like with like. The working point is the product's: mean + 3 sigma of
cross-validated good training scores (`pipeline.nominal_scores`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector.detectors.registry import create_detector  # noqa: E402
from inspector.evaluation.metrics import au_pro, image_auroc, pixel_auroc, working_point_rates  # noqa: E402
from inspector.features.extractor import get_extractor  # noqa: E402
from inspector.features.preprocess import PREPROCESSING_V2, image_file_shape, resolve_preprocessing  # noqa: E402
from inspector.features.tiling import PREPROCESSING_V3, map_to_image  # noqa: E402
from inspector.io.datasets import load_category  # noqa: E402
from inspector.pipeline import FitSettings, nominal_scores  # noqa: E402
from inspector.threshold import calibrate  # noqa: E402
from inspector.types import Reporter  # noqa: E402


def run(category, record: dict, detector_name: str, short_side: int, frame: tuple[int, int]) -> dict:
    shapes = [image_file_shape(s.path) for s in category.train]
    record = resolve_preprocessing(record, shapes, short_side)
    settings = FitSettings(detector=detector_name, image_size=short_side, preprocessing=record, device="cpu")
    config = settings.feature_config()
    detector = create_detector(detector_name)
    extractor = get_extractor(config, "cpu")
    started = time.perf_counter()
    train = extractor.extract((s.load() for s in category.train), detector.layers, total=len(category.train))
    test = extractor.extract((s.load() for s in category.test), detector.layers, total=len(category.test))
    encode = time.perf_counter() - started
    t0 = time.perf_counter()
    detector.fit(train)
    fit = time.perf_counter() - t0
    result = detector.score(test)
    nominal, _source = nominal_scores(settings, detector, train, None, Reporter(None))
    working_point = calibrate(nominal, settings.calibration, settings.calibration_parameter)
    labels = category.test_labels
    maps = np.stack([map_to_image(m, config.tiles, frame) for m in result.maps])
    masks = np.stack([s.load_mask(frame) for s in category.test])
    layout = config.tiles.describe() if config.tiles is not None else \
        f"{config.input_shape[0]} x {config.input_shape[1]} px"
    return {"geometry": record["aspect"], "input": layout, "image_auroc": image_auroc(labels, result.image_scores),
            "pixel_auroc": pixel_auroc(masks, maps), "au_pro": au_pro(masks, maps, 0.3),
            "working_point": float(working_point), **working_point_rates(labels, result.image_scores, working_point),
            "encode_seconds": encode, "fit_seconds": fit, "preprocessing": record}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--detector", default="padim")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--tile-size", type=int, default=None, help="tile side in source pixels (default: automatic)")
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--only", choices=("auto", "tiles"), default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    category = load_category(args.dataset)
    shapes = np.asarray([image_file_shape(s.path) for s in category.train])
    frame = tuple(int(v) // 2 for v in np.median(shapes, axis=0))
    records = {"auto": dict(PREPROCESSING_V2),
               "tiles": {**PREPROCESSING_V3, "tile_size": args.tile_size, "overlap": args.overlap}}
    print(f"{category.name}: {len(category.train)} train, {len(category.test)} test images "
          f"({int(category.test_labels.sum())} defective); pixel metrics at {frame[0]} x {frame[1]} px", flush=True)
    rows = []
    for name, record in records.items():
        if args.only and name != args.only:
            continue
        row = run(category, record, args.detector, args.image_size, frame)
        rows.append(row)
        print(f"{args.detector} {name:5s} {row['input']}: image AUROC {row['image_auroc']:.4f}  pixel AUROC "
              f"{row['pixel_auroc']:.4f}  AU-PRO {row['au_pro']:.4f}  false rejects {row['false_reject_rate']:.1%}  "
              f"recall {row['defect_recall']:.1%}  encode {row['encode_seconds']:.0f} s  fit {row['fit_seconds']:.1f} s",
              flush=True)
    if args.out:
        args.out.write_text(json.dumps({"dataset": str(args.dataset), "detector": args.detector, "frame": frame,
                                        "rows": rows}, indent=1))
        print("Results written to", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
