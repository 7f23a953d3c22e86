"""Arguments shared by several verbs: backbone, detector, augmentation, refinement, calibration."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


from typing import TYPE_CHECKING

from inspector.io.datasets import Sample, collect_image_files, is_mvtec_category, load_category
from inspector.features.preprocess import DEFAULT_SHORT_SIDE
from inspector.io.images import is_image_file
from inspector.detectors.params import parse_assignment, parse_detector_spec
from inspector.detectors.registry import DEFAULT_DETECTOR
from inspector.types import InspectorError

if TYPE_CHECKING:
    from inspector.pipeline import FitSettings


def parse_param(text: str) -> tuple[str, Any]:
    """`--param name=value`, read by the one detector-option parser (detectors/params.py)."""
    try:
        return parse_assignment(text)
    except InspectorError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def detector_and_params(spec: str, common: list[tuple[str, Any]]) -> tuple[str, dict[str, Any]]:
    """`--detector name:key=value` plus every `--param` (the spec's own options win)."""
    name, params = parse_detector_spec(spec)
    return name, {**dict(common), **params}


def add_runtime_argument(parser: Any) -> None:
    parser.add_argument("--runtime", choices=["auto", "torch", "onnx"], default="auto",
                        help="backbone runtime: auto (ONNX Runtime on the CPU when installed, torch on CUDA), torch or onnx")


def apply_runtime(args: argparse.Namespace) -> None:
    """Make `--runtime` the extractors' default for this process (a run-time choice, not saved in models)."""
    if getattr(args, "runtime", None):
        try:
            from inspector.features.extractor import set_default_runtime
        except ImportError:  # an inspection-only station without torch: exported models run on ONNX anyway
            if args.runtime == "torch":
                raise InspectorError("--runtime torch: this Inspector is built without torch.") from None
            return
        set_default_runtime(args.runtime)


def add_model_arguments(parser: argparse.ArgumentParser, multiple_detectors: bool = False) -> None:
    try:
        from inspector.features.backbones import BACKBONES, DEFAULT_BACKBONE
    except ImportError:  # an inspection-only station (no torch): the parser still builds; fitting refuses
        BACKBONES, DEFAULT_BACKBONE = {}, "efficientnet_lite0"
    group = parser.add_argument_group("model")
    group.add_argument("--backbone", default=DEFAULT_BACKBONE,
                       help=f"backbone: {', '.join(BACKBONES)} or any timm name with --weights (default {DEFAULT_BACKBONE})")
    group.add_argument("--weights", default=None, help="weights file (.pth / .safetensors) for a backbone")
    group.add_argument("--image-size", type=int, default=DEFAULT_SHORT_SIDE,
                       help=f"backbone input size in pixels: the short side with --geometry auto (default {DEFAULT_SHORT_SIDE})")
    group.add_argument("--geometry", choices=("auto", "square"), default="auto",
                       help="auto: keep the training images' median aspect ratio (long side a multiple of 32, "
                            "at most 3x); square: squash to image-size x image-size as 0.1.0 did (default auto)")
    if multiple_detectors:
        group.add_argument("--detector", nargs="+", default=["knn", "mahalanobis", "padim"],
                           help="detector(s) to run (default: knn mahalanobis padim)")
    else:
        group.add_argument("--detector", default=DEFAULT_DETECTOR, help=f"detector (default {DEFAULT_DETECTOR})")
    group.add_argument("--param", action="append", type=parse_param, default=[], metavar="NAME=VALUE",
                       help="detector parameter, e.g. --param covariance=empirical (repeatable)")
    group.add_argument("--policy", default=None, help="augmentation policy: a preset name or a JSON file")
    group.add_argument("--aug-factor", type=int, default=0, help="augmented copies per image (originals are kept)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    add_runtime_argument(group)


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("refinement and threshold")
    group.add_argument("--refine-ratio", type=float, default=0.0,
                       help="SROC: flag and leave out this fraction of the training images (e.g. 0.1)")
    group.add_argument("--refine-detector", default=None, help="detector used to rank for SROC (default: the fitted one)")
    group.add_argument("--calibration", choices=["quantile", "sigma"], default="sigma",
                       help="how the threshold is set from good images (default sigma)")
    group.add_argument("--calibration-parameter", type=float, default=None,
                       help="quantile (default 0.99) or k for mean + k*sigma (default 3)")


def policy_json(spec: str | None) -> dict | None:
    if not spec:
        return None
    from inspector.augment.policy import load_policy

    return load_policy(spec).to_json()


def feature_config_from_args(args: argparse.Namespace, dataset: str | Path):
    """The backbone settings of an `evaluate` run (standard, protocols, sweep): the working geometry is
    chosen from the dataset's training images exactly as `fit` chooses it from its images."""
    from inspector.features.extractor import FeatureConfig
    from inspector.features.preprocess import choose_geometry, image_file_shape

    geometry = None
    if args.geometry == "auto":
        shapes = [image_file_shape(sample.path) for sample in load_category(dataset).train]
        geometry = choose_geometry(shapes, args.image_size)
    return FeatureConfig(args.backbone, args.image_size, args.weights, geometry)


def preprocessing_from_args(args: argparse.Namespace) -> dict:
    """The preprocessing record `--geometry` asks for (version 2's geometry is chosen at fit)."""
    from inspector.features.preprocess import PREPROCESSING_V1, PREPROCESSING_V2

    return dict(PREPROCESSING_V1 if getattr(args, "geometry", "auto") == "square" else PREPROCESSING_V2)


def settings_from_args(args: argparse.Namespace, detector: str | None = None) -> FitSettings:
    calibration = getattr(args, "calibration", "sigma")
    parameter = getattr(args, "calibration_parameter", None)
    if parameter is None:
        parameter = {"quantile": 0.99, "sigma": 3.0}[calibration]
    name, params = detector_and_params(detector or args.detector, args.param)
    from inspector.pipeline import FitSettings

    settings = FitSettings(
        backbone=args.backbone, image_size=args.image_size, detector=name,
        detector_params=params, policy=policy_json(args.policy), aug_factor=args.aug_factor,
        refine_ratio=getattr(args, "refine_ratio", 0.0), refine_detector=getattr(args, "refine_detector", None),
        calibration=calibration, calibration_parameter=parameter, seed=args.seed, device=args.device,
        weights_file=args.weights, preprocessing=preprocessing_from_args(args),
    )
    settings.validate()
    return settings


def training_samples(path: str | Path) -> list[Sample]:
    """`train/good` of an MVTec-style category, or every image of a plain folder."""
    path = Path(path)
    if is_mvtec_category(path):
        return load_category(path).train
    return [Sample(p) for p in _images_in(path)]


def _images_in(path: Path) -> list[Path]:
    """A folder's images, subfolders included (an MVTec-style `test/` of defect folders walks them all)."""
    if not path.exists():
        raise InspectorError(f"Folder not found: {path}")
    if not path.is_dir():
        raise InspectorError(f"Not a folder: {path}")
    images = collect_image_files([path])
    if not images:
        raise InspectorError(f"{path} holds no images.")
    return images


def expand_image_arguments(items: list[str]) -> list[Path]:
    """Files and folders given on the command line -> image files (folders: their images)."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths.extend(_images_in(path))
        elif path.is_file():
            if not is_image_file(path):
                raise InspectorError(f"{path} is not an image file (png, jpg, bmp, tif).")
            paths.append(path)
        else:
            raise InspectorError(f"Not found: {path}")
    return paths
