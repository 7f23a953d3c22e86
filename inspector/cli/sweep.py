"""`inspector evaluate DATASET --sweep`: the classic-model hyper-parameter grids from the command line.

The sweep itself (inspector.evaluation.sweep) knows nothing of argparse or progress bars; this is
the verb's glue: arguments in, a progress bar, the table and the result files out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from inspector.cli.common import feature_config_from_args
from inspector.cli.progress import StageProgressBar
from inspector.cli.protocols import executor_settings_of
from inspector.evaluation.sweep import CLASSIC_PARAM_GRIDS, best_rows, format_table, sweep_category
from inspector.store.atomic import write_json_atomic
from inspector.store.safe_output import write_csv_atomic


def cmd_sweep(args: argparse.Namespace) -> int:
    """`inspector evaluate DATASET --sweep [--detector ocsvm lof ...] [--param standardize=true] [--out F]`.

    Detectors default to the five classic ones (the CLI's own default list holds none of them).
    With --out, rows are appended to OUT as JSON lines (OUT.jsonl if OUT has another suffix, which
    then also gets the final table as CSV or JSON): rerunning the same command resumes.
    --workers N / --scheduler tcp://HOST:PORT run the configurations in local processes or on a
    Dask cluster, as for the protocols.
    """
    requested = [name for name in (args.detector or []) if name in CLASSIC_PARAM_GRIDS]
    base_params = dict(args.param or [])
    out = Path(args.out) if args.out else None
    results_path = None if out is None else (out if out.suffix == ".jsonl" else out.with_suffix(".jsonl"))
    config = feature_config_from_args(args, args.dataset)
    bar = StageProgressBar(not args.quiet)
    try:
        rows = sweep_category(args.dataset, config, requested or None, base_params, results_path,
                              args.device, args.cache, bar.reporter(), executor=executor_settings_of(args))
    finally:
        bar.close()
    print(format_table(rows))
    for name, row in best_rows(rows).items():
        print(f"best {name}: {json.dumps(row.params, sort_keys=True)}  image AUROC {row.image_auroc:.4f}")
    if out is not None and out.suffix in (".csv", ".json"):
        if out.suffix == ".json":
            write_json_atomic(out, [row.to_json() for row in rows])
        else:
            write_csv_atomic(out, ["detector", "params", "image_auroc", "fit_seconds", "score_seconds", "fitted", "error"],
                             [[row.detector, json.dumps(row.params, sort_keys=True), row.to_json()["image_auroc"],
                               f"{row.fit_seconds:.4f}", f"{row.score_seconds:.4f}",
                               json.dumps(row.extra, sort_keys=True), row.error or ""] for row in rows])
    if results_path is not None:
        print(f"Rows recorded in {results_path} (rerun the same command to resume).")
    return 0
