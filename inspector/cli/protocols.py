"""`inspector evaluate --protocol lowdata|pollution`: the papers' protocols from the command line.

`add_protocol_arguments(parser)` adds the protocol options to the `evaluate` parser (which already
has the model, policy and output options); `run_protocol(args)` runs the chosen protocol on that
parser's arguments with a progress bar (inspector.cli.progress).
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
    """Add the protocol options to the `evaluate` parser (model, policy and output options are its own)."""
    group = parser.add_argument_group("evaluation protocols (Gutierrez et al. 2021; Cordier et al.)")
    add = group.add_argument
    add("--protocol", choices=PROTOCOLS, default="standard",
        help="standard: one fit on the training set; lowdata: AUROC vs number of training images (Gutierrez et al. "
             "2021 low-data protocol); pollution: robustness to defective training images and SROC refinement "
             "(Cordier et al. pollution protocol). With a protocol, --out is a folder (CSV, PNG, resumable cells.jsonl; "
             "default results/<category>-<protocol>) and lowdata runs with and without --aug-factor")
    add("--sizes", default=None, metavar="LIST",
        help="lowdata: training-set sizes, e.g. '5:50:5' or '5,10,20' (default 5..50 by 5, then by 10, up to all)")
    add("--replicates", type=int, default=5, metavar="M", help="random draws per size / pollution seed (default 5)")
    add("--ratios", default="0:0.2:0.05", metavar="LIST", help="pollution: pollution ratios (default 0:0.2:0.05)")
    add("--refinement-ratios", default="0,0.1,0.2,0.3,0.4", metavar="LIST",
        help="pollution: refinement ratios at --refinement-pollution (default 0,0.1,0.2,0.3,0.4)")
    add("--refinement-methods", default="sroc,sroc_iterative,random,cross_validation,stoc", metavar="LIST",
        help="pollution: refinement strategies (default: sroc,sroc_iterative,random,cross_validation,stoc; "
             "sroc is Cordier et al.'s one fit, sroc_iterative refits 3 rounds without what the last flagged)")
    add("--refinement-pollution", type=float, default=None, metavar="RATIO",
        help="pollution: pollution ratio at which refinement is compared (default: the largest of --ratios). The "
             "pollution set is sized from the largest ratio asked for; a third of the defective test images stay for "
             "evaluation, and a larger ratio is refused with the largest one the category allows")
    add("--refine-detector", default=None, metavar="NAME",
        help="pollution: refine with this detector for every final detector (Cordier et al., App. B: mahalanobis); "
             "default: each detector refines for itself")
    add("--splits", type=int, default=5, metavar="S", help="pollution: splits of cross-validation and STOC (default 5)")
    add("--cache", default=None, metavar="DIR",
        help="where encoded features are cached (default: OUT/cache); reused when a sweep is resumed")
    add("--workers", type=int, default=1, metavar="N",
        help="lowdata, pollution and --sweep: run cells in N local worker processes (default 1: in this process)")
    add("--scheduler", default=None, metavar="tcp://HOST:PORT",
        help="lowdata, pollution and --sweep: run cells on this Dask scheduler (default: $INSPECTOR_DASK_SCHEDULER, "
             "else local); the encoded features are sent to its workers once")


_ALIASES = {"mahalanobis-empirical": "mahalanobis:covariance=empirical",
            "mahalanobis-ledoit": "mahalanobis:covariance=ledoit"}


def _detectors_of(args: argparse.Namespace):
    """--detector NAME[:key=value...] ... (space or comma separated), plus --param for every one."""
    from inspector.detectors.params import DetectorSpec

    specs = []
    for item in args.detector:
        for text in (t.strip() for t in str(item).split(",")):
            if not text:
                continue
            spec = DetectorSpec.parse(_ALIASES.get(text, text))
            if args.param:
                spec = DetectorSpec.from_mapping(spec.name, {**dict(args.param), **spec.kwargs})
            specs.append(spec)
    return specs


def executor_settings_of(args: argparse.Namespace):
    """Where the cells run, from --workers and --scheduler (shared by the protocols and --sweep)."""
    from inspector.evaluation.executor import ExecutorSettings

    if args.workers < 1:
        raise InspectorError(f"--workers must be at least 1, not {args.workers}.")
    if args.scheduler and "://" not in args.scheduler:
        raise InspectorError(f"--scheduler wants an address like tcp://host:8786, not '{args.scheduler}'.")
    return ExecutorSettings(workers=args.workers, scheduler=args.scheduler)


def run_protocol(args: argparse.Namespace, reporter: Optional[Reporter] = None) -> int:
    """Run `args.protocol` (parsed by `inspector evaluate`); prints a short summary and the output files."""
    from inspector.augment.policy import load_policy
    from inspector.cli.common import feature_config_from_args
    from inspector.cli.progress import StageProgressBar
    from inspector.evaluation.lowdata import run_low_data
    from inspector.evaluation.pollution import run_pollution
    from inspector.evaluation.protocol_common import parse_number_list

    protocol = args.protocol
    if protocol not in ("lowdata", "pollution"):
        raise InspectorError(f"run_protocol handles --protocol lowdata or pollution, not '{protocol}'.")
    dataset = Path(args.dataset)
    out = Path(args.out or Path("results") / f"{dataset.name}-{protocol}")
    if out.suffix.lower() in (".csv", ".json"):
        raise InspectorError(f"With --protocol {protocol}, --out is a folder (CSV, PNG and cells.jsonl go in it), "
                             f"not a file: {out}")
    progress = None if reporter is not None else StageProgressBar(not args.quiet)
    bar = reporter or progress.reporter()  # type: ignore[union-attr]
    common = dict(detectors=_detectors_of(args), feature_config=feature_config_from_args(args, dataset), reporter=bar,
                  seed=args.seed, device=args.device, cache_dir=args.cache or "auto")
    try:
        if protocol == "lowdata":
            policy = load_policy(args.policy) if args.policy else None
            factor = args.aug_factor
            if policy is not None and factor == 0:
                factor = 10  # a policy without a factor: Gutierrez et al.'s x10
                print("Augmentation factor not given: using x10 (as Gutierrez et al. 2021).", file=sys.stderr)
            result = run_low_data(dataset, out, sizes=parse_number_list(args.sizes, integer=True) if args.sizes else None,
                                  replicates=args.replicates, policy=policy, aug_factor=factor,
                                  executor=executor_settings_of(args), **common)
            print(_format_table(result.areas, ["detector", "factor", "area_under_auc_percent",
                                               "normalised_area_under_auc_percent"]))
        else:
            result = run_pollution(
                dataset, out, ratios=parse_number_list(args.ratios),
                refinement_ratios=parse_number_list(args.refinement_ratios),
                refinement_methods=[m.strip() for m in args.refinement_methods.split(",") if m.strip()],
                refinement_pollution=args.refinement_pollution, refine_detector=args.refine_detector,
                replicates=args.replicates, splits=args.splits, executor=executor_settings_of(args), **common)
            print(_format_table(result.robustness, ["detector", "pollution", "auroc_mean", "au_pro_mean",
                                                     "au_iou_mean"]))
            print(_format_table(result.refinement, ["detector", "method", "refinement", "auroc_mean", "au_pro_mean",
                                                    "precision_mean", "recall_mean", "f1_mean"]))
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
