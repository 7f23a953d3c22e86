"""PatchCore: patch features, Eq. 7 re-weighting, localisation, save/load with a faiss index."""
from __future__ import annotations

import math

import faiss
import numpy as np
import pytest
import torch

from inspector.detectors import Detector, create_detector
from inspector.detectors.patch_features import patch_features, patch_features_torch, patch_grid
from inspector.detectors.patchcore import INDEX_FILE, reweighted_image_score
from inspector.features.maps import FeatureMaps
from inspector.types import InspectorError, NotFittedError

SIZE = 32


def small_maps(rng: np.random.Generator, n: int, defect: bool = False) -> FeatureMaps:
    """Two levels shaped like Lite0 stages 2 and 4 (strides 8 and 16) of a 32 px input."""
    fine = rng.normal(0, 0.3, (n, 6, 4, 4))
    coarse = rng.normal(0, 0.3, (n, 5, 2, 2))
    if defect:  # a strong local defect in the top-left quarter
        fine[:, :, 0:2, 0:2] += 6.0
        coarse[:, :, 0, 0] += 6.0
    return FeatureMaps({2: fine.astype(np.float32), 4: coarse.astype(np.float32)}, (SIZE, SIZE))


def test_patch_features_average_3x3_and_upsample_the_coarse_level():
    fine = torch.zeros(1, 1, 4, 4)
    fine[0, 0, 1, 1] = 9.0
    coarse = torch.ones(1, 2, 2, 2)
    out = patch_features_torch([fine, coarse])
    assert out.shape == (1, 4, 4, 3)
    # 3x3 mean around (1, 1) holds the 9 once among 9 cells; the corner (0, 0) averages 4 cells
    assert out[0, 1, 1, 0].item() == pytest.approx(1.0)
    assert out[0, 0, 0, 0].item() == pytest.approx(9.0 / 4.0)
    assert torch.allclose(out[..., 1:], torch.ones(1, 4, 4, 2))  # constant level stays constant


def test_fixed_feature_dim_gives_each_level_an_equal_share(rng):
    maps = small_maps(rng, 2)
    patches, grid = patch_features(maps, (2, 4), feature_dim=8)
    assert grid.dim == 8 and patches.shape == (2 * 16, 8)
    assert patch_grid(maps, (2, 4), 8) == grid
    _, raw_grid = patch_features(maps, (2, 4))
    assert raw_grid.dim == 11 and (raw_grid.height, raw_grid.width) == (4, 4)


def test_eq7_weight_matches_the_softmax_formula():
    test = np.array([0.0, 0.0])
    nearest = np.array([1.0, 0.0])
    support = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    weight, score = reweighted_image_score(test, nearest, support)
    expected = 1.0 - math.exp(1.0) / (math.exp(1.0) + math.exp(3.0) + math.exp(2.0))
    assert weight == pytest.approx(expected)
    assert score == pytest.approx(expected * 1.0)


def test_eq7_trusts_rare_nominal_features_more():
    test = np.zeros(2)
    nearest = np.array([1.0, 0.0])
    dense = np.array([[1.0, 0.0], [1.0, 0.01], [1.0, -0.01]])  # m* among near-identical neighbours
    sparse = np.array([[1.0, 0.0], [9.0, 0.0], [0.0, 9.0]])  # m* isolated in the memory bank
    weight_dense, _ = reweighted_image_score(test, nearest, dense)
    weight_sparse, _ = reweighted_image_score(test, nearest, sparse)
    assert weight_dense == pytest.approx(1.0 - 1.0 / 3.0, abs=1e-3)
    assert weight_sparse > 0.99
    assert reweighted_image_score(test, nearest, nearest[None])[0] == pytest.approx(0.0)  # b = 1


@pytest.mark.parametrize("params", [{}, {"sampler": "random"}, {"index": "ivfflat", "nlist": 4},
                                    {"score_neighbors": 5, "feature_dim": 8}])
def test_defects_score_higher_are_localised_and_round_trip(params, rng, tmp_path):
    train = small_maps(rng, 40)
    test = FeatureMaps.concatenate([small_maps(rng, 4), small_maps(rng, 4, defect=True)])
    detector = create_detector("patchcore", coreset_ratio=0.25, **params).fit(train)
    result = detector.score(test)
    assert result.image_scores.shape == (8,) and result.maps.shape == (8, SIZE, SIZE)
    assert result.image_scores[4:].min() > result.image_scores[:4].max()  # higher = more anomalous
    for anomaly_map in result.maps[4:]:
        row, col = np.unravel_index(np.argmax(anomaly_map), anomaly_map.shape)
        assert row < SIZE // 2 and col < SIZE // 2  # the defect's quarter
    assert detector.memory_bank_.shape[0] == round(40 * 16 * 0.25)
    detector.save(tmp_path / "m")
    assert faiss.read_index(str(tmp_path / "m" / INDEX_FILE)).ntotal == detector.memory_bank_.shape[0]
    reloaded = Detector._load_unchecked(tmp_path / "m")
    assert reloaded.get_params() == detector.get_params()
    again = reloaded.score(test)
    np.testing.assert_allclose(again.image_scores, result.image_scores, rtol=1e-6)
    np.testing.assert_allclose(again.maps, result.maps, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(reloaded.memory_bank_, detector.memory_bank_)


def test_image_score_is_eq7_applied_to_the_worst_patch(rng):
    train = small_maps(rng, 20)
    test = small_maps(rng, 3, defect=True)
    plain = create_detector("patchcore", reweight_neighbors=1, coreset_ratio=0.5).fit(train)
    weighted = create_detector("patchcore", reweight_neighbors=4, coreset_ratio=0.5).fit(train)
    scores, nearest, patches = weighted.patch_scores(test)
    flat = scores.reshape(3, -1)
    np.testing.assert_allclose(plain.score(test).image_scores, flat.max(axis=1), rtol=1e-6)
    bank = weighted.memory_bank_
    expected = []
    for i in range(3):
        worst = int(np.argmax(flat[i]))
        m_star = bank[nearest[i, worst]]
        order = np.argsort(np.linalg.norm(bank - m_star, axis=1))[:4]
        expected.append(reweighted_image_score(patches[i, worst], m_star, bank[order])[1])
    np.testing.assert_allclose(weighted.score(test).image_scores, expected, rtol=1e-5)
    assert np.all(weighted.score(test).image_scores <= flat.max(axis=1) + 1e-6)


def test_patchcore_refuses_misuse(rng, tmp_path):
    with pytest.raises(NotFittedError):
        create_detector("patchcore").score(small_maps(rng, 1))
    with pytest.raises(InspectorError, match="sampler"):
        create_detector("patchcore", sampler="kmeans").fit(small_maps(rng, 4))
    detector = create_detector("patchcore", feature_dim=8).fit(small_maps(rng, 6))
    other = FeatureMaps({2: np.zeros((1, 6, 4, 4), np.float32), 4: np.zeros((1, 5, 2, 2), np.float32)}, (SIZE, SIZE))
    detector.score(other)  # same shape: fine
    with pytest.raises(InspectorError, match="channels"):
        create_detector("patchcore").fit(small_maps(rng, 6)).score(
            FeatureMaps({2: np.zeros((1, 7, 4, 4), np.float32), 4: np.zeros((1, 5, 2, 2), np.float32)}, (SIZE, SIZE)))
    detector.save(tmp_path / "m")
    (tmp_path / "m" / INDEX_FILE).write_bytes(b"not a faiss index")
    with pytest.raises(InspectorError):
        Detector._load_unchecked(tmp_path / "m")


def test_ivf_never_returns_missing_neighbours(rng):
    """One probed list of about four vectors cannot hold k = 5 neighbours: those queries are redone."""
    train, test = small_maps(rng, 8), small_maps(rng, 2)
    detector = create_detector("patchcore", index="ivfflat", nlist=16, nprobe=1, score_neighbors=5,
                               coreset_ratio=0.5).fit(train)
    queries = patch_features(test, (2, 4), detector.feature_dim)[0]
    _, raw = detector.index_.search(queries, 5)
    assert np.any(raw < 0)  # the situation the fallback exists for
    distances, neighbours = detector._search(queries, 5)
    assert np.all(neighbours >= 0) and np.all(np.isfinite(distances))
    assert np.all(np.isfinite(detector.score(test).image_scores))


def test_memory_bank_budget_caps_the_coreset(rng):
    train = small_maps(rng, 6)
    capped = create_detector("patchcore", coreset_ratio=0.5, max_bank=7).fit(train)
    assert capped.memory_bank_.shape[0] == 7
    uncapped = create_detector("patchcore", coreset_ratio=0.5).fit(train)
    assert uncapped.memory_bank_.shape[0] == round(0.5 * uncapped.n_train_patches_)
    with pytest.raises(InspectorError):
        create_detector("patchcore", max_bank=0).fit(train)


def test_chunked_coreset_is_the_default_and_chunk_zero_is_the_papers_exact_greedy(rng, monkeypatch):
    import inspector.detectors.patchcore as patchcore

    train = small_maps(rng, 40)  # 40 x 16 = 640 patches
    calls = []
    real_chunked, real_exact = patchcore.chunked_greedy_coreset, patchcore.greedy_coreset
    monkeypatch.setattr(patchcore, "chunked_greedy_coreset",
                        lambda *a, **k: calls.append("chunked") or real_chunked(*a, **k))
    monkeypatch.setattr(patchcore, "greedy_coreset", lambda *a, **k: calls.append("exact") or real_exact(*a, **k))
    chunked = create_detector("patchcore", coreset_chunk=100, coreset_ratio=0.25).fit(train)
    exact = create_detector("patchcore", coreset_chunk=0, coreset_ratio=0.25).fit(train)
    assert calls == ["chunked", "exact"]
    assert len(chunked.memory_bank_) == len(exact.memory_bank_) == 160
    assert len(np.unique(chunked.coreset_indices_)) == 160
    assert not np.array_equal(np.sort(chunked.coreset_indices_), np.sort(exact.coreset_indices_))
    assert create_detector("patchcore").coreset_chunk > 0
    with pytest.raises(InspectorError, match="coreset_chunk"):
        create_detector("patchcore", coreset_chunk=-1).fit(train)


def test_model_saved_before_chunking_loads_as_exact_greedy(rng, tmp_path):
    import json

    detector = create_detector("patchcore", coreset_ratio=0.5).fit(small_maps(rng, 6))
    detector.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "detector.json"
    meta = json.loads(meta_path.read_text())
    del meta["params"]["coreset_chunk"]  # what an older build wrote
    meta_path.write_text(json.dumps(meta))
    reloaded = Detector._load_unchecked(tmp_path / "m")
    assert reloaded.coreset_chunk == 0
    test = small_maps(rng, 2, defect=True)
    np.testing.assert_allclose(reloaded.score(test).image_scores, detector.score(test).image_scores, rtol=1e-6)


def test_search_in_batches_equals_one_search(rng, monkeypatch):
    import inspector.detectors.nearest_neighbours as nearest_neighbours

    detector = create_detector("patchcore", coreset_ratio=0.5).fit(small_maps(rng, 8))
    queries = patch_features(small_maps(rng, 5), (2, 4), detector.feature_dim)[0]  # 80 rows
    whole = detector._search(queries, 3, exclude=np.array([0, 4]))
    monkeypatch.setattr(nearest_neighbours, "SEARCH_BATCH", 7)
    batched = detector._search(queries, 3, exclude=np.array([0, 4]))
    np.testing.assert_array_equal(batched[1], whole[1])
    np.testing.assert_allclose(batched[0], whole[0], rtol=1e-6)
    assert not np.isin(batched[1], [0, 4]).any()
