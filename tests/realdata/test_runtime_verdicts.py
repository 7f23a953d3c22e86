"""ONNX Runtime and torch give the same verdicts on real bottle parts (issue 13): fit once with
torch, inspect a small test subset with each runtime. Skipped when ../shared/data is absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspector.features import extractor as extractor_module
from inspector.io.datasets import load_category
from inspector.pipeline import FitSettings, fit_model

BOTTLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "mvtec_ad" / "bottle"

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not BOTTLE.is_dir(), reason="../shared/data/mvtec_ad/bottle is absent")]


def test_bottle_verdicts_identical_under_both_runtimes(monkeypatch, tmp_path):
    monkeypatch.setenv("INSPECTOR_ONNX_CACHE", str(tmp_path))
    category = load_category(BOTTLE)
    train = [s.load() for s in category.train[:20]]
    good = [s.load() for s in category.test if s.defect == "good"][:6]
    broken = [s.load() for s in category.test if s.defect != "good"][:6]
    monkeypatch.setattr(extractor_module, "_default_runtime", "torch")
    model = fit_model(train, FitSettings(detector="padim", device="cpu")).model
    by_torch = model.predict(good + broken)
    monkeypatch.setattr(extractor_module, "_default_runtime", "onnx")
    by_onnx = model.predict(good + broken)
    assert model.device_name().startswith("CPU (ONNX Runtime")
    assert [p.verdict for p in by_onnx] == [p.verdict for p in by_torch]
    assert "FAIL" in [p.verdict for p in by_torch] and "PASS" in [p.verdict for p in by_torch]
    torch_scores = np.array([p.score for p in by_torch])
    onnx_scores = np.array([p.score for p in by_onnx])
    assert np.allclose(onnx_scores, torch_scores, rtol=1e-3, atol=1e-6), (torch_scores, onnx_scores)
