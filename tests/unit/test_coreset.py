"""Coreset samplers: known answers, equality with the plain greedy, the 2-approximation bound."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from inspector.detectors.coreset import (chunk_budgets, chunked_greedy_coreset, coreset_size, greedy_coreset,
                                         greedy_coreset_reference, random_coreset, random_projection)
from inspector.types import Cancelled, CancelToken, InspectorError, Reporter


def covering_radius(points: np.ndarray, centres: np.ndarray) -> float:
    """max over points of the distance to the nearest centre (the minimax objective, Eq. 5)."""
    d = np.linalg.norm(points[:, None, :] - points[centres][None, :, :], axis=2)
    return float(d.min(axis=1).max())


def test_coreset_size_rounds_and_validates():
    assert coreset_size(1000, 0.1) == 100
    assert coreset_size(1000, 0.01) == 10
    assert coreset_size(5, 0.01) == 1
    assert coreset_size(7, 1.0) == 7
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(InspectorError):
            coreset_size(10, bad)


def test_greedy_picks_one_point_per_separated_cluster():
    rng = np.random.default_rng(0)
    centres = np.eye(6, 10) * 100.0
    points = np.concatenate([c + rng.normal(0, 0.5, (50, 10)) for c in centres]).astype(np.float32)
    selected = greedy_coreset(points, 6, projection_dim=64, block_size=16)
    clusters = selected // 50
    assert sorted(clusters.tolist()) == list(range(6))
    assert len(set(selected.tolist())) == 6


def test_greedy_on_a_line_jumps_to_the_farther_end():
    points = np.linspace(0.0, 1.0, 101, dtype=np.float32)[:, None]
    for seed in range(4):
        start, second = greedy_coreset(points, 2, projection_dim=8, block_size=4, seed=seed)
        assert second == (100 if start < 50 else 0)


@pytest.mark.parametrize("block_size", [4, 16, 1000])
def test_pruned_greedy_equals_plain_greedy(block_size):
    rng = np.random.default_rng(1)
    points = (rng.normal(size=(1500, 12)) + rng.integers(0, 4, (1500, 1)) * 4.0).astype(np.float32)
    selected = greedy_coreset(points, 150, projection_dim=64, seed=5, block_size=block_size)
    start = int(np.random.default_rng(5).integers(len(points)))
    reference = greedy_coreset_reference(torch.from_numpy(points), 150, start=start)
    np.testing.assert_array_equal(selected, reference)


def test_greedy_is_within_twice_the_optimal_covering_radius():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(14, 3)).astype(np.float32)
    k = 3
    optimum = min(covering_radius(points, np.array(c)) for c in itertools.combinations(range(len(points)), k))
    selected = greedy_coreset(points, k, projection_dim=8, block_size=4)
    assert covering_radius(points, selected) <= 2.0 * optimum + 1e-6


def test_greedy_covers_better_than_random():
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.normal(0, 1, (900, 8)), rng.normal(12, 1, (30, 8))]).astype(np.float32)
    greedy = greedy_coreset(points, 40, projection_dim=64)
    random = random_coreset(len(points), 40, seed=0)
    assert covering_radius(points, greedy) < covering_radius(points, random)


def test_random_coreset_is_distinct_sorted_and_seeded():
    a = random_coreset(1000, 100, seed=4)
    assert len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, random_coreset(1000, 100, seed=4))
    assert not np.array_equal(a, random_coreset(1000, 100, seed=5))
    with pytest.raises(InspectorError):
        random_coreset(10, 11)


def test_random_projection_keeps_narrow_features_and_roughly_preserves_distances():
    rng = np.random.default_rng(6)
    narrow = rng.normal(size=(20, 8)).astype(np.float32)
    np.testing.assert_array_equal(random_projection(narrow, 16).numpy(), narrow)
    wide = rng.normal(size=(200, 512)).astype(np.float32)
    projected = random_projection(wide, 256, seed=1).numpy()
    assert projected.shape == (200, 256)
    ratio = np.linalg.norm(projected[0] - projected[1:], axis=1) / np.linalg.norm(wide[0] - wide[1:], axis=1)
    assert 0.8 < ratio.mean() < 1.2 and ratio.min() > 0.6


def test_greedy_reports_progress_and_can_be_cancelled():
    points = np.random.default_rng(7).normal(size=(3000, 4)).astype(np.float32)
    seen = []
    greedy_coreset(points, 200, reporter=Reporter(callback=seen.append))
    assert seen and seen[-1].total == 200 and all(p.stage == "fit" for p in seen)
    token = CancelToken()

    def cancel_early(progress):
        token.cancel()

    threads = torch.get_num_threads()
    with pytest.raises(Cancelled):
        greedy_coreset(points, 200, reporter=Reporter(callback=cancel_early, cancel_token=token))
    assert torch.get_num_threads() == threads  # the single-thread section restores the pool


def test_greedy_validates_the_requested_size():
    points = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(InspectorError):
        greedy_coreset(points, 6)
    assert greedy_coreset(points, 1).shape == (1,)


@pytest.mark.parametrize("force_dense", [True, False])
def test_dense_fallback_equals_plain_greedy_and_covers_like_exact_greedy(monkeypatch, force_dense):
    """The dense update (taken when pruning rarely skips) must give the same picks as the plain
    loop; with the 16-d JL projection the covering radius stays close to exact greedy's."""
    import inspector.detectors.coreset as coreset
    monkeypatch.setattr(coreset, "_DENSE_PROBE", 8)
    monkeypatch.setattr(coreset, "_DENSE_ACTIVE_FRACTION", -1.0 if force_dense else 2.0)
    rng = np.random.default_rng(3)
    points = rng.normal(size=(2000, 48)).astype(np.float32)
    selected = coreset.greedy_coreset(points, 120, projection_dim=48, seed=2, block_size=32)
    start = int(np.random.default_rng(2).integers(len(points)))
    np.testing.assert_array_equal(selected, greedy_coreset_reference(torch.from_numpy(points), 120, start=start))
    # approximate (projected) greedy: max min-distance within 15 % of the exact greedy's
    full = torch.from_numpy(points)

    def covering_radius(idx: np.ndarray) -> float:
        return float(torch.cdist(full, full[torch.from_numpy(idx)]).min(1).values.max())

    projected = coreset.greedy_coreset(points, 120, projection_dim=24, seed=2, block_size=32)
    assert covering_radius(projected) <= 1.15 * covering_radius(selected)


def _synthetic_patches(seed: int = 8) -> np.ndarray:
    """Clusters of unequal size and spread plus sparse outliers: what patch features look like."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(c, s, (n, 16)) for c, s, n in ((0, 1.0, 3000), (6, 0.3, 1500), (-5, 2.0, 1200))]
    parts.append(rng.uniform(-20, 20, (60, 16)))
    return np.concatenate(parts).astype(np.float32)


def _coverage(points: np.ndarray, selected: np.ndarray) -> float:
    full = torch.from_numpy(points)
    return float(torch.cdist(full, full[torch.from_numpy(selected)]).min(1).values.max())


def test_chunked_greedy_covers_close_to_the_exact_greedy_and_far_better_than_random():
    points = _synthetic_patches()
    k = 300
    exact = greedy_coreset(points, k, projection_dim=64, seed=0)
    chunked = chunked_greedy_coreset(points, k, chunk_size=1000, projection_dim=64, seed=0, workers=2)
    assert len(chunked) == k and len(np.unique(chunked)) == k
    assert _coverage(points, chunked) <= 1.35 * _coverage(points, exact)
    assert _coverage(points, chunked) < 0.8 * _coverage(points, random_coreset(len(points), k, seed=0))


def test_chunked_greedy_is_exact_greedy_inside_each_chunk_and_seeded():
    points = _synthetic_patches(9)
    a = chunked_greedy_coreset(points, 200, chunk_size=1500, seed=3, workers=1)
    np.testing.assert_array_equal(a, chunked_greedy_coreset(points, 200, chunk_size=1500, seed=3, workers=2))
    # the first chunk's picks are the plain greedy over that chunk's points, from its first point
    chunk = np.array_split(np.random.default_rng(3).permutation(len(points)), 4)[0]
    sizes = np.array([len(c) for c in np.array_split(np.arange(len(points)), 4)])
    budget = chunk_budgets(sizes, 200)[0]
    reference = greedy_coreset_reference(torch.from_numpy(points[chunk]), int(budget), start=0)
    np.testing.assert_array_equal(a[:budget], chunk[reference])
    # a small input is one chunk: the exact greedy itself
    np.testing.assert_array_equal(chunked_greedy_coreset(points[:500], 40, chunk_size=1000, seed=1),
                                  greedy_coreset(points[:500], 40, seed=1))


def test_chunk_budgets_are_proportional_and_sum_to_the_request():
    budgets = chunk_budgets(np.array([1000, 1000, 500, 3]), 250)
    assert budgets.sum() == 250 and budgets.min() >= 1
    assert budgets.tolist() == [100, 99, 50, 1]  # 99.88, 99.88, 49.94, 0.30: floors, then largest remainders
    assert chunk_budgets(np.array([2, 2, 2]), 6).tolist() == [2, 2, 2]
    with pytest.raises(InspectorError):
        chunk_budgets(np.array([5, 5]), 11)


def test_chunked_greedy_reports_on_the_calling_thread_and_can_be_cancelled():
    import threading

    points = np.random.default_rng(7).normal(size=(20000, 8)).astype(np.float32)
    seen = []
    caller = threading.get_ident()
    chunked_greedy_coreset(points, 400, chunk_size=2000, reporter=Reporter(
        callback=lambda p: seen.append((p, threading.get_ident()))))
    assert seen and seen[-1][0].done == 400 and {t for _, t in seen} == {caller}
    token = CancelToken()
    reports = []

    def cancel_after_the_first_chunk(progress):
        reports.append(progress.done)
        if progress.done > 0:
            token.cancel()

    with pytest.raises(Cancelled):  # mid-run: the remaining chunks are stopped or never started
        chunked_greedy_coreset(points, 400, chunk_size=2000, workers=1,
                               reporter=Reporter(callback=cancel_after_the_first_chunk, cancel_token=token))
    assert reports[-1] < 400
