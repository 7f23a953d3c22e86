"""PaDiM's image score (issue 11): the paper's max of the smoothed map by default, or the mean of a top
fraction of its pixels; models saved before the parameter existed load with the max they were calibrated on."""
from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.detectors.anomaly_maps import image_scores
from inspector.detectors.base import Detector
from inspector.detectors.padim import PaDiMDetector
from inspector.features.maps import FeatureMaps
from inspector.types import InspectorError


def _features(n: int = 6, seed: int = 1) -> FeatureMaps:
    rng = np.random.default_rng(seed)
    return FeatureMaps({3: rng.random((n, 8, 4, 4), np.float32), 5: rng.random((n, 8, 2, 2), np.float32),
                        6: rng.random((n, 8, 2, 2), np.float32)}, (64, 48))


def test_image_scores_max_and_top_fraction():
    maps = np.random.default_rng(0).random((3, 10, 10)).astype(np.float32)
    assert np.allclose(image_scores(maps, 0.0), maps.reshape(3, -1).max(axis=1))
    assert np.allclose(image_scores(maps, 0.05), np.sort(maps.reshape(3, -1), axis=1)[:, -5:].mean(axis=1))
    assert np.allclose(image_scores(maps, 1.0), maps.reshape(3, -1).mean(axis=1))
    assert np.allclose(image_scores(maps, 1e-6), maps.reshape(3, -1).max(axis=1))  # at least one pixel


def test_padim_scores_with_its_top_fraction_and_the_paper_max():
    train, test = _features(), _features(4, seed=2)
    default = PaDiMDetector(n_features=10, top_fraction=0.01).fit(train)
    paper = PaDiMDetector(n_features=10).fit(train)
    assert paper.top_fraction == 0.0
    result, result_max = default.score(test), paper.score(test)
    assert np.allclose(result.maps, result_max.maps)  # same maps, only the image score differs
    assert np.allclose(result_max.image_scores, result_max.maps.reshape(4, -1).max(axis=1))
    assert np.allclose(result.image_scores, image_scores(result.maps, 0.01))
    assert np.all(result.image_scores < result_max.image_scores)
    with pytest.raises(InspectorError, match="top_fraction"):
        PaDiMDetector(top_fraction=1.5).validate_params()


def test_a_padim_saved_before_top_fraction_loads_with_the_max(tmp_path):
    detector = PaDiMDetector(n_features=10, top_fraction=0.05).fit(_features())
    detector.save(tmp_path / "d")
    meta_path = tmp_path / "d" / "detector.json"
    meta = json.loads(meta_path.read_text())
    meta["params"].pop("top_fraction")
    meta_path.write_text(json.dumps(meta))
    old = Detector._load_unchecked(tmp_path / "d")  # the detector folder alone, as model_manifest.read_model loads it once verified
    assert old.top_fraction == 0.0
    test = _features(3, seed=3)
    assert np.allclose(old.score(test).image_scores, detector.score(test).maps.reshape(3, -1).max(axis=1))


def test_fit_in_location_chunks_equals_one_batch(monkeypatch):
    """The chunked fit (bounded memory on large grids) gives the same Gaussians as one batch."""
    import inspector.detectors.padim as padim_module

    rng = np.random.default_rng(3)
    levels = {3: rng.normal(size=(12, 16, 6, 5)).astype(np.float32),
              5: rng.normal(size=(12, 24, 3, 3)).astype(np.float32),
              6: rng.normal(size=(12, 8, 3, 3)).astype(np.float32)}
    features = FeatureMaps(levels=levels, input_size=(96, 80))
    whole = PaDiMDetector(n_features=20).fit(features)
    monkeypatch.setattr(padim_module, "FIT_CHUNK_LOCATIONS", 7)  # 30 locations: 5 chunks, the last short
    chunked = PaDiMDetector(n_features=20).fit(features)
    assert chunked.means_.shape == whole.means_.shape == (30, 20)
    np.testing.assert_allclose(chunked.means_, whole.means_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(chunked.precisions_, whole.precisions_, rtol=1e-4, atol=1e-5)
