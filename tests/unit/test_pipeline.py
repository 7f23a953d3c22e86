"""fit_model -> InspectionModel: stages, refinement, calibration, save/load, cancel."""
from __future__ import annotations

import numpy as np
import pytest

from inspector.io.datasets import load_category
from inspector.pipeline import FitSettings, InspectionModel, fit_model
from inspector.types import CancelToken, Cancelled, InspectorError, Reporter


@pytest.fixture
def category(synthetic_category):
    return load_category(synthetic_category)


def test_fit_predict_save_load(category, tmp_path):
    stages = []
    images = [s.load() for s in category.train]
    settings = FitSettings(detector="padim", image_size=64, detector_params={"n_features": 50}, refine_ratio=0.1)
    result = fit_model(images, settings, Reporter(lambda p: stages.append(p.stage)))
    assert {"extract", "refine", "fit", "calibrate"} <= set(stages)
    assert result.ranking is not None and result.ranking.flagged.sum() == 1
    assert len(result.kept_indices) == len(images) - 1
    model = result.model
    assert len(model.threshold.nominal_scores) == len(images) - 1  # cross-validated good scores
    test_images = [s.load() for s in category.test]
    predictions = model.predict(test_images)
    labels = category.test_labels
    scores = np.array([p.score for p in predictions])
    assert scores[labels == 1].min() > scores[labels == 0].max()
    assert all(p.anomaly_map.shape == img.shape[:2] for p, img in zip(predictions, test_images))
    assert [p.verdict for p, label in zip(predictions, labels) if label == 1] == ["FAIL"] * int(labels.sum())
    model.save(tmp_path / "model")
    reloaded = InspectionModel.load(tmp_path / "model")
    np.testing.assert_array_equal([p.score for p in reloaded.predict(test_images)], scores)
    assert reloaded.threshold.fail == model.threshold.fail
    assert reloaded.settings == model.settings


def test_augmentation_adds_training_features(category):
    from inspector.augment.policy import PRESETS

    images = [s.load() for s in category.train[:5]]
    settings = FitSettings(detector="mahalanobis", image_size=64, policy=PRESETS["bottle"].to_json(), aug_factor=3)
    result = fit_model(images, settings)
    assert result.model.info["n_training_features"] == 5 * (1 + 3)


def test_cancel_during_fit_stops_before_fitting(category):
    token = CancelToken()
    stages = []

    def on_progress(progress):
        stages.append(progress.stage)
        if progress.stage == "extract" and progress.done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        fit_model([s.load() for s in category.train], FitSettings(detector="mahalanobis", image_size=64),
                  Reporter(on_progress, token))
    assert "extract" in stages and "fit" not in stages and "calibrate" not in stages


def test_model_refuses_other_backbone_weights(category, tmp_path):
    result = fit_model([s.load() for s in category.train[:4]], FitSettings(detector="knn", image_size=64))
    result.model.info["weights_sha256"] = "0" * 64
    [prediction] = result.model.predict([category.test[0].load()])
    assert prediction.verdict == "ERROR" and "other 'efficientnet_lite0' weights" in prediction.error


def test_settings_are_validated():
    with pytest.raises(InspectorError):
        fit_model([np.zeros((32, 32, 3), np.uint8)] * 3, FitSettings(refine_ratio=1.5))
    with pytest.raises(InspectorError, match="policy"):
        fit_model([np.zeros((32, 32, 3), np.uint8)] * 3, FitSettings(aug_factor=2))
    with pytest.raises(InspectorError, match="At least 2"):
        fit_model([np.zeros((32, 32, 3), np.uint8)], FitSettings())
