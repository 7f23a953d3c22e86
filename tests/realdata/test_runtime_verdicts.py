"""Verdicts on real parts are identical through torch, ONNX Runtime and an exported model (issue 13).

For bottle (900 x 900, 224 x 224 input) and KolektorSDD (about 500 x 1250 grey, its auto geometry
576 x 224): a PaDiM model is fitted with the torch backbone on 15 good training images, then a
sample of the test set (good and defective parts) is judged four ways: torch eager, ONNX Runtime
(the CPU default), the export inspected without torch (`ExportedModel`: ONNX Runtime + NumPy),
and the export on the torch path (`load_export`: its bundled graph, the detector's own scoring).
Verdicts must be identical and scores equal within 1e-3 relative (the stated feature tolerance;
measured at most 3.3e-6 over all test images). All test images of both sets: benchmarks/runtime_verdicts.py, output in
docs/benchmarks/runtime-verdicts.txt. Skipped only when ../shared/data is absent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspector.export_onnx import export_model, load_export
from inspector.export_runtime import ExportedModel
from inspector.features import extractor as extractor_module
from inspector.io.datasets import load_category
from inspector.pipeline import FitSettings, fit_model

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SETS = {"bottle": (DATA / "mvtec_ad" / "bottle", (224, 224)), "kolektorsdd": (DATA / "kolektorsdd", (576, 224))}
RELATIVE_TOLERANCE = 1e-3
TRAIN, PER_KIND = 15, 6

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _sample(category) -> tuple[list[np.ndarray], list[str]]:
    """PER_KIND good and PER_KIND defective test parts, spread over the defect types."""
    good = [s for s in category.test if s.defect == "good"]
    bad = [s for s in category.test if s.defect != "good"]
    chosen = good[:: max(1, len(good) // PER_KIND)][:PER_KIND] + bad[:: max(1, len(bad) // PER_KIND)][:PER_KIND]
    return [s.load() for s in chosen], [s.defect for s in chosen]


@pytest.mark.parametrize("name", list(SETS))
def test_verdicts_identical_through_torch_onnx_and_export(name, monkeypatch, tmp_path):
    folder, geometry = SETS[name]
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    monkeypatch.setenv("INSPECTOR_ONNX_CACHE", str(tmp_path / "onnx-cache"))
    category = load_category(folder)
    train = [s.load() for s in category.train[:TRAIN]]
    images, kinds = _sample(category)
    monkeypatch.setattr(extractor_module, "_default_runtime", "torch")
    model = fit_model(train, FitSettings(detector="padim", device="cpu")).model
    assert model.feature_config.input_shape == geometry  # the auto geometry, aspect kept
    assert model.device_name().startswith("CPU (") and "ONNX" not in model.device_name()
    by = {"torch": model.predict(images)}
    monkeypatch.setattr(extractor_module, "_default_runtime", "onnx")
    assert model.device_name().startswith("CPU (ONNX Runtime")
    by["onnx"] = model.predict(images)
    model.save(tmp_path / "model")
    export = export_model(tmp_path / "model", tmp_path / "export")
    by["export, no torch"] = ExportedModel.load(export).predict(images)
    by["export, torch path"] = load_export(export).predict(images)

    verdicts = {way: [p.verdict for p in predictions] for way, predictions in by.items()}
    assert set(verdicts["torch"]) <= {"PASS", "FAIL", "REVIEW"}  # no ERROR: every part was judged
    assert "PASS" in verdicts["torch"] and "FAIL" in verdicts["torch"], (kinds, verdicts["torch"])
    reference = np.array([p.score for p in by["torch"]])
    for way, predictions in by.items():
        assert verdicts[way] == verdicts["torch"], way
        scores = np.array([p.score for p in predictions])
        assert np.allclose(scores, reference, rtol=RELATIVE_TOLERANCE, atol=0), (way, reference, scores)
        assert predictions[0].anomaly_map.shape == images[0].shape[:2]
