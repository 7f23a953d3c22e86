"""Leak-free working points (issue 10, items 3 and 9): every detector's nominal calibration scores
come from good images the scoring model did not learn from, and the model says which source."""
from __future__ import annotations

import numpy as np
import pytest

from inspector.detectors import create_detector
from inspector.pipeline import FitSettings, fit_model
from tests.unit.test_fit_sequences import _features


def test_patchcore_leave_one_out_equals_a_refit_without_that_image():
    """With the whole bank kept (coreset ratio 1), excluding image i's patches is exactly a fit on
    the other images: the leave-one-out score must equal that refit's score of image i."""
    train = _features(np.random.default_rng(0), 6)
    detector = create_detector("patchcore", coreset_ratio=1.0).fit(train)
    assert np.all(detector.score(train).image_scores == 0)  # its own patches: the leak this avoids
    loo = detector.leave_one_out_scores(train, np.arange(6), np.arange(6))
    for i in range(6):
        others = np.array([j for j in range(6) if j != i])
        refit = create_detector("patchcore", coreset_ratio=1.0).fit(train.subset(others))
        assert loo[i] == pytest.approx(refit.score(train.subset(np.array([i]))).image_scores[0], rel=1e-5)


def test_patchcore_leave_one_out_also_excludes_augmented_copies_of_the_image():
    rng = np.random.default_rng(1)
    originals = _features(rng, 4)
    training = type(originals).concatenate([originals, originals])  # "copies" identical to their source
    detector = create_detector("patchcore", coreset_ratio=1.0).fit(training)
    groups = np.concatenate([np.arange(4), np.arange(4)])
    loo = detector.leave_one_out_scores(originals, np.arange(4), groups)
    assert np.all(loo > 0)  # a copy left in the bank would give exactly 0
    leaky = detector.leave_one_out_scores(originals, np.arange(4), np.arange(8))  # copies in other groups
    assert np.all(leaky == 0)


def test_patchcore_leave_one_out_with_an_ivf_index():
    train = _features(np.random.default_rng(2), 6)
    detector = create_detector("patchcore", coreset_ratio=1.0, index="ivfflat", nlist=2, nprobe=2).fit(train)
    assert np.all(detector.leave_one_out_scores(train, np.arange(6), np.arange(6)) > 0)


@pytest.fixture(scope="module")
def parts():
    from tests.conftest import make_part

    rng = np.random.default_rng(5)
    return [make_part(rng)[0] for _ in range(8)], [make_part(rng, defect=True)[0] for _ in range(3)]


@pytest.mark.parametrize("detector,params,source,memorises", [
    ("patchcore", {}, "leave-one-image-out", True),
    ("simplenet", {"epochs": 2}, "3-fold cross-validation", False),
    ("padim", {"n_features": 30}, "5-fold cross-validation", True),
])
def test_fit_model_calibrates_on_unseen_good_images(parts, detector, params, source, memorises):
    good, defects = parts
    model = fit_model(good, FitSettings(detector=detector, image_size=64, detector_params=params)).model
    assert model.info["calibration_source"].startswith(source)
    assert "augmented" not in model.info["calibration_source"]
    nominal = model.threshold.nominal_scores
    assert len(nominal) == len(good) and np.all(np.isfinite(nominal))
    own = np.array([p.score for p in model.predict(good)])
    if memorises:  # unseen images score above the model's own training images
        assert nominal.mean() > own.mean()
        assert model.threshold.fail > np.max(own)
    verdicts = [p.verdict for p in model.predict(defects)]
    assert all(v in ("PASS", "REVIEW", "FAIL") for v in verdicts)


def test_patchcore_with_augmentation_calibrates_without_the_copies(parts):
    from inspector.augment.policy import PRESETS

    good, _ = parts
    settings = FitSettings(detector="patchcore", image_size=64, policy=PRESETS["object"].to_json(), aug_factor=1)
    model = fit_model(good[:5], settings).model
    assert "augmented copies" in model.info["calibration_source"]
    assert np.all(model.threshold.nominal_scores > 0)


def test_working_point_rates_count_non_finite_scores_as_not_passed():
    from inspector.evaluation.metrics import working_point_rates

    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([1.0, 2.0, 5.0, np.nan, 6.0, 4.0, np.inf, 7.0])
    rates = working_point_rates(labels, scores, 5.0)
    assert rates["false_reject_rate"] == 0.5 and rates["defect_recall"] == 0.75


def test_evaluate_reports_the_fit_working_point(synthetic_category):
    from inspector.detectors.params import DetectorSpec
    from inspector.evaluation.standard import evaluate_category
    from inspector.features.extractor import FeatureConfig
    from inspector.io.datasets import load_category

    category = load_category(synthetic_category)
    [row] = evaluate_category(category, [DetectorSpec("knn")], FeatureConfig("efficientnet_lite0", 64))
    model = fit_model([s.load() for s in category.train], FitSettings(detector="knn", image_size=64)).model
    assert row["working_point"] == pytest.approx(model.threshold.fail, rel=1e-5)
    assert row["calibration_source"] == model.info["calibration_source"]
    scores = np.array([p.score for p in model.predict([s.load() for s in category.test])])
    labels = category.test_labels
    assert row["false_reject_rate"] == pytest.approx(np.mean(scores[labels == 0] >= model.threshold.fail))
    assert row["defect_recall"] == pytest.approx(np.mean(scores[labels == 1] >= model.threshold.fail))
