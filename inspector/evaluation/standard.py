"""The standard evaluation: fit on a category's train/good, score its test set, report metrics.

Features are encoded once per backbone configuration and shared by every detector, as in
the protocol of Gutierrez et al. 2021. Pixel metrics are computed at the backbone's input
resolution (masks resized with nearest neighbour).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from inspector.detectors.params import DetectorSpec
from inspector.evaluation.metrics import (
    au_pro,
    f1_optimal_threshold,
    image_auroc,
    pixel_auroc,
    working_point_rates,
)
from inspector.evaluation.protocol_common import FeatureCache, FeatureEncoder
from inspector.features.extractor import FeatureConfig
from inspector.features.maps import FeatureMaps
from inspector.io.datasets import Category
from inspector.pipeline import FitSettings, nominal_scores
from inspector.threshold import calibrate
from inspector.types import InspectorError, Reporter, as_reporter


def evaluate_category(category: Category, detectors: list[DetectorSpec], config: FeatureConfig,
                      policy: dict | None = None, aug_factor: int = 0, seed: int = 0, device: str = "auto",
                      reporter: Reporter | None = None, calibration: str = "sigma",
                      calibration_parameter: float = 3.0, cache_folder: str | None = None,
                      extra_layers: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """Fit each detector on train/good (plus augmented copies) and score the test set.

    Next to the ranking metrics, each detector's working point is calibrated on train/good exactly
    as `inspector fit` does (`pipeline.nominal_scores`), and the false-reject rate on the good test
    images and the defect recall at that threshold are reported. `cache_folder` keeps the encoded
    features on disk and `extra_layers` widens what is encoded, so
    that runs of different detectors share one cache entry (benchmarks/all_detectors.py)."""
    reporter = as_reporter(reporter)
    if not category.test:
        raise InspectorError(f"{category.root} has no test images to evaluate on.")
    labels = category.test_labels
    instances = [spec.create() for spec in detectors]
    layers = sorted({layer for detector in instances for layer in detector.layers} | set(extra_layers))
    encoder = FeatureEncoder(category, config, tuple(layers), FeatureCache(cache_folder), device, reporter)  # encode once
    started = time.perf_counter()
    train = encoder.encode("train", category.train)
    originals, augmented = train, None
    if aug_factor > 0 and policy is not None:
        from inspector.augment.policy import AugmentationPolicy

        augmented = encoder.encode_augmented(category.train, AugmentationPolicy.from_json(policy), aug_factor, seed)
        train = FeatureMaps.concatenate([train, augmented])
    else:
        aug_factor = 0
    test = encoder.encode("test", category.test)
    encode_seconds = time.perf_counter() - started
    size = config.input_shape  # (height, width): the maps' geometry
    masks = None
    rows = []
    for index, (spec, detector) in enumerate(zip(detectors, instances)):
        reporter.report("evaluate", index, len(instances), f"Fitting {spec.label}")
        t0 = time.perf_counter()
        detector.fit(train, reporter)
        t1 = time.perf_counter()
        result = detector.score(test, reporter)
        t2 = time.perf_counter()
        threshold, f1 = f1_optimal_threshold(labels, result.image_scores)
        settings = FitSettings(backbone=config.backbone, image_size=config.image_size, detector=spec.name,
                               detector_params=spec.kwargs, policy=policy if aug_factor else None,
                               aug_factor=aug_factor, calibration=calibration,
                               calibration_parameter=calibration_parameter, seed=seed, device=device,
                               weights_file=config.weights_file, preprocessing=config.preprocessing)
        reporter.report("evaluate", index, len(instances), f"Calibrating {spec.label}")
        nominal, source = nominal_scores(settings, detector, originals, augmented, reporter)
        working_point = calibrate(nominal, calibration, calibration_parameter)
        point = working_point_rates(labels, result.image_scores, working_point)
        # f1_threshold: the score cut that maximises F1 on the labelled test set, a metric of the
        # detector; the stored working point (`working_point`) is calibrated from good parts only.
        row: dict[str, Any] = {
            "detector": spec.label, "image_auroc": image_auroc(labels, result.image_scores),
            "f1_max": f1, "f1_threshold": threshold, "pixel_auroc": None, "au_pro": None,
            "working_point": working_point, **point, "calibration_source": source,
            "fit_seconds": t1 - t0, "score_seconds_per_image": (t2 - t1) / len(category.test),
            "n_train_features": len(train), "params": detector.get_params(),
        }
        if result.maps is not None and any(s.mask_path for s in category.test):
            if masks is None:
                masks = np.stack([s.load_mask(size) for s in category.test])
            row["pixel_auroc"] = pixel_auroc(masks, result.maps)
            row["au_pro"] = au_pro(masks, result.maps, 0.3)
        rows.append(row)
    reporter.report("evaluate", len(instances), len(instances))
    for row in rows:
        row["encode_seconds_total"] = encode_seconds
    return rows
