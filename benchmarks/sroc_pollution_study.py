"""SROC on a polluted training set, many rankers, from cached features (issue 11: refinement that finds
the bad images). Per replicate, the pollution protocol's own split (inspector.evaluation.pollution) at
`--ratio`; each strategy ranks the polluted training set once and is cut at refinement ratio = the
pollution ratio. Writes one JSON line per (strategy, replicate) with every image's score, so misses can
be inspected, and a summary table.

    nice -n 10 python benchmarks/sroc_pollution_study.py ../shared/data/kolektorsdd --ratio 0.122 \
        --out docs/benchmarks/kolektorsdd-pollution/study.jsonl --strategies sroc:padim cv:padim
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


from inspector.detectors.params import DetectorSpec
from inspector.evaluation.pollution import pollution_set_size, polluted_split
from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.maps import FeatureMaps
from inspector.features.preprocess import DEFAULT_SHORT_SIDE, choose_geometry, image_file_shape
from inspector.io.datasets import load_category
from inspector.refine.sroc import refine, refinement_prf
from inspector.types import Reporter

LAYERS = (2, 3, 4, 5, 6)  # every stage a ranker below reads: one cached encoding serves them all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--ratio", type=float, required=True, help="pollution ratio = refinement ratio")
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", required=True,
                        help="METHOD:DETECTOR[:key=value...], METHOD one of inspector.refine.sroc.METHODS")
    parser.add_argument("--short-side", type=int, default=DEFAULT_SHORT_SIDE)
    parser.add_argument("--cache", default=os.environ.get("STUDY_CACHE", "/tmp/pollution/cache"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    category = load_category(args.dataset)
    geometry = choose_geometry([image_file_shape(s.path) for s in category.train], args.short_side)
    config = FeatureConfig(image_size=args.short_side, geometry=geometry)
    encoder = FeatureEncoder(category, config, LAYERS, FeatureCache(args.cache), "cpu", Reporter())
    train, test = encoder.encode("train", category.train), encoder.encode("test", category.test)
    size = pollution_set_size(category, [args.ratio])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {(r["strategy"], r["replicate"]) for r in map(json.loads, out.read_text().splitlines())}
    print(f"{category.name}: {len(category.train)} train, geometry {geometry}, ratio {args.ratio:g}, "
          f"pollution set {size}", flush=True)
    for replicate in range(args.replicates):
        split = polluted_split(category, args.ratio, replicate, 0, size)
        features = FeatureMaps.concatenate([train.subset(split.healthy), test.subset(split.polluting)])
        names = [category.train[i].path.name for i in split.healthy] + \
                [f"{category.test[i].defect}/{category.test[i].path.name}" for i in split.polluting]
        for strategy in args.strategies:
            if (strategy, replicate) in done:
                continue
            method, _, detector = strategy.partition(":")
            spec = DetectorSpec.parse(detector)
            start = time.perf_counter()
            ranking = refine(method, features, args.ratio, spec.name, spec.kwargs, s=5, seed=replicate)
            seconds = time.perf_counter() - start
            precision, recall, f1 = refinement_prf(ranking.flagged, split.is_polluted)
            row = {"strategy": strategy, "replicate": replicate, "ratio": args.ratio, "precision": precision,
                   "recall": recall, "f1": f1, "seconds": seconds, "n_polluted": int(split.is_polluted.sum()),
                   "scores": ranking.scores.tolist(), "is_polluted": split.is_polluted.tolist(), "names": names}
            with open(out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"{strategy:40s} #{replicate}: P {precision:.3f} R {recall:.3f} ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
