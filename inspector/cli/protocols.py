"""`inspector evaluate --protocol lowdata|pollution`: the seeds' protocols from the command line.

`add_protocol_arguments(parser)` adds the options to an existing `evaluate` parser (options the
parser already has, such as --policy or --out, are left as they are); `run_protocol(args)`
runs the chosen protocol with a tqdm progress bar (inspector.cli.progress). `python -m inspector.cli.protocols DATASET
--protocol lowdata ...` runs the same without the main CLI.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from inspector.types import InspectorError, Reporter

PROTOCOLS = ("standard", "lowdata", "pollution")
DEFAULT_DETECTORS = ("mahalanobis", "knn", "padim")


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the protocol options (skipping any flag the parser already defines)."""
    group = parser.add_argument_group("evaluation protocols (seeds 000 and 001)")
    flags = {a for action in parser._actions for a in action.option_strings}  # noqa: SLF001

    def add(flag: str, *aliases: str, **kwargs: Any) -> None:
        if flag not in flags:
            group.add_argument(flag, *aliases, **kwargs)

    add("--protocol", choices=PROTOCOLS, default="standard",
        help="standard: one fit on the training set; lowdata: AUROC vs number of training images (Gutierrez et al. 2021 low-data protocol); "
             "pollution: robustness to defective training images and SROC refinement (Cordier et al. pollution protocol)")
    add("--detector", nargs="+", metavar="NAME[:key=value...]", default=list(DEFAULT_DETECTORS),
        help=f"detectors to compare (default: {' '.join(DEFAULT_DETECTORS)}); e.g. mahalanobis:covariance=empirical")
    add("--param", action="append", default=[], metavar="NAME=VALUE",
        help="detector parameter given to every detector (repeatable)")
    add("--sizes", default=None, metavar="LIST",
        help="lowdata: training-set sizes, e.g. '5:50:5' or '5,10,20' (default 5..50 by 5, then by 10, up to all)")
    add("--replicates", type=int, default=5, metavar="M", help="random draws per size / pollution seed (default 5)")
    add("--ratios", default="0:0.2:0.05", metavar="LIST", help="pollution: pollution ratios (default 0:0.2:0.05)")
    add("--refinement-ratios", default="0,0.1,0.2,0.3,0.4", metavar="LIST",
        help="pollution: refinement ratios at --refinement-pollution (default 0,0.1,0.2,0.3,0.4)")
    add("--refinement-methods", default="sroc,random,cross_validation,stoc", metavar="LIST",
        help="pollution: refinement strategies (default: sroc,random,cross_validation,stoc)")
    add("--refinement-pollution", type=float, default=0.2, metavar="RATIO",
        help="pollution: pollution ratio at which refinement is compared (default 0.2)")
    add("--refine-detector", default=None, metavar="NAME",
        help="pollution: refine with this detector for every final detector (Cordier et al., App. B: mahalanobis); "
             "default: each detector refines for itself")
    add("--splits", type=int, default=5, metavar="S", help="pollution: splits of cross-validation and STOC (default 5)")
    add("--cache", default=None, metavar="DIR",
        help="where encoded features are cached (default: OUT/cache); reused when a sweep is resumed")
    add("--out", default=None, metavar="DIR",
        help="output folder for CSV, PNG and the resumable cells.jsonl (default: results/<category>-<protocol>)")
    add("--quiet", "-q", action="store_true", help="no progress bar")
    add("--policy", default=None, metavar="FILE|PRESET", help="augmentation policy: preset name or JSON file")
    add("--aug-factor", default="0", metavar="N", help="augmented copies per image (e.g. 10 or x10); lowdata "
                                                      "runs with and without it")
    add("--seed", type=int, default=0, help="random seed (default 0)")
    add("--backbone", default=None, help="feature extractor (default efficientnet_lite0)")
    add("--image-size", type=int, default=None, help="backbone input size (default 224)")
    add("--device", default="auto", help="auto, cpu or cuda")
    add("--workers", type=int, default=1, metavar="N",
        help="lowdata: run cells in N local worker processes (default 1: in this process)")
    add("--scheduler", default=None, metavar="tcp://HOST:PORT",
        help="lowdata: run cells on this Dask scheduler (default: $INSPECTOR_DASK_SCHEDULER, else local)")


def _dataset_of(args: argparse.Namespace) -> Path:
    for name in ("dataset", "category", "data", "folder", "path"):
        value = getattr(args, name, None)
        if value:
            return Path(value)
    raise InspectorError("No dataset folder given (an MVTec-style category with train/good and test/).")


def _feature_config(args: argparse.Namespace):
    from inspector.features.extractor import FeatureConfig

    default = FeatureConfig()
    return FeatureConfig(getattr(args, "backbone", None) or default.backbone,
                         int(getattr(args, "image_size", None) or default.image_size),
                         getattr(args, "weights", None) or getattr(args, "weights_file", None))


_ALIASES = {"mahalanobis-empirical": "mahalanobis:covariance=empirical",
            "mahalanobis-ledoit": "mahalanobis:covariance=ledoit"}


def _detectors_of(args: argparse.Namespace):
    """--detector NAME[:key=value...] ... (space or comma separated), plus --param for every one."""
    from inspector.detectors.params import parse_assignment
    from inspector.evaluation.protocol_common import DetectorSpec

    chosen = getattr(args, "detector", None) or list(DEFAULT_DETECTORS)
    if isinstance(chosen, str):
        chosen = [chosen]
    common = []
    for item in getattr(args, "param", None) or []:
        common.append(item if isinstance(item, tuple) else parse_assignment(str(item)))
    specs = []
    for item in chosen:
        for text in (t.strip() for t in str(item).split(",")):
            if not text:
                continue
            spec = DetectorSpec.parse(_ALIASES.get(text, text))
            if common:
                merged = {**dict(common), **spec.kwargs}
                spec = DetectorSpec(spec.name, tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                                            for k, v in merged.items())))
            specs.append(spec)
    return specs


def _executor_of(args: argparse.Namespace):
    from inspector.evaluation.executor import ExecutorSettings

    workers = int(getattr(args, "workers", 1) or 1)
    if workers < 1:
        raise InspectorError(f"--workers must be at least 1, not {workers}.")
    scheduler = getattr(args, "scheduler", None)
    if scheduler and "://" not in scheduler:
        raise InspectorError(f"--scheduler wants an address like tcp://host:8786, not '{scheduler}'.")
    return ExecutorSettings(workers=workers, scheduler=scheduler)


def run_protocol(args: argparse.Namespace, reporter: Optional[Reporter] = None) -> int:
    """Run `args.protocol`; prints a short summary and the output files. Returns an exit code."""
    from inspector.augment.engine import parse_factor
    from inspector.augment.policy import load_policy
    from inspector.evaluation.lowdata import run_low_data
    from inspector.evaluation.pollution import run_pollution
    from inspector.evaluation.protocol_common import parse_number_list

    protocol = getattr(args, "protocol", "standard")
    if protocol == "standard":
        raise InspectorError("run_protocol handles --protocol lowdata or pollution; 'standard' is `evaluate` itself.")
    from inspector.cli.progress import StageProgressBar

    dataset = _dataset_of(args)
    out = Path(getattr(args, "out", None) or Path("results") / f"{dataset.name}-{protocol}")
    if out.suffix.lower() in (".csv", ".json"):
        raise InspectorError(f"With --protocol {protocol}, --out is a folder (CSV, PNG and cells.jsonl go in it), "
                             f"not a file: {out}")
    cache = getattr(args, "cache", None) or "auto"
    progress = None if reporter is not None else StageProgressBar(not getattr(args, "quiet", False))
    bar = reporter or progress.reporter()  # type: ignore[union-attr]
    common = dict(detectors=_detectors_of(args), feature_config=_feature_config(args), reporter=bar,
                  seed=int(getattr(args, "seed", 0) or 0), device=getattr(args, "device", "auto") or "auto",
                  cache_dir=cache)
    try:
        if protocol == "lowdata":
            policy_spec = getattr(args, "policy", None)
            policy = load_policy(policy_spec) if policy_spec else None
            factor = parse_factor(getattr(args, "aug_factor", 0) or 0)
            if policy is not None and factor == 0:
                factor = 10  # a policy without a factor: seed 000's x10
                print("Augmentation factor not given: using x10 (as Gutierrez et al. 2021).", file=sys.stderr)
            sizes = getattr(args, "sizes", None)
            result = run_low_data(dataset, out, sizes=parse_number_list(sizes, integer=True) if sizes else None,
                                  replicates=int(getattr(args, "replicates", 5)), policy=policy, aug_factor=factor,
                                  executor=_executor_of(args), **common)
            print(_format_table(result.areas, ["detector", "factor", "area_under_auc_percent",
                                               "normalised_area_under_auc_percent"]))
        elif protocol == "pollution":
            result = run_pollution(
                dataset, out, ratios=parse_number_list(getattr(args, "ratios", "0:0.2:0.05")),
                refinement_ratios=parse_number_list(getattr(args, "refinement_ratios", "0,0.1,0.2,0.3,0.4")),
                refinement_methods=[m.strip() for m in str(getattr(args, "refinement_methods",
                                                                    "sroc,random,cross_validation,stoc")).split(",")
                                    if m.strip()],
                refinement_pollution=float(getattr(args, "refinement_pollution", 0.2)),
                refine_detector=getattr(args, "refine_detector", None),
                replicates=int(getattr(args, "replicates", 5)), splits=int(getattr(args, "splits", 5)), **common)
            print(_format_table(result.robustness, ["detector", "pollution", "auroc_mean", "au_pro_mean",
                                                     "au_iou_mean"]))
            print(_format_table(result.refinement, ["detector", "method", "refinement", "auroc_mean", "au_pro_mean",
                                                    "precision_mean", "recall_mean", "f1_mean"]))
        else:
            raise InspectorError(f"Unknown protocol '{protocol}'; use one of {', '.join(PROTOCOLS)}.")
    finally:
        if progress is not None:
            progress.close()
    print("Wrote:\n  " + "\n  ".join(str(p) for p in result.files))
    return 0


def _format_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if value != value else f"{value:.3f}"
        return str(value)

    table = [list(columns)] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in table)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inspector.cli.protocols",
                                     description="Run Inspector's evaluation protocols on an MVTec-style category.")
    parser.add_argument("dataset", help="MVTec-style category folder (train/good, test/, ground_truth/)")
    add_protocol_arguments(parser)
    args = parser.parse_args(argv)
    if args.protocol == "standard":
        parser.error("choose --protocol lowdata or pollution")
    try:
        return run_protocol(args)
    except InspectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
