"""The inspection pipeline: images -> (augment) -> features -> (refine) -> detector -> threshold.

`fit_model` is the one entry point the CLI and the GUI use to build an `InspectionModel`; the
model then `predict`s scores, maps at each image's own size and verdicts. Long work reports its
stages (augment, extract, refine, fit, calibrate) through a `Reporter`, which is also where a
cancel takes effect.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from inspector import __version__
from inspector.detectors.base import Detector
from inspector.detectors.registry import DEFAULT_DETECTOR, create_detector
from inspector.features.backbone_owner import INTERACTIVE, priority
from inspector.features.extractor import FeatureConfig, get_extractor
from inspector.features.preprocess import DEFAULT_SHORT_SIDE, PREPROCESSING_V2, check_preprocessing, resolve_preprocessing
from inspector.features.maps import FeatureMaps
from inspector.features.tiling import map_to_image
from inspector.inspection import Prediction, predict_failing_closed
from inspector.store.atomic import atomic_directory, recover_directory
from inspector.store.model_manifest import loading, read_model, write_model_json
from inspector.threshold import Threshold, calibrate
from inspector.types import InspectorError, Reporter, as_reporter

_LOG = logging.getLogger(__name__)
MODEL_FORMAT = "inspector-model"
MODEL_FORMAT_VERSION = 2  # 2: model.json is a manifest (inspector.store.model_manifest)
#: Where each detector's working point comes from: always scores of good images the scoring
#: model did not learn from. Detectors whose refit costs little next to feature extraction use
#: k-fold cross-validation; PatchCore scores each training image against its memory bank without
#: that image's own patches (leave-one-image-out, no refit); SimpleNet, whose training is the
#: costly part, uses fewer folds.
CHEAP_REFIT = {"knn", "mahalanobis", "padim", "ocsvm", "iforest", "kde", "lof", "elliptic"}
LEAVE_ONE_IMAGE_OUT = {"patchcore"}
CALIBRATION_FOLDS = 5
COSTLY_CALIBRATION_FOLDS = 3


@dataclass
class FitSettings:
    """Everything a user chooses for a fit; saved in the model so it can be reproduced."""

    backbone: str = "efficientnet_lite0"
    image_size: int = DEFAULT_SHORT_SIDE
    detector: str = DEFAULT_DETECTOR
    detector_params: dict[str, Any] = field(default_factory=dict)
    policy: Optional[dict[str, Any]] = None  # AugmentationPolicy JSON
    aug_factor: int = 0
    refine_ratio: float = 0.0
    refine_detector: Optional[str] = None  # default: the fitted detector itself
    calibration: str = "sigma"  # quantile | sigma
    calibration_parameter: float = 3.0
    seed: int = 0
    device: str = "auto"
    weights_file: Optional[str] = None
    # How an image becomes backbone input (features/preprocess.py); 0.1.0 models lack it: version 1.
    # New fits keep the aspect ratio (version 2); `fit_model` chooses the geometry from the images.
    preprocessing: dict[str, Any] = field(default_factory=lambda: dict(PREPROCESSING_V2))

    def feature_config(self) -> FeatureConfig:
        # refuses a version 2 or 3 record without its geometry
        return FeatureConfig.from_record(self.backbone, int(self.image_size), self.weights_file, self.preprocessing)

    def with_geometry_for(self, images: Sequence[np.ndarray]) -> "FitSettings":
        """These settings with the working geometry chosen from `images` (when not chosen yet)."""
        record = resolve_preprocessing(self.preprocessing, [image.shape for image in images], int(self.image_size))
        return replace(self, preprocessing=record)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FitSettings":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise InspectorError(f"Unknown fit settings: {', '.join(sorted(unknown))}.")
        return cls(**{**data, "preprocessing": check_preprocessing(data.get("preprocessing"), allow_unresolved=True)})

    def validate(self) -> None:
        check_preprocessing(self.preprocessing, allow_unresolved=True)
        if not 0.0 <= self.refine_ratio < 1.0:
            raise InspectorError(f"The refinement ratio must be in [0, 1), got {self.refine_ratio}.")
        if self.aug_factor < 0:
            raise InspectorError(f"The augmentation factor must be >= 0, got {self.aug_factor}.")
        if self.aug_factor > 0 and self.policy is None:
            raise InspectorError("An augmentation factor needs an augmentation policy.")
        if self.calibration == "sigma" and not self.calibration_parameter >= 0:
            raise InspectorError(f"k (number of standard deviations) must be >= 0, got {self.calibration_parameter}.")
        elif self.calibration == "quantile" and not 0 < self.calibration_parameter <= 1:
            raise InspectorError(f"The quantile must be in (0, 1], got {self.calibration_parameter}.")
        elif self.calibration not in ("sigma", "quantile"):
            calibrate([0.0], self.calibration, self.calibration_parameter)  # the one clear line for that method


def _weights_fingerprint(config: FeatureConfig) -> str:
    """SHA-256 of the backbone weights file, so a model refuses to score with other weights."""
    from inspector.features.backbones import resolve_weights_file

    path = resolve_weights_file(config.backbone, config.weights_file)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_FINGERPRINTS: dict[FeatureConfig, str] = {}


def weights_fingerprint(config: FeatureConfig) -> str:
    if config not in _FINGERPRINTS:
        _FINGERPRINTS[config] = _weights_fingerprint(config)
    return _FINGERPRINTS[config]


class InspectionModel:
    """A fitted detector with the backbone settings that made its features and its threshold."""

    def __init__(self, settings: FitSettings, detector: Detector, threshold: Threshold,
                 model_id: Optional[str] = None, info: Optional[dict[str, Any]] = None) -> None:
        self.settings = settings
        self.detector = detector
        self.threshold = threshold
        self.model_id = model_id or f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.info = dict(info or {})

    @property
    def localizes(self) -> bool:
        return self.detector.localizes

    @property
    def feature_config(self) -> FeatureConfig:
        return self.settings.feature_config()

    def device_name(self) -> str:
        return get_extractor(self.feature_config, self.settings.device).device_name

    def features(self, images: Sequence[np.ndarray] | Iterable[np.ndarray], reporter: Optional[Reporter] = None,
                 total: Optional[int] = None) -> FeatureMaps:
        """Features of `images` with this model's own backbone (checked against the stored weights)."""
        stored = self.info.get("weights_sha256")
        if stored and stored != weights_fingerprint(self.feature_config):
            raise InspectorError(
                f"This model was fitted with other '{self.settings.backbone}' weights than the ones installed; "
                "refit it or restore the original weights."
            )
        extractor = get_extractor(self.feature_config, self.settings.device)
        return extractor.extract(images, self.detector.layers, reporter, total=total)

    def check_features(self, features: FeatureMaps) -> None:
        """Refuse features made with another input geometry (a different backbone fails the width checks)."""
        height, width = self.feature_config.input_shape
        if tuple(features.input_size) != (height, width):
            raise InspectorError(f"Features at input size {tuple(features.input_size)} do not match this model's "
                                 f"{height}x{width} (height x width).")

    def predict(self, images: Sequence[np.ndarray], reporter: Optional[Reporter] = None) -> list[Prediction]:
        """Score images (RGB uint8, any size): maps come back at each image's own size.

        Fails closed: a scoring error or a non-finite score gives that image an ERROR prediction
        (logged), never PASS. When a whole batch fails, each image is retried alone so that one
        bad image does not take the others with it. Only a cancel propagates. Its forward passes
        are INTERACTIVE on the backbone owner: a part waits for one batch of a running fit, not all.
        """
        reporter = as_reporter(reporter)
        images = list(images)
        if not images:
            return []
        with priority(INTERACTIVE):
            return self._predict(images, reporter)

    def _predict(self, images: list[np.ndarray], reporter: Reporter) -> list[Prediction]:
        return predict_failing_closed(images, lambda batch: self._predict_batch(batch, reporter), self._failed)

    def _failed(self, exc: BaseException) -> Prediction:
        reason = str(exc) if isinstance(exc, InspectorError) else f"Scoring failed: {type(exc).__name__}: {exc}"
        _LOG.error("ERROR verdict (model %s): %s", self.model_id, reason)
        return Prediction.failed(reason)

    def _predict_batch(self, images: list[np.ndarray], reporter: Reporter) -> list[Prediction]:
        features = self.features(images, reporter)
        reporter.report("score", 0, 1, "Scoring")
        result = self.detector.score(features, reporter)
        reporter.report("score", 1, 1)
        if len(result.image_scores) != len(images):
            raise InspectorError(f"The detector returned {len(result.image_scores)} scores for {len(images)} images.")
        predictions = []
        for index, image in enumerate(images):
            score = float(result.image_scores[index])
            raw_map = None if result.maps is None else result.maps[index]
            if not np.isfinite(score) or (raw_map is not None and not np.all(np.isfinite(raw_map))):
                predictions.append(self._failed(InspectorError(
                    f"The model gave a non-finite score ({score}) or map: the model or the image is damaged.")))
                continue
            anomaly_map = None if raw_map is None else map_to_image(raw_map, self.feature_config.tiles, image.shape[:2])
            predictions.append(Prediction(score, anomaly_map, self.threshold.verdict(score)))
        return predictions

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the model folder atomically: model.json + detector files. Returns the folder."""
        folder = Path(folder)
        with atomic_directory(folder) as staging:
            self.detector.save(staging / "detector")
            write_model_json(staging, {  # adds the manifest: size + SHA-256 of every file
                "format": MODEL_FORMAT,
                "version": MODEL_FORMAT_VERSION,
                "model_id": self.model_id,
                "inspector_version": __version__,
                "settings": self.settings.to_json(),
                "threshold": self.threshold.to_json(),
                "info": self.info,
            })
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "InspectionModel":
        folder = recover_directory(Path(folder))
        meta, _legacy, detector = read_model(folder)  # verifies every file, types, sizes, backbone (store)
        with loading(folder):
            settings = FitSettings.from_json(meta["settings"])
            return cls(settings, detector, Threshold.from_json(meta["threshold"]), meta["model_id"], meta["info"])


@dataclass
class FitResult:
    """A fitted model and, when SROC ran, the ranking of the training images for review."""

    model: InspectionModel
    ranking: Optional[Any] = None  # inspector.refine.sroc.RefinementRanking
    kept_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


def _augmented_features(images: Sequence[np.ndarray], indices: Sequence[int], settings: FitSettings,
                        layers: tuple[int, ...], reporter: Reporter, seed_offset: int = 0) -> Optional[FeatureMaps]:
    """Features of `aug_factor` augmented copies of each image, streamed so memory stays flat."""
    if settings.aug_factor <= 0 or settings.policy is None or len(indices) == 0:
        return None
    from inspector.augment.engine import iter_augmented_copies
    from inspector.augment.policy import AugmentationPolicy

    policy = AugmentationPolicy.from_json(settings.policy)
    subset = [images[i] for i in indices]

    def stream() -> Iterable[np.ndarray]:
        for _, copies in iter_augmented_copies(subset, policy, settings.aug_factor, settings.seed + seed_offset,
                                               reporter, working_size=settings.feature_config().input_shape,
                                               indices=list(indices)):
            yield from copies

    extractor = get_extractor(settings.feature_config(), settings.device)
    return extractor.extract(stream(), layers, reporter, total=len(subset) * settings.aug_factor, stage="extract")


def _fit_detector(settings: FitSettings, features: FeatureMaps, reporter: Optional[Reporter]) -> Detector:
    return create_detector(settings.detector, **settings.detector_params).fit(features, reporter)


def _fold_settings(settings: FitSettings, n_full: int, n_fold: int) -> FitSettings:
    """Settings of a cross-validation fold's model. SimpleNet trains for a number of epochs, and its
    score scale drifts with the number of optimisation steps, so a fold model (fewer images per
    epoch) trains for proportionally more epochs: the same steps as the model it calibrates."""
    if settings.detector != "simplenet":
        return settings
    from inspector.detectors.simplenet import DEFAULT_EPOCHS

    epochs = int(settings.detector_params.get("epochs", DEFAULT_EPOCHS))
    scaled = max(1, int(round(epochs * n_full / max(1, n_fold))))
    return FitSettings(**{**settings.to_json(), "detector_params": {**settings.detector_params, "epochs": scaled}})


def _cross_validated_scores(settings: FitSettings, originals: FeatureMaps, augmented: Optional[FeatureMaps],
                            reporter: Reporter, max_folds: int = CALIBRATION_FOLDS) -> np.ndarray:
    """Score each good image with a model fitted on the other folds (and their augmented copies)."""
    n = len(originals)
    folds = min(max_folds, n)
    if folds < 2:
        raise InspectorError("At least 2 good images are needed to calibrate a threshold.")
    rng = np.random.default_rng(settings.seed)
    fold_of = rng.permutation(np.arange(n) % folds)
    factor = settings.aug_factor if augmented is not None else 0
    scores = np.empty(n)
    for fold in range(folds):
        reporter.report("calibrate", fold, folds, f"Cross-validating the working point ({fold + 1}/{folds})")
        train = np.flatnonzero(fold_of != fold)
        held = np.flatnonzero(fold_of == fold)
        parts = [originals.subset(train)]
        if factor:
            copies = np.concatenate([np.arange(i * factor, (i + 1) * factor) for i in train])
            parts.append(augmented.subset(copies))
        fold_training = FeatureMaps.concatenate(parts)
        detector = _fit_detector(_fold_settings(settings, len(originals) * (1 + factor), len(fold_training)),
                                 fold_training, None)
        scores[held] = detector.score(originals.subset(held)).image_scores
    reporter.report("calibrate", folds, folds)
    return scores


def fit_model(images: Sequence[np.ndarray], settings: FitSettings, reporter: Optional[Reporter] = None,
              names: Optional[Sequence[str]] = None, skipped: Sequence[str] = ()) -> FitResult:
    """Fit an InspectionModel on good images (RGB uint8, any size).

    With `settings.refine_ratio > 0`, SROC ranks the training images by how anomalous they look,
    leaves out the top ratio, and the ranking comes back for a person to review. `skipped` names
    the files the caller could not read; they are listed in the model info.
    """
    reporter = as_reporter(reporter)
    settings.validate()
    images = list(images)
    if len(images) < 2:
        raise InspectorError(f"At least 2 good images are needed to fit a model, got {len(images)}.")
    settings = settings.with_geometry_for(images)  # one working geometry per model, recorded in it
    layers = create_detector(settings.detector, **settings.detector_params).validate_params().layers
    config = settings.feature_config()
    extractor = get_extractor(config, settings.device)

    originals = extractor.extract(images, layers, reporter, stage="extract")
    ranking = None
    kept = np.arange(len(images))
    if settings.refine_ratio > 0:
        from inspector.refine.sroc import DEFAULT_ROUNDS, sroc

        reporter.report("refine", 0, 1, "Ranking training images (SROC)")
        refine_name = settings.refine_detector or settings.detector
        refine_params = dict(settings.detector_params) if refine_name == settings.detector else {}
        if refine_name == "knn" and int(refine_params.get("k", 1)) == 1:
            refine_params["k"] = 5  # with k = 1 every training image is its own neighbour (seed 001 uses k = 5)
        refine_features = originals
        needed = create_detector(refine_name, **refine_params).layers
        if not set(needed) <= set(originals.levels):
            refine_features = extractor.extract(images, needed, reporter, stage="refine")
        ranking = sroc(refine_features, settings.refine_ratio, refine_name, refine_params, reporter,
                       names=list(names) if names is not None else None,
                       rounds=DEFAULT_ROUNDS)  # iterative SROC: ranked at least as well on both data sets
        kept = np.asarray(ranking.kept_indices(), dtype=int)
        reporter.report("refine", 1, 1, f"{len(images) - len(kept)} image(s) flagged for review")
    kept_features = originals.subset(kept)
    augmented = _augmented_features(images, kept.tolist(), settings, layers, reporter)
    training = kept_features if augmented is None else FeatureMaps.concatenate([kept_features, augmented])

    reporter.report("fit", 0, 1, f"Fitting {settings.detector} on {len(training)} feature set(s)")
    detector = _fit_detector(settings, training, reporter)
    reporter.report("fit", 1, 1)

    nominal, source = nominal_scores(settings, detector, kept_features, augmented, reporter)
    fail = calibrate(nominal, settings.calibration, settings.calibration_parameter)
    threshold = Threshold(fail, None, settings.calibration, settings.calibration_parameter, nominal)
    info = {
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "n_images": len(images), "n_kept": int(len(kept)), "n_training_features": len(training),
        "calibration_source": source, "device": extractor.device_name,
        "weights_sha256": weights_fingerprint(config),
        "training_names": list(names) if names is not None else [],
        "skipped_images": [str(name) for name in skipped],
    }
    if ranking is not None:
        info["refinement"] = ranking.to_json()
    return FitResult(InspectionModel(settings, detector, threshold, info=info), ranking, kept)


def nominal_scores(settings: FitSettings, detector: Detector, originals: FeatureMaps,
                    augmented: Optional[FeatureMaps], reporter: Reporter) -> tuple[np.ndarray, str]:
    """Scores of good images unseen by the model that scores them, and a sentence saying how.

    `detector` is the model fitted on `originals` (then `augmented`, aug_factor copies per image in
    order). Used by `fit_model` and by `inspector evaluate`, so both calibrate the same way."""
    n = len(originals)
    copies = f" (with their {settings.aug_factor} augmented copies each)" if augmented is not None else ""
    if settings.detector in LEAVE_ONE_IMAGE_OUT:
        factor = settings.aug_factor if augmented is not None else 0
        training_groups = np.concatenate([np.arange(n), np.repeat(np.arange(n), factor)])
        reporter.report("calibrate", 0, 1, "Scoring each good image without its own patches")
        scores = detector.leave_one_out_scores(originals, np.arange(n), training_groups)
        reporter.report("calibrate", 1, 1)
        return scores, (f"leave-one-image-out: each of the {n} good training image(s) scored against the memory "
                        f"bank without its own patches{copies}")
    folds = CALIBRATION_FOLDS if settings.detector in CHEAP_REFIT else COSTLY_CALIBRATION_FOLDS
    scores = _cross_validated_scores(settings, originals, augmented, reporter, folds)
    return scores, (f"{min(folds, n)}-fold cross-validation: each of the {n} good training image(s) scored by a "
                    f"model fitted without it{copies}")
