"""PatchCore fit cost at scale, relative to the backbone: greedy coreset with a memory-bank budget.

    nice -n 10 .venv/bin/python benchmarks/patchcore_scaling.py [--data PATH] [--real N] [--images N]

Extracts backbone features of `--real` training images (timed: the backbone's cost per image),
tiles them with a little noise up to `--images` images (the "augmented copies"; stated in the
output), then fits PatchCore (greedy coreset, ratio 0.1, capped at `max_bank`) and prints the fit
time, its ratio to the backbone time over the same number of images, the greedy picks per second,
and the peak memory (resident, sampled; and the process high-water mark from getrusage).
Figures only: nothing here asserts on timings.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.benchmark import PeakMemory, _mib, load_images  # noqa: E402
from inspector.detectors import create_detector  # noqa: E402
from inspector.features.extractor import FeatureConfig, FeatureExtractor  # noqa: E402
from inspector.features.maps import FeatureMaps  # noqa: E402


def tiled(features: FeatureMaps, n: int, seed: int) -> FeatureMaps:
    """`n` images' features: the real ones repeated, each copy with 5 % Gaussian noise."""
    rng = np.random.default_rng(seed)
    repeats = -(-n // len(next(iter(features.levels.values()))))
    levels = {}
    for layer, array in features.levels.items():
        big = np.concatenate([array] * repeats)[:n]
        levels[layer] = big + rng.normal(0, 0.05 * float(array.std()), big.shape).astype(np.float32)
    return FeatureMaps(levels, features.input_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kolektorsdd")
    parser.add_argument("--real", type=int, default=40, help="real training images through the backbone")
    parser.add_argument("--images", type=int, default=800, help="images' features PatchCore is fitted on")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--max-bank", type=int, default=None, help="PatchCore max_bank (default: the detector's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    images, _, description = load_images(args.data if args.data.exists() else None, args.real, 0, args.seed)
    params = {"device": "cpu"} if args.max_bank is None else {"device": "cpu", "max_bank": args.max_bank}
    detector = create_detector("patchcore", **params)
    extractor = FeatureExtractor(FeatureConfig(image_size=args.image_size), device="cpu")
    extractor.extract(images[:extractor.batch_size], detector.layers)  # warm-up
    start = time.perf_counter()
    real = extractor.extract(images, detector.layers)
    per_image = (time.perf_counter() - start) / len(images)
    print(f"images: {description}; backbone {1000 * per_image:.1f} ms/image at {args.image_size} px "
          f"(stages {list(detector.layers)})")
    features = tiled(real, args.images, args.seed)
    print(f"fit set: {args.images} images = the {len(images)} real ones tiled with 5 % noise "
          f"({sum(a.nbytes for a in features.levels.values()) / 2 ** 20:.0f} MiB of backbone features)")
    with PeakMemory() as memory:
        start = time.perf_counter()
        detector.fit(features)
        fit_s = time.perf_counter() - start
    backbone_s = per_image * args.images
    bank = len(detector.memory_bank_)
    print(f"PatchCore fit: {detector.n_train_patches_} patches -> {bank} in the bank "
          f"(ratio {detector.coreset_ratio}, max_bank {detector.max_bank}): {fit_s:.1f} s "
          f"= {fit_s / backbone_s:.2f} x the backbone's {backbone_s:.1f} s over the same {args.images} images; "
          f"{bank / fit_s:.0f} picks/s (whole fit)")
    print(f"peak extra resident memory during fit {_mib(memory.extra)} MiB; process high-water mark "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
