"""Classic OOD models (seed 003): signs, NumPy re-scoring == scikit-learn, pickle-free round trips,
Table 3 grids and the resumable research sweep."""
from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.detectors import Detector, create_detector
from inspector.detectors.classic import (CLASSIC_DETECTORS, CLASSIC_PARAM_GRIDS, KDE_KERNELS, OUTSIDE_SUPPORT_SCORE,
                                         pooled_features)
from inspector.evaluation.sweep import best_rows, format_table, read_results, run_sweep, sweep_configs
from inspector.features.maps import FeatureMaps
from inspector.store.atomic import read_npz
from inspector.types import InspectorError, NotFittedError, Reporter


def pooled_maps(rng: np.random.Generator, n: int, shift: float = 0.0) -> FeatureMaps:
    """Levels shaped like Lite0 stages 3, 5, 6 of a tiny input; correlated, so PCA has structure."""
    mixing = np.random.default_rng(99).normal(size=(6, 14))
    latent = (rng.normal(size=(n, 6)) + shift) @ mixing + rng.normal(0, 0.1, (n, 14))
    spatial = rng.normal(0, 0.05, (n, 14, 2, 2))
    x = latent[:, :, None, None] + spatial
    return FeatureMaps({3: x[:, :6].astype(np.float32), 5: x[:, 6:10].astype(np.float32),
                        6: x[:, 10:].astype(np.float32)}, (32, 32))


DEFAULTS = {"ocsvm": {}, "iforest": {}, "kde": {}, "lof": {}, "elliptic": {"n_components": 5}}


def sklearn_anomaly_scores(detector, x: np.ndarray) -> np.ndarray:
    """The fitted scikit-learn model's own scores, turned to higher = more anomalous."""
    model = detector.model_
    if detector.name == "ocsvm":
        return -model.decision_function(x)
    if detector.name == "elliptic":
        return -model.score_samples(detector.pca_.transform(x))
    return -model.score_samples(x)


@pytest.mark.parametrize("name", CLASSIC_DETECTORS)
@pytest.mark.parametrize("standardize", [False, True])
def test_outliers_score_higher_match_sklearn_and_round_trip(name, standardize, rng, tmp_path):
    train = pooled_maps(rng, 60)
    test = FeatureMaps.concatenate([pooled_maps(rng, 8), pooled_maps(rng, 8, shift=4.0)])
    detector = create_detector(name, standardize=standardize, **DEFAULTS[name]).fit(train)
    result = detector.score(test)
    assert result.maps is None and result.image_scores.shape == (16,)
    assert result.image_scores[8:].min() > result.image_scores[:8].max()  # higher = more anomalous
    x = (pooled_features(test, detector.layers) - detector.mean_) / detector.scale_
    np.testing.assert_allclose(result.image_scores, sklearn_anomaly_scores(detector, x), rtol=1e-6, atol=1e-9)
    detector.save(tmp_path / "m")
    arrays = read_npz(tmp_path / "m" / "detector.npz")  # refuses object (pickled) arrays
    assert all(a.dtype != object for a in arrays.values())
    reloaded = Detector._load_unchecked(tmp_path / "m")
    assert type(reloaded) is type(detector) and not hasattr(reloaded, "model_")
    np.testing.assert_allclose(reloaded.score(test).image_scores, result.image_scores, rtol=1e-6)


@pytest.mark.parametrize("kernel", ["linear", "sigmoid", "poly"])
def test_ocsvm_kernels_rescore_like_sklearn(kernel, rng, tmp_path):
    train, test = pooled_maps(rng, 40), pooled_maps(rng, 10, shift=1.0)
    detector = create_detector("ocsvm", kernel=kernel, degree=3, standardize=True).fit(train)
    x = (pooled_features(test, detector.layers) - detector.mean_) / detector.scale_
    np.testing.assert_allclose(detector.score(test).image_scores, -detector.model_.decision_function(x),
                               rtol=1e-6, atol=1e-9)
    detector.save(tmp_path / "m")
    np.testing.assert_allclose(Detector._load_unchecked(tmp_path / "m").score(test).image_scores,
                               detector.score(test).image_scores, rtol=1e-6)


@pytest.mark.parametrize("kernel", KDE_KERNELS)
def test_kde_log_density_matches_sklearn_for_every_kernel(kernel, rng):
    train, test = pooled_maps(rng, 50), pooled_maps(rng, 10)
    detector = create_detector("kde", kernel=kernel, bandwidth=40.0).fit(train)
    x = pooled_features(test, detector.layers)
    reference = detector.model_.score_samples(x)
    assert np.all(np.isfinite(reference))
    np.testing.assert_allclose(detector.log_density(x), reference, rtol=1e-6)


def test_kde_outside_every_compact_kernel_is_finite_and_ordered_by_distance(rng):
    train = pooled_maps(rng, 30)
    far = FeatureMaps.concatenate([pooled_maps(rng, 1, shift=50.0), pooled_maps(rng, 1, shift=100.0)])
    scores = create_detector("kde", kernel="tophat", bandwidth=0.5).fit(train).score(far).image_scores
    assert np.all(np.isfinite(scores)) and np.all(scores > OUTSIDE_SUPPORT_SCORE)
    assert scores[1] > scores[0]


def test_isolation_forest_with_feature_subsampling_matches_sklearn(rng, tmp_path):
    train, test = pooled_maps(rng, 80), pooled_maps(rng, 12, shift=2.0)
    detector = create_detector("iforest", max_features=0.5, n_estimators=30, seed=3).fit(train)
    x = pooled_features(test, detector.layers)
    np.testing.assert_allclose(detector.score(test).image_scores, -detector.model_.score_samples(x), rtol=1e-12)
    detector.save(tmp_path / "m")
    np.testing.assert_allclose(Detector._load_unchecked(tmp_path / "m").score(test).image_scores,
                               detector.score(test).image_scores, rtol=1e-6)


def test_elliptic_clips_components(rng):
    detector = create_detector("elliptic", n_components=256).fit(pooled_maps(rng, 30))
    assert detector.components_.shape == (14, 14)  # (30 - 1) // 2: the MCD support stays full rank


def test_classic_detectors_refuse_misuse(rng, tmp_path):
    with pytest.raises(NotFittedError):
        create_detector("lof").score(pooled_maps(rng, 2))
    with pytest.raises(InspectorError):
        create_detector("kde", kernel="triangle").fit(pooled_maps(rng, 10))
    detector = create_detector("lof", n_neighbors=5).fit(pooled_maps(rng, 10))
    narrow = FeatureMaps({3: np.zeros((1, 2, 2, 2), np.float32), 5: np.zeros((1, 4, 2, 2), np.float32),
                          6: np.zeros((1, 4, 2, 2), np.float32)}, (32, 32))
    with pytest.raises(InspectorError, match="pooled features"):
        detector.score(narrow)
    detector.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "detector.json").read_text())
    meta["state"]["k"] = 99
    (tmp_path / "m" / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(InspectorError, match="invalid"):
        Detector._load_unchecked(tmp_path / "m")


def test_param_grids_are_seed_003_table_3_and_all_construct():
    sizes = {name: len(grid) for name, grid in CLASSIC_PARAM_GRIDS.items()}
    assert sizes == {"ocsvm": 10, "iforest": 19, "kde": 24, "lof": 14, "elliptic": 4}
    assert {p.get("degree") for p in CLASSIC_PARAM_GRIDS["ocsvm"] if p["kernel"] == "poly"} == {3, 5, 8, 13, 21, 34, 55}
    for name, params in sweep_configs():
        create_detector(name, **params)


def test_sweep_records_auroc_and_resumes(rng, tmp_path):
    train = pooled_maps(rng, 40)
    test = FeatureMaps.concatenate([pooled_maps(rng, 6), pooled_maps(rng, 6, shift=3.0)])
    labels = [0] * 6 + [1] * 6
    grids = {"lof": [{"n_neighbors": 4}, {"n_neighbors": 8}], "elliptic": [{"n_components": 4}],
             "kde": [{"bandwidth": 0.5, "kernel": "tophat"}]}
    path = tmp_path / "sweep.jsonl"
    rows = run_sweep(train, test, labels, grids=grids, results_path=path)
    assert [(r.detector, r.params) for r in rows] == sweep_configs(grids)
    assert all(r.error is None and r.image_auroc == pytest.approx(1.0) for r in rows)
    assert len(read_results(path)) == 4
    # a torn last line (crash mid-write) and one missing row: only that row runs again
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[3][:20])
    seen = []
    again = run_sweep(train, test, labels, grids=grids, results_path=path,
                      reporter=Reporter(seen.append))
    assert [r.key for r in again] == [r.key for r in rows]
    assert len(read_results(path)) == 4
    assert set(best_rows(again)) == {"lof", "elliptic", "kde"}
    assert "lof" in format_table(again)
    assert rows[0].extra["k"] == 4 and rows[2].extra["n_components"] == 4  # fitted values recorded


def test_sweep_turns_a_failing_configuration_into_a_row(rng):
    train = pooled_maps(rng, 20)
    test = FeatureMaps.concatenate([pooled_maps(rng, 3), pooled_maps(rng, 3, shift=3.0)])
    rows = run_sweep(train, test, [0, 0, 0, 1, 1, 1], grids={"kde": [{"kernel": "triangle"}]})
    assert rows[0].error and np.isnan(rows[0].image_auroc)
    with pytest.raises(InspectorError):
        run_sweep(train, test, [0] * 6, grids={"lof": [{}]})


def test_lof_with_fewer_images_than_neighbours_caps_k(rng, tmp_path):
    train, test = pooled_maps(rng, 8), pooled_maps(rng, 4, shift=3.0)
    detector = create_detector("lof", n_neighbors=20).fit(train)
    assert detector.k_ == 7
    x = pooled_features(test, detector.layers)
    np.testing.assert_allclose(detector.score(test).image_scores, -detector.model_.score_samples(x), rtol=1e-6)
