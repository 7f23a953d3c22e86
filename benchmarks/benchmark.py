"""Detector cost relative to the backbone: fit and per-image scoring time as ratios.

    .venv/bin/python benchmarks/benchmark.py [--data PATH] [--detectors ...] [--n-train N]

Times the backbone forward pass per image (all stages any listed detector needs, images already
decoded), then for each detector its fit time on the training features and its scoring time per
test image, and prints both as ratios to the backbone's time on the same images, with the peak
extra resident memory of each fit. Without a dataset (or with --synthetic) it uses generated
images. Figures only: nothing here asserts on timings.

glibc's allocator returns large blocks to the OS after every batch, so each forward pass pays
page faults again; these settings keep the memory and cut the EfficientNet-Lite0 forward time a
lot on Linux (the script prints whether they are set):

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=1073741824

`--memory-images N` also fits PatchCore on N training images' features (the real training
features repeated with a little noise) and reports the fit time and peak memory.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from inspector.detectors import create_detector  # noqa: E402
from inspector.features.extractor import FeatureConfig, FeatureExtractor  # noqa: E402
from inspector.features.maps import FeatureMaps  # noqa: E402

MALLOC_VARS = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "17179869184",
               "MALLOC_TOP_PAD_": "1073741824"}
DEFAULT_DETECTORS = ("knn", "mahalanobis", "padim", "patchcore", "simplenet",
                     "ocsvm", "iforest", "kde", "lof", "elliptic")
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mvtec_ad" / "bottle"


# -- memory -----------------------------------------------------------------------------------
def _rss_bytes() -> Optional[int]:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


class PeakMemory:
    """Samples the resident set size every few milliseconds; `.extra` = peak - start (bytes)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _rss_bytes()
            if rss is not None and self.peak is not None:
                self.peak = max(self.peak, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        rss = _rss_bytes()
        if rss is not None and self.peak is not None:
            self.peak = max(self.peak, rss)

    @property
    def extra(self) -> Optional[int]:
        return None if self.start is None or self.peak is None else self.peak - self.start


def _mib(value: Optional[int]) -> str:
    return "n/a" if value is None else f"{value / 2 ** 20:.0f}"


# -- data -------------------------------------------------------------------------------------
def synthetic_images(n: int, seed: int, size: int = 256, defect: bool = False) -> list[np.ndarray]:
    """Grey discs with pose/lighting jitter; a defect is a dark blotch (same idea as the tests)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = []
    for _ in range(n):
        cx, cy = size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < (0.35 * size) ** 2
        image = np.full((size, size, 3), 30.0, np.float32)
        image[disc] = (150 + 40 * (xx - cx) / size + rng.normal(0, 3))[disc, None]
        if defect:
            dx, dy = rng.uniform(-0.15 * size, 0.15 * size, 2)
            image[(xx - cx - dx) ** 2 + (yy - cy - dy) ** 2 < (0.06 * size) ** 2] = 60.0
        image += rng.normal(0, 2, image.shape)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def load_images(data: Optional[Path], n_train: int, n_test: int, seed: int) -> tuple[list, list, str]:
    if data is not None and (data / "train" / "good").is_dir():
        from inspector.io.datasets import load_category

        category = load_category(data)
        rng = np.random.default_rng(seed)
        train = category.train[:n_train]
        test = [category.test[i] for i in sorted(rng.permutation(len(category.test))[:n_test])]
        return [s.load() for s in train], [s.load() for s in test], f"{data} ({len(train)} train, {len(test)} test)"
    half = n_test // 2
    return (synthetic_images(n_train, seed), synthetic_images(n_test - half, seed + 1) +
            synthetic_images(half, seed + 2, defect=True), f"synthetic ({n_train} train, {n_test} test)")


# -- timing -----------------------------------------------------------------------------------
def timed(fn: Callable[[], object], repeats: int = 1) -> tuple[float, object]:
    """Best wall time of `repeats` runs (and the last result)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MVTec-style category (default: shared bottle)")
    parser.add_argument("--synthetic", action="store_true", help="use generated images even if --data exists")
    parser.add_argument("--detectors", nargs="+", default=list(DEFAULT_DETECTORS),
                        help="names, optionally name:key=value,key=value (e.g. patchcore:index=ivfflat)")
    parser.add_argument("--n-train", type=int, default=209)
    parser.add_argument("--n-test", type=int, default=40)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (backbone and torch detectors)")
    parser.add_argument("--repeats", type=int, default=2, help="forward / scoring repeats (best is kept)")
    parser.add_argument("--memory-images", type=int, default=0,
                        help="also fit PatchCore on this many images' features and report its peak memory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    set_vars = [name for name in MALLOC_VARS if os.environ.get(name) == MALLOC_VARS[name]]
    print(f"malloc settings: {'all set' if len(set_vars) == len(MALLOC_VARS) else 'NOT set' if not set_vars else 'partly set: ' + ', '.join(set_vars)}"
          f"  ({' '.join(f'{k}={v}' for k, v in MALLOC_VARS.items())})")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, cuda available: {torch.cuda.is_available()}")

    data = None if args.synthetic or not args.data.exists() else args.data
    train_images, test_images, description = load_images(data, args.n_train, args.n_test, args.seed)
    print(f"images: {description}, input {args.image_size} px, device {args.device}")

    specs = []
    for spec in args.detectors:
        name, _, rest = spec.partition(":")
        params = {}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            try:
                params[key] = int(value)
            except ValueError:
                try:
                    params[key] = float(value)
                except ValueError:
                    params[key] = value
        if name in ("patchcore", "simplenet"):
            params.setdefault("device", args.device if args.device != "auto" else "auto")
        specs.append((spec, create_detector(name, **params)))
    layers = sorted({layer for _, detector in specs for layer in detector.layers})

    extractor = FeatureExtractor(FeatureConfig(image_size=args.image_size), device=args.device)
    extractor.extract(train_images[:extractor.batch_size], layers)  # warm-up
    fwd_train, train = timed(lambda: extractor.extract(train_images, layers), args.repeats)
    fwd_test, test = timed(lambda: extractor.extract(test_images, layers), args.repeats)
    per_image = (fwd_train + fwd_test) / (len(train_images) + len(test_images))
    print(f"backbone forward (stages {layers}): {1000 * per_image:.1f} ms/image "
          f"({fwd_train:.2f} s for the {len(train_images)} training images)")
    labels = None
    if data is not None:
        from inspector.io.datasets import load_category

        category = load_category(data)
        rng = np.random.default_rng(args.seed)
        picked = sorted(rng.permutation(len(category.test))[:args.n_test])
        labels = np.array([category.test[i].label for i in picked])
    else:
        labels = np.array([0] * (args.n_test - args.n_test // 2) + [1] * (args.n_test // 2))

    # The forward each detector really needs stops at its deepest stage: time that too.
    own_forward: dict[tuple[int, ...], float] = {}
    for _, detector in specs:
        stages = tuple(sorted(detector.layers))
        if stages not in own_forward:
            seconds, _ = timed(lambda: extractor.extract(train_images + test_images, stages), args.repeats)
            own_forward[stages] = seconds / (len(train_images) + len(test_images))
            print(f"backbone forward to stage {max(stages)} (stages {list(stages)}): "
                  f"{1000 * own_forward[stages]:.1f} ms/image")

    print("ratios: /fwd = to the forward through all stages above; /own = to the forward the detector needs")
    header = (f"{'detector':<28} {'fit s':>7} {'fit/fwd':>8} {'fit/own':>8} {'score ms/img':>12} {'score/fwd':>9} "
              f"{'score/own':>9} {'fit peak MiB':>12} {'AUROC':>6}")
    print(header)
    print("-" * len(header))
    for spec, detector in specs:
        own = own_forward[tuple(sorted(detector.layers))]
        with PeakMemory() as memory:
            fit_s, _ = timed(lambda: detector.fit(train))
        score_s, result = timed(lambda: detector.score(test), args.repeats)
        score_per_image = score_s / len(test)
        auroc = "n/a"
        if len(np.unique(labels)) == 2:
            from sklearn.metrics import roc_auc_score

            auroc = f"{roc_auc_score(labels, result.image_scores):.3f}"
        print(f"{spec:<28} {fit_s:>7.2f} {fit_s / fwd_train:>8.3f} {fit_s / (own * len(train_images)):>8.3f} "
              f"{1000 * score_per_image:>12.2f} {score_per_image / per_image:>9.3f} {score_per_image / own:>9.3f} "
              f"{_mib(memory.extra):>12} {auroc:>6}", flush=True)
    print("fit peak MiB = resident memory above the level before the fit; with the malloc settings freed memory is "
          "kept and reused, so run a single detector for a clean figure (see --memory-images).")

    if args.memory_images:
        n = args.memory_images
        repeats = -(-n // len(train))
        rng = np.random.default_rng(args.seed)
        levels = {}
        for layer, array in train.levels.items():
            tiled = np.concatenate([array] * repeats)[:n]
            levels[layer] = tiled + rng.normal(0, 0.05 * float(array.std()), tiled.shape).astype(np.float32)
        big = FeatureMaps(levels, train.input_size)
        size_mib = sum(a.nbytes for a in big.levels.values()) / 2 ** 20
        detector = create_detector("patchcore", device=args.device)
        with PeakMemory() as memory:
            fit_s, _ = timed(lambda: detector.fit(big))
        print(f"PatchCore on {n} images ({size_mib:.0f} MiB of backbone features, "
              f"{detector.n_train_patches_} patches -> {len(detector.memory_bank_)} in the memory bank): "
              f"fit {fit_s:.1f} s, peak extra memory {_mib(memory.extra)} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
