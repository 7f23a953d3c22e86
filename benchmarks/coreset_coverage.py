"""What the chunked coreset costs in coverage on real patch features, against the paper's greedy.

    nice -n 10 .venv/bin/python benchmarks/coreset_coverage.py [--data PATH] [--images N] [--ratio R]

Patch features (PatchCore's defaults) of the first `--images` training images; a `--ratio`
coreset by the exact greedy (coreset_chunk=0, the paper's), by the chunked greedy at several chunk
sizes and at random; for each, the covering radius (largest distance from a patch to its nearest
coreset patch, the minimax objective the greedy approximates), the mean such distance, and the time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.benchmark import load_images  # noqa: E402
from inspector.detectors import create_detector  # noqa: E402
from inspector.detectors.coreset import chunked_greedy_coreset, coreset_size, greedy_coreset, random_coreset  # noqa: E402
from inspector.detectors.patch_features import patch_features  # noqa: E402
from inspector.features.extractor import FeatureConfig, get_extractor  # noqa: E402


def nearest_distances(points: torch.Tensor, selected: np.ndarray) -> torch.Tensor:
    centres = points[torch.from_numpy(selected)]
    return torch.cat([torch.cdist(points[s:s + 4096], centres).min(1).values for s in range(0, len(points), 4096)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "mvtec_ad" / "bottle")
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--ratio", type=float, default=0.1)
    parser.add_argument("--chunks", type=int, nargs="+", default=[2048, 4096, 8192])
    args = parser.parse_args(argv)
    images, _, description = load_images(args.data, args.images, 0, 0)
    detector = create_detector("patchcore", device="cpu")
    features = get_extractor(FeatureConfig(), device="cpu").extract(images, detector.layers)
    patches, _ = patch_features(features, detector.layers, detector.feature_dim)
    k = coreset_size(len(patches), args.ratio)
    print(f"{description}: {len(patches)} patches of {patches.shape[1]} dims at 224 x 224, coreset of {k}")
    points = torch.from_numpy(patches)
    runs = [("exact greedy (coreset_chunk=0, the paper's)", lambda: greedy_coreset(patches, k))]
    runs += [(f"chunked greedy, coreset_chunk={c} ({-(-len(patches) // c)} chunks)",
              lambda c=c: chunked_greedy_coreset(patches, k, chunk_size=c)) for c in args.chunks]
    runs.append(("random", lambda: random_coreset(len(patches), k)))
    reference = None
    for label, run in runs:
        start = time.perf_counter()
        selected = run()
        seconds = time.perf_counter() - start
        d = nearest_distances(points, selected)
        radius = float(d.max())
        reference = reference or radius
        print(f"{label:55s} covering radius {radius:.3f} ({radius / reference:.2f} x exact), "
              f"mean distance {float(d.mean()):.3f}, {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
