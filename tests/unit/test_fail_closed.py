"""Verdicts fail closed (issues 10 and 17): a non-finite score or a scoring error is ERROR, never
PASS, and a model whose stored state is not finite is refused at load."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from inspector.detectors import Detector
from inspector.store.model_manifest import reseal_model_folder
from inspector.pipeline import FitSettings, InspectionModel, fit_model
from inspector.threshold import ERROR, Threshold
from inspector.types import InspectorError, ScoreResult


@pytest.mark.parametrize("score", [float("nan"), float("inf"), float("-inf"), None, "x"])
def test_threshold_verdict_is_error_for_non_finite_scores(score):
    threshold = Threshold(5.0, 3.0)
    assert threshold.verdict(score) == ERROR


def test_threshold_verdicts_keep_finite_scores_and_flag_the_rest():
    threshold = Threshold(5.0, 3.0)
    assert threshold.verdicts(np.array([1.0, 4.0, 6.0, np.nan, -np.inf])) == ["PASS", "REVIEW", "FAIL", "ERROR", "ERROR"]
    with pytest.raises(InspectorError):
        Threshold(5.0, float("nan"))


@pytest.fixture(scope="module")
def knn_model(tmp_path_factory):
    from tests.conftest import make_part

    rng = np.random.default_rng(3)
    images = [make_part(rng)[0] for _ in range(6)]
    model = fit_model(images, FitSettings(detector="knn", image_size=64)).model
    test = [make_part(rng)[0] for _ in range(3)]
    return model, test


def test_non_finite_detector_scores_are_error_and_logged(knn_model, monkeypatch, caplog):
    model, test = knn_model
    monkeypatch.setattr(model.detector, "score", lambda features, reporter=None: ScoreResult(
        np.array([np.nan, np.inf, 0.0])[:len(features)]))
    with caplog.at_level(logging.ERROR, logger="inspector.pipeline"):
        predictions = model.predict(test)
    assert [p.verdict for p in predictions] == ["ERROR", "ERROR", "PASS"]
    assert all("non-finite" in p.error for p in predictions[:2]) and predictions[2].error == ""
    assert sum("ERROR verdict" in record.message for record in caplog.records) == 2


def test_a_scoring_exception_is_an_error_prediction_not_a_crash(knn_model, monkeypatch):
    model, test = knn_model

    def broken(features, reporter=None):
        raise RuntimeError("faiss exploded")

    monkeypatch.setattr(model.detector, "score", broken)
    predictions = model.predict(test)
    assert [p.verdict for p in predictions] == [ERROR] * 3
    assert all("faiss exploded" in p.error and np.isnan(p.score) and p.anomaly_map is None for p in predictions)


def test_one_bad_image_does_not_take_its_batch_with_it(knn_model):
    model, test = knn_model
    bad = np.zeros((0, 0, 3), np.uint8)
    predictions = model.predict([test[0], bad, test[1]])
    assert predictions[1].verdict == ERROR
    assert [predictions[0].verdict, predictions[2].verdict] != [ERROR, ERROR]
    assert predictions[0].score == pytest.approx(model.predict([test[0]])[0].score, rel=1e-5)


def _poison_npz(path):
    arrays = dict(np.load(path))
    key = next(k for k, v in arrays.items() if np.issubdtype(v.dtype, np.floating))
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = np.nan
    np.savez(path, **arrays)


def test_loading_refuses_a_model_with_non_finite_arrays(knn_model, tmp_path):
    model, _ = knn_model
    model.save(tmp_path / "m")
    _poison_npz(tmp_path / "m" / "detector" / "detector.npz")
    reseal_model_folder(tmp_path / "m")  # a deliberate edit: re-seal so the checks behind the checksums run
    with pytest.raises(InspectorError, match="NaN or infinite"):
        InspectionModel.load(tmp_path / "m")


def test_loading_refuses_a_patchcore_bank_with_nan(tmp_path):
    import faiss

    from tests.unit.test_fit_sequences import _features
    from inspector.detectors import create_detector

    rng = np.random.default_rng(0)
    detector = create_detector("patchcore", coreset_ratio=0.5).fit(_features(rng))
    detector.save(tmp_path / "d")
    index = faiss.deserialize_index(np.frombuffer((tmp_path / "d" / "patchcore.faiss").read_bytes(), np.uint8))
    bank = index.reconstruct_n(0, index.ntotal)
    bank[3, 0] = np.inf
    poisoned = faiss.IndexFlatL2(bank.shape[1])
    poisoned.add(bank)
    (tmp_path / "d" / "patchcore.faiss").write_bytes(faiss.serialize_index(poisoned).tobytes())
    with pytest.raises(InspectorError, match="NaN or infinite"):
        Detector._load_unchecked(tmp_path / "d")


def test_loading_refuses_simplenet_weights_with_nan(tmp_path):
    from safetensors.torch import load_file, save_file

    from tests.unit.test_fit_sequences import _features
    from inspector.detectors import create_detector

    rng = np.random.default_rng(0)
    create_detector("simplenet", epochs=1).fit(_features(rng)).save(tmp_path / "d")
    [weights] = list((tmp_path / "d").glob("*.safetensors"))
    tensors = load_file(weights)
    name = next(k for k, t in tensors.items() if t.is_floating_point())
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, weights)
    with pytest.raises(InspectorError, match="NaN or infinite"):
        Detector._load_unchecked(tmp_path / "d")
