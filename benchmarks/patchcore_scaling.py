"""PatchCore fit cost at scale, relative to the backbone: chunked greedy coreset, memory-bank budget.

    nice -n 10 .venv/bin/python benchmarks/patchcore_scaling.py [--data PATH] [--real N] [--images N]
        [--geometry auto|square] [--param NAME=VALUE ...]

Times the backbone (the product's default runtime) over `--real` training images, tiles their
features with 5 % Gaussian noise up to `--images` images (the "augmented copies"; stated in the
output), then fits PatchCore (default parameters unless `--param` says otherwise, e.g.
`--param coreset_chunk=0` for the paper's exact greedy) and prints the fit time, the backbone's
time over the same number of images (its measured per-image time x `--images`), their ratio,
where the fit's time went, and the peak memory: extra resident memory during the fit (sampled)
and the process high-water mark (getrusage). Figures only: nothing here asserts on timings.
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
from inspector.detectors.params import parse_assignment  # noqa: E402
from inspector.features.extractor import FeatureConfig, get_extractor  # noqa: E402
from inspector.features.maps import FeatureMaps  # noqa: E402
from inspector.features.preprocess import DEFAULT_SHORT_SIDE, choose_geometry  # noqa: E402
from inspector.types import Reporter  # noqa: E402


def tiled(features: FeatureMaps, n: int, seed: int) -> FeatureMaps:
    """`n` images' features: the real ones repeated, each copy with 5 % Gaussian noise."""
    rng = np.random.default_rng(seed)
    repeats = -(-n // len(next(iter(features.levels.values()))))
    levels = {}
    for layer, array in features.levels.items():
        big = np.concatenate([array] * repeats)[:n]
        levels[layer] = big + rng.normal(0, 0.05 * float(array.std()), big.shape).astype(np.float32)
    return FeatureMaps(levels, features.input_size)


class StageClock:
    """Wall time from the start to the first progress message of each stage of the fit."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: dict[str, float] = {}

    def __call__(self, progress) -> None:
        key = progress.message.split(":")[0] if progress.message.startswith("Coreset") else progress.message
        self.first.setdefault(key, time.perf_counter() - self.start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kolektorsdd")
    parser.add_argument("--real", type=int, default=278, help="real training images through the backbone")
    parser.add_argument("--images", type=int, default=800, help="images' features PatchCore is fitted on")
    parser.add_argument("--image-size", type=int, default=DEFAULT_SHORT_SIDE)
    parser.add_argument("--geometry", choices=("auto", "square"), default="auto",
                        help="auto: the training images' aspect ratio kept (the product default)")
    parser.add_argument("--param", action="append", default=[], help="PatchCore parameter NAME=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    images, _, description = load_images(args.data if args.data.exists() else None, args.real, 0, args.seed)
    params = {"device": "cpu", **dict(parse_assignment(p) for p in args.param)}
    detector = create_detector("patchcore", **params)
    geometry = choose_geometry([im.shape for im in images], args.image_size) if args.geometry == "auto" else None
    extractor = get_extractor(FeatureConfig(image_size=args.image_size, geometry=geometry), device="cpu")
    extractor.extract(images[:extractor.batch_size], detector.layers)  # warm-up
    start = time.perf_counter()
    real = extractor.extract(images, detector.layers)
    per_image = (time.perf_counter() - start) / len(images)
    shape = tuple(int(v) for v in real.input_size)
    print(f"images: {description}; backbone ({extractor.runtime}) {1000 * per_image:.1f} ms/image at "
          f"{shape[0]} x {shape[1]} px (stages {list(detector.layers)})")
    features = tiled(real, args.images, args.seed)
    del real
    print(f"fit set: {args.images} images = the {len(images)} real ones tiled with 5 % noise "
          f"({sum(a.nbytes for a in features.levels.values()) / 2 ** 20:.0f} MiB of backbone features)")
    print(f"PatchCore params: {', '.join(f'{k}={v}' for k, v in params.items()) or 'defaults'}; "
          f"coreset_chunk={detector.coreset_chunk}, max_bank={detector.max_bank}, ratio {detector.coreset_ratio}")
    clock = StageClock()
    with PeakMemory() as memory:
        clock.start = start = time.perf_counter()
        detector.fit(features, Reporter(callback=clock))
        fit_s = time.perf_counter() - start
    backbone_s = per_image * args.images
    bank = len(detector.memory_bank_)
    coreset_start = clock.first.get("Coreset", 0.0)
    index_start = next((t for m, t in clock.first.items() if m.startswith("PatchCore: indexing")), fit_s)
    print(f"PatchCore fit: {detector.n_train_patches_} patches -> {bank} in the bank: {fit_s:.1f} s "
          f"= {fit_s / backbone_s:.2f} x the backbone's {backbone_s:.1f} s over the same {args.images} images")
    print(f"  of which patch features {coreset_start:.1f} s, coreset {index_start - coreset_start:.1f} s, "
          f"faiss index {fit_s - index_start:.1f} s")
    print(f"peak extra resident memory during fit {_mib(memory.extra)} MiB; process high-water mark "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
