"""KNN, Mahalanobis and PaDiM: the interface, known answers, save/load round trips."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import EmpiricalCovariance, LedoitWolf

from inspector.detectors import Detector, available_detectors, create_detector
from inspector.detectors.gaussian import fit_gaussians
from inspector.features.maps import FeatureMaps
from inspector.types import InspectorError, NotFittedError


def random_maps(rng: np.random.Generator, n: int, shift: float = 0.0, size: int = 64) -> FeatureMaps:
    """Three levels shaped like Lite0 stages 3, 5, 6 at a small input size."""
    levels = {3: rng.normal(shift, 1, (n, 8, 4, 4)), 5: rng.normal(shift, 1, (n, 6, 2, 2)), 6: rng.normal(shift, 1, (n, 5, 2, 2))}
    return FeatureMaps({k: v.astype(np.float32) for k, v in levels.items()}, (size, size))


@pytest.mark.parametrize("name", ["knn", "mahalanobis", "padim"])
def test_unfitted_detector_refuses_to_score(name, rng):
    with pytest.raises(NotFittedError):
        create_detector(name).score(random_maps(rng, 3))


@pytest.mark.parametrize("name,params", [("knn", {}), ("mahalanobis", {}), ("mahalanobis", {"covariance": "empirical"}),
                                          ("padim", {"n_features": 10})])
def test_outliers_score_higher_and_round_trip(name, params, rng, tmp_path):
    train = random_maps(rng, 60)
    test = FeatureMaps.concatenate([random_maps(rng, 10), random_maps(rng, 10, shift=3.0)])
    detector = create_detector(name, **params).fit(train)
    result = detector.score(test)
    assert result.image_scores.shape == (20,)
    assert result.image_scores[10:].min() > result.image_scores[:10].max()  # higher = more anomalous
    if detector.localizes:
        assert result.maps.shape == (20, 64, 64)
        assert np.allclose(result.image_scores, result.maps.reshape(20, -1).max(axis=1))
    else:
        assert result.maps is None
    detector.save(tmp_path / "m")
    reloaded = Detector._load_unchecked(tmp_path / "m")
    assert type(reloaded) is type(detector) and reloaded.get_params() == detector.get_params()
    np.testing.assert_array_equal(reloaded.score(test).image_scores, result.image_scores)


def test_knn_is_mean_distance_to_k_nearest():
    bank = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]], dtype=np.float32)
    train = FeatureMaps({3: bank[:, :, None, None]}, (8, 8))
    query = FeatureMaps({3: np.array([[[[0.0]], [[0.0]]]], dtype=np.float32)}, (8, 8))
    assert create_detector("knn", layers=(3,)).fit(train).score(query).image_scores[0] == pytest.approx(0.0)
    assert create_detector("knn", k=2, layers=(3,)).fit(train).score(query).image_scores[0] == pytest.approx(1.5)
    assert create_detector("knn", k=3, layers=(3,)).fit(train).score(query).image_scores[0] == pytest.approx(7 / 3)
    with pytest.raises(InspectorError):
        create_detector("knn", k=4, layers=(3,)).fit(train)


@pytest.mark.parametrize("estimator,name", [(LedoitWolf, "ledoit"), (EmpiricalCovariance, "empirical")])
def test_gaussian_fit_matches_scikit_learn(estimator, name, rng):
    x = rng.normal(size=(40, 12)) @ rng.normal(size=(12, 12))
    mean, precision = fit_gaussians(x[None], name)
    reference = estimator().fit(x)
    np.testing.assert_allclose(mean[0], reference.location_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(precision[0], reference.precision_, rtol=2e-3, atol=2e-3)


def test_mahalanobis_sums_per_level_distances(rng):
    train = random_maps(rng, 50)
    detector = create_detector("mahalanobis").fit(train)
    test = random_maps(rng, 4)
    per_level = detector.level_distances(test)
    assert per_level.shape == (4, 3)
    np.testing.assert_allclose(detector.score(test).image_scores, per_level.sum(axis=1))
    assert detector.level_dims == [8, 6, 5]


def test_padim_refuses_features_of_another_input_grid(rng):
    detector = create_detector("padim", n_features=8).fit(random_maps(rng, 20))
    other = FeatureMaps({3: rng.normal(size=(2, 8, 8, 8)).astype(np.float32), 5: rng.normal(size=(2, 6, 4, 4)).astype(np.float32),
                         6: rng.normal(size=(2, 5, 4, 4)).astype(np.float32)}, (128, 128))
    with pytest.raises(InspectorError, match="input size"):
        detector.score(other)


def test_registry_lists_core_detectors_and_rejects_unknown():
    names = available_detectors()
    assert {"knn", "mahalanobis", "padim"} <= set(names)
    with pytest.raises(InspectorError, match="Unknown detector"):
        create_detector("nope")
    with pytest.raises(InspectorError, match="Invalid parameters"):
        create_detector("knn", bogus=1)


def test_nan_features_are_refused(rng):
    maps = random_maps(rng, 5)
    maps.levels[3][0, 0, 0, 0] = np.nan
    with pytest.raises(InspectorError, match="NaN"):
        create_detector("mahalanobis").fit(maps)


def test_tampered_model_files_are_refused(rng, tmp_path):
    import json

    create_detector("mahalanobis").fit(random_maps(rng, 20)).save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "detector.json").read_text())
    meta["arrays"]["mean_0"] = [99]
    (tmp_path / "m" / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(InspectorError, match="shape"):
        Detector._load_unchecked(tmp_path / "m")
    meta["arrays"]["mean_0"] = [8]
    (tmp_path / "m" / "detector.json").write_text(json.dumps(meta))
    np.savez(tmp_path / "m" / "detector.npz", mean_0=np.zeros(8))
    with pytest.raises(InspectorError, match="lacks"):
        Detector._load_unchecked(tmp_path / "m")


def test_empirical_mahalanobis_matches_scikit_learn_when_samples_are_near_the_dimension():
    """Seed 000's regime: N close to d. Distances must agree with scikit-learn (float64)."""
    rng = np.random.default_rng(0)
    d, n = 100, 104
    scale = np.logspace(0, 2, d)  # an ill-conditioned covariance, as real features have
    train = rng.normal(size=(n, d)) * scale
    test = rng.normal(size=(10, d)) * scale
    maps = lambda x: FeatureMaps({3: x.astype(np.float32)[:, :, None, None]}, (8, 8))  # noqa: E731
    detector = create_detector("mahalanobis", layers=(3,), covariance="empirical").fit(maps(train))
    reference = np.sqrt(EmpiricalCovariance().fit(train.astype(np.float32).astype(np.float64)).mahalanobis(
        test.astype(np.float32).astype(np.float64)))
    np.testing.assert_allclose(detector.score(maps(test)).image_scores, reference, rtol=1e-6)
