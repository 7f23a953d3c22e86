"""A fit and an inspection at the same time give the scores they give one after the other (issue 10).

Both go through the one backbone owner (features/backbone_owner.py): their forward passes are
queued on its thread, batch by batch, and an inspection's batches are served before a fit's.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from inspector.features import backbone_owner
from inspector.features.extractor import FeatureConfig, FeatureExtractor
from inspector.pipeline import FitSettings, fit_model
from inspector.types import Reporter

SETTINGS = FitSettings(image_size=64, detector="padim", device="cpu")


def _parts(seed: int, count: int, size: int = 72) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, (size, size, 3)).astype(np.int16)
    return [np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def test_concurrent_extractions_match_sequential():
    extractor = FeatureExtractor(FeatureConfig(image_size=64), device="cpu", batch_size=1)
    rng = np.random.default_rng(1)
    first = [rng.integers(0, 255, (80, 90, 3), dtype=np.uint8) for _ in range(4)]
    second = [rng.integers(0, 255, (70, 60, 3), dtype=np.uint8) for _ in range(4)]
    expected = [extractor.extract(first, (2, 3)), extractor.extract(second, (2, 3))]
    results: dict[int, object] = {}

    def run(slot: int, images) -> None:
        results[slot] = extractor.extract(images, (2, 3))

    threads = [threading.Thread(target=run, args=(0, first)), threading.Thread(target=run, args=(1, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for slot in (0, 1):
        for layer in (2, 3):
            assert np.array_equal(results[slot].levels[layer], expected[slot].levels[layer])


def test_a_fit_and_an_inspection_at_once_score_as_one_after_the_other():
    train, probes = _parts(0, 40), _parts(1, 5)
    inspected = fit_model(_parts(2, 8), SETTINGS).model  # the model the operator inspects with
    sequential_fit = fit_model(train, SETTINGS).model
    sequential_scores = [p.score for p in inspected.predict(probes)]

    start = threading.Barrier(2)
    out: dict[str, object] = {}
    concurrent_scores: list[list[float]] = []

    def fit() -> None:
        start.wait()
        out["fit"] = fit_model(train, SETTINGS).model

    def inspect() -> None:
        start.wait()
        while "fit" not in out and len(concurrent_scores) < 50:  # inspect again and again while the fit runs
            concurrent_scores.append([p.score for p in inspected.predict(probes)])

    threads = [threading.Thread(target=fit), threading.Thread(target=inspect)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    concurrent_fit = out["fit"]
    assert len(concurrent_scores) >= 2
    for scores in concurrent_scores:
        assert scores == sequential_scores  # bit for bit: no batch ever saw the other's capture
    assert np.isfinite(sequential_scores).all()
    assert concurrent_fit.threshold.fail == sequential_fit.threshold.fail
    assert np.array_equal(concurrent_fit.threshold.nominal_scores, sequential_fit.threshold.nominal_scores)
    assert [p.score for p in concurrent_fit.predict(probes)] == [p.score for p in sequential_fit.predict(probes)]


def test_an_inspection_submitted_during_a_long_fit_finishes_before_it():
    train, probe = _parts(3, 80), _parts(4, 1)
    inspected = fit_model(_parts(5, 6), SETTINGS).model
    first_batch = threading.Event()
    ended: dict[str, float] = {}

    def on_progress(progress) -> None:
        if progress.stage == "extract" and progress.done > 0:
            first_batch.set()

    def fit() -> None:
        fit_model(train, SETTINGS, Reporter(on_progress))
        ended["fit"] = time.monotonic()

    owner = backbone_owner.default_owner()
    fitting = threading.Thread(target=fit)
    fitting.start()
    assert first_batch.wait(300)
    submitted = owner.executed
    prediction = inspected.predict(probe)[0]
    ended["inspect"] = time.monotonic()
    fitting.join(600)
    assert np.isfinite(prediction.score)
    assert ended["inspect"] < ended["fit"]
    after = owner.ran_since(submitted)
    served = next(i for i, (_label, level) in enumerate(after) if level == backbone_owner.INTERACTIVE)
    assert served <= 1, f"the inspection waited for {served} fit batches: {after[:served + 1]}"
    assert any(level == backbone_owner.BULK for _label, level in after[served + 1:])  # the fit went on after it
