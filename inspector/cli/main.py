"""`inspector <verb>`: fit, inspect, evaluate, demo, log. Never imports Qt."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from inspector import __version__
from inspector.cli.common import (add_fit_arguments, add_model_arguments, add_runtime_argument, apply_runtime, expand_image_arguments, policy_json,
                                  settings_from_args, training_samples)
from inspector.store.atomic import json_default
from inspector.cli.progress import StageProgressBar
from inspector.detectors.registry import DEFAULT_DETECTOR
from inspector.types import Cancelled, InspectorError


def _write_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A plain-text table: columns are (key, header, format)."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else format(row[key], fmt) for key, _, fmt in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _write_results(path: Path, rows: list[dict], settings: dict) -> None:
    """JSON (rows + settings) or CSV (settings repeated on every row) chosen by suffix, written atomically."""
    from inspector.store.atomic import atomic_open
    from inspector.store.safe_output import write_csv_atomic

    if path.suffix.lower() == ".csv":
        flat = [{**{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()},
                 "settings": json.dumps(settings, default=json_default)} for row in rows]
        write_csv_atomic(path, list(flat[0]) if flat else ["settings"], flat)
    else:
        with atomic_open(path, "w") as handle:
            json.dump({"settings": settings, "results": rows}, handle, indent=2, default=json_default)


# -- fit ---------------------------------------------------------------------------------------
def cmd_fit(args: argparse.Namespace) -> int:
    from inspector.pipeline import fit_model

    samples = training_samples(args.images)
    settings = settings_from_args(args)
    from inspector.detectors.registry import create_detector

    create_detector(settings.detector, **settings.detector_params).validate_params()  # before any image loads
    print(f"Fitting {settings.detector} on {len(samples)} image(s) from {args.images}", file=sys.stderr)
    images, names, skipped = [], [], []
    for sample in samples:
        try:
            images.append(sample.load())
            names.append(sample.path.name)
        except InspectorError as exc:  # a bad file is reported and skipped, never stops the fit
            skipped.append(sample.path.name)
            print(f"Skipped {sample.path}: {exc}", file=sys.stderr)
    bar = StageProgressBar(not args.quiet)
    try:
        result = fit_model(images, settings, bar.reporter(), names=names, skipped=skipped)
    finally:
        bar.close()
    out = result.model.save(args.out)
    threshold = result.model.threshold
    print(f"Model {result.model.model_id} saved to {out}")
    if skipped:
        print(f"{len(skipped)} unreadable image(s) skipped: {', '.join(skipped)}")
    print(f"Threshold (FAIL) = {threshold.fail:.4g}  [{threshold.method} {threshold.parameter}, "
          f"{result.model.info['calibration_source']}]")
    if result.ranking is not None:
        flagged = [names[i] for i in result.ranking.flagged_indices()]
        print(f"SROC flagged {len(flagged)} image(s) for review (left out of the fit): {', '.join(flagged) or '-'}")
    return 0


# -- inspect -----------------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from inspector.export_runtime import load_inspection_model  # exports of PaDiM/PatchCore/SimpleNet: no torch
    from inspector.inspection import inspect_files
    from inspector.io.images import save_image
    from inspector.visualize import VERDICT_COLOURS, annotate, heatmap_overlay, threshold_levels

    model = load_inspection_model(args.model, getattr(args, "runtime", None))
    if args.fail is not None or args.review is not None:
        model.threshold = model.threshold.with_values(args.fail if args.fail is not None else model.threshold.fail, args.review)
    paths = expand_image_arguments(args.images)
    log = None
    if args.log:
        from inspector.store.log import InspectionLog

        log = InspectionLog(args.log)
    from inspector.store.safe_output import BatchProgress, HeatmapNames, ResultStream

    heatmaps = HeatmapNames(paths)  # unique per input, also when two inputs share a stem
    bar = StageProgressBar(not args.quiet)
    progress = BatchProgress(bar, len(paths))  # one bar for the batch: chunks never restart it
    stream = ResultStream(args.csv)  # rows reach the terminal and the CSV as they come, escaped
    try:
        predict = lambda images: model.predict(images, progress.reporter())  # noqa: E731
        for batch in inspect_files(paths, predict, batch_size=16):
            for result in batch:
                stream.add(str(result.path), result.score, result.verdict, result.error)
                if log is not None:
                    log.record(time=None, class_name=args.class_name, model_id=model.model_id, score=result.score,
                               threshold=model.threshold.fail, verdict=result.verdict, image_path=str(result.path),
                               review_threshold=model.threshold.review, note=result.error)
                if args.maps_dir and result.anomaly_map is not None:
                    overlay = heatmap_overlay(result.image, result.anomaly_map, threshold_levels(model.threshold))
                    overlay = annotate(overlay, f"{result.verdict}  {result.score:.3g}", VERDICT_COLOURS[result.verdict])
                    save_image(Path(args.maps_dir) / heatmaps.name_for(result.path), overlay)
            progress.advance(len(batch), batch[-1].path.name)
    finally:
        bar.close()
        stream.close()
    counts = stream.counts
    print(f"\nthreshold FAIL >= {model.threshold.fail:.4g}"
          + (f", REVIEW >= {model.threshold.review:.4g}" if model.threshold.review is not None else "")
          + "   " + "  ".join(f"{k}: {v}" for k, v in counts.items() if v))
    if not model.localizes and args.maps_dir:
        print(f"Note: {model.detector.display_name} does not localise; no heatmaps were written.")
    return 1 if counts["ERROR"] and not any(counts[v] for v in ("PASS", "REVIEW", "FAIL")) else 0


# -- evaluate ----------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from inspector.export_onnx import export_model

    print(f"Exported {export_model(args.model, args.out)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if getattr(args, "protocol", "standard") != "standard":
        from inspector.cli.protocols import run_protocol

        return run_protocol(args)
    if getattr(args, "sweep", False):
        return _run_sweep(args)
    from inspector.detectors.params import DetectorSpec
    from inspector.evaluation.standard import evaluate_category
    from inspector.io.datasets import load_category

    from inspector.cli.common import detector_and_params, feature_config_from_args

    aliases = {"mahalanobis-empirical": "mahalanobis:covariance=empirical"}
    specs = [DetectorSpec.from_mapping(*detector_and_params(aliases.get(text, text), args.param)) for text in args.detector]
    for spec in specs:  # every bad value is refused before any image loads
        spec.create().validate_params()
    category = load_category(args.dataset)
    config = feature_config_from_args(args, args.dataset)
    policy = policy_json(args.policy)
    bar = StageProgressBar(not args.quiet)
    started = time.time()
    try:
        calibration = getattr(args, "calibration", "sigma")
        parameter = getattr(args, "calibration_parameter", None)
        parameter = {"quantile": 0.99, "sigma": 3.0}[calibration] if parameter is None else parameter
        rows = evaluate_category(category, specs, config, policy, args.aug_factor, args.seed, args.device, bar.reporter(),
                                 calibration, parameter)
    finally:
        bar.close()
    print(f"{category.name}: {len(category.train)} train, {len(category.test)} test images "
          f"({int(category.test_labels.sum())} defective); backbone {config.backbone} @ "
          f"{config.input_shape[0]}x{config.input_shape[1]}px (height x width)"
          + (f"; augmentation x{args.aug_factor}" if policy and args.aug_factor else ""))
    print(_write_table(rows, [("detector", "detector", ""), ("image_auroc", "image AUROC", ".4f"),
                              ("pixel_auroc", "pixel AUROC", ".4f"), ("au_pro", "AU-PRO@30%", ".4f"),
                              ("f1_max", "F1-max", ".4f"), ("working_point", "FAIL >=", ".4g"),
                              ("false_reject_rate", "false rejects", ".1%"), ("defect_recall", "recall", ".1%"),
                              ("fit_seconds", "fit s", ".2f"),
                              ("score_seconds_per_image", "score s/img", ".4f")]))
    settings = {"dataset": str(Path(args.dataset).resolve()), "backbone": config.backbone, "image_size": config.image_size,
                "weights_file": config.weights_file, "detectors": [s.label for s in specs], "policy": policy,
                "aug_factor": args.aug_factor, "seed": args.seed, "device": args.device,
                "calibration": calibration, "calibration_parameter": parameter,
                "pixel_metrics_resolution": list(config.input_shape),
                "preprocessing": config.preprocessing, "au_pro_fpr_limit": 0.3,
                "inspector_version": __version__, "elapsed_seconds": time.time() - started}
    if args.out:
        _write_results(Path(args.out), rows, settings)
        print(f"Results written to {args.out}")
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    from inspector.cli.sweep import cmd_sweep

    return cmd_sweep(args)


# -- demo --------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from inspector.evaluation.metrics import image_auroc
    from inspector.io.datasets import load_category
    from inspector.io.images import save_image
    from inspector.pipeline import FitSettings, fit_model
    from inspector.resources import demo_dir
    from inspector.visualize import VERDICT_COLOURS, annotate, heatmap_overlay, threshold_levels

    category = load_category(demo_dir())
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="inspector-demo-"))
    print(f"Demo: fitting {args.detector} on {len(category.train)} good rendered parts, "
          f"then inspecting {len(category.test)} test parts. Output: {out}")
    settings = FitSettings(detector=args.detector, seed=0, device=args.device)
    bar = StageProgressBar(not args.quiet)
    try:
        result = fit_model([s.load() for s in category.train], settings, bar.reporter(), names=[s.path.name for s in category.train])
        images = [s.load() for s in category.test]
        predictions = result.model.predict(images, bar.reporter())
    finally:
        bar.close()
    result.model.save(out / "model")
    levels = threshold_levels(result.model.threshold)
    rows = []
    for sample, image, prediction in zip(category.test, images, predictions):
        rows.append({"image": f"{sample.defect}/{sample.path.name}", "score": prediction.score, "verdict": prediction.verdict})
        if prediction.anomaly_map is not None:
            overlay = annotate(heatmap_overlay(image, prediction.anomaly_map, levels),
                               f"{prediction.verdict} {prediction.score:.3g}", VERDICT_COLOURS[prediction.verdict])
            save_image(out / "heatmaps" / f"{sample.defect}_{sample.path.stem}.png", overlay)
    print(_write_table(rows, [("image", "image", ""), ("score", "score", ".4g"), ("verdict", "verdict", "")]))
    scores = np.array([p.score for p in predictions])
    labels = category.test_labels
    print(f"\nImage AUROC on the demo test set: {image_auroc(labels, scores):.3f}; threshold {result.model.threshold.fail:.4g}"
          f" ({result.model.info['calibration_source']}).")
    print(f"Model saved to {out / 'model'}; heatmaps in {out / 'heatmaps'}.")
    return 0


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspector", description="Inspector: visual inspection of small production series. "
                                     "Run without a verb to open the desktop application.")
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    fit = verbs.add_parser("fit", help="fit a model on a folder of good images (or a category's train/good)")
    fit.add_argument("images", help="folder of good images, or an MVTec-style category folder")
    fit.add_argument("--out", "-o", required=True, help="model folder to write")
    add_model_arguments(fit)
    add_fit_arguments(fit)
    fit.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    fit.set_defaults(handler=cmd_fit)

    inspect = verbs.add_parser("inspect", help="score images with a saved model: verdicts, scores, heatmaps")
    inspect.add_argument("model", help="model folder written by `inspector fit`")
    inspect.add_argument("images", nargs="+", help="image files and/or folders")
    inspect.add_argument("--fail", type=float, default=None, help="override the FAIL threshold")
    inspect.add_argument("--review", type=float, default=None, help="REVIEW threshold (scores in [review, fail) go to a person)")
    inspect.add_argument("--csv", default=None, help="write the results table to this CSV file")
    inspect.add_argument("--maps-dir", default=None, help="write heatmap overlays (PNG) into this folder")
    inspect.add_argument("--log", default=None, help="append each result to this SQLite inspection log")
    inspect.add_argument("--class-name", default="default", help="part class recorded in the log")
    inspect.add_argument("--quiet", "-q", action="store_true")
    add_runtime_argument(inspect)
    inspect.set_defaults(handler=cmd_inspect)

    evaluate = verbs.add_parser("evaluate", help="fit on a category's train/good and score its labelled test set")
    evaluate.add_argument("dataset", help="MVTec-style category folder")
    add_model_arguments(evaluate, multiple_detectors=True)
    evaluate.add_argument("--out", "-o", default=None, help="results file (.json or .csv)")
    evaluate.add_argument("--sweep", action="store_true",
                          help="research sweep over the hyper-parameter grids of Krickl's classic OOD study for the classic detectors")
    evaluate.add_argument("--calibration", choices=["quantile", "sigma"], default="sigma",
                          help="working point set from train/good as fit sets it (default sigma)")
    evaluate.add_argument("--calibration-parameter", type=float, default=None,
                          help="quantile (default 0.99) or k for mean + k*sigma (default 3)")
    evaluate.add_argument("--quiet", "-q", action="store_true")
    from inspector.cli.protocols import add_protocol_arguments

    add_protocol_arguments(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    export = verbs.add_parser("export", help="write a model with its backbone as an ONNX graph (for `inspect`)")
    export.add_argument("model", help="model folder written by `inspector fit`")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--out", "-o", required=True, help="export folder to write")
    export.set_defaults(handler=cmd_export)

    demo = verbs.add_parser("demo", help="fit and inspect on the bundled demo parts")
    demo.add_argument("--out", "-o", default=None,
                      help="output folder (default: a new temporary folder, printed at the end)")
    demo.add_argument("--detector", default=DEFAULT_DETECTOR)
    demo.add_argument("--device", default="auto")
    demo.add_argument("--quiet", "-q", action="store_true")
    demo.set_defaults(handler=cmd_demo)

    from inspector.cli.log import add_parser as add_log_parser

    add_log_parser(verbs)
    from inspector.cli.run import add_parser as add_run_parser

    add_run_parser(verbs)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Optional[Callable[[argparse.Namespace], int]] = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        apply_runtime(args)
        return int(handler(args) or 0)
    except Cancelled:
        print("Cancelled.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except InspectorError as exc:
        from inspector.store.safe_output import terminal_text

        print(f"error: {terminal_text(exc)}", file=sys.stderr)  # file names can hold escape sequences
        return 1
