"""ONNX Runtime backbone (issue 13): same features as torch eager, cached graphs verified, torch fallback.

Tolerance: per stage, max |onnx - torch| <= 1e-3 x max |torch| (measured ~2e-6 relative; float32
kernels differ only in summation order)."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspector.features import runtime_onnx  # noqa: E402
from inspector.features.extractor import FeatureConfig, FeatureExtractor, resolve_runtime  # noqa: E402
from inspector.types import InspectorError  # noqa: E402

RELATIVE_TOLERANCE = 1e-3
LAYERS = [0, 1, 2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def extractors(cache_dir):
    patch = pytest.MonkeyPatch()
    patch.setenv("INSPECTOR_ONNX_CACHE", str(cache_dir))
    torch_extractor = FeatureExtractor(FeatureConfig(), "cpu", runtime="torch")
    onnx_extractor = FeatureExtractor(FeatureConfig(), "cpu", runtime="onnx")
    yield torch_extractor, onnx_extractor
    patch.undo()


@pytest.mark.parametrize("height,width", [(224, 224), (224, 320)])
def test_onnx_features_match_torch(extractors, height, width):
    torch_extractor, onnx_extractor = extractors
    batch = np.random.default_rng(height + width).random((3, 3, height, width), dtype=np.float32)
    expected = torch_extractor._forward(batch, LAYERS)
    got = onnx_extractor._forward(batch, LAYERS)
    assert onnx_extractor.runtime == "onnx"  # no silent fallback
    for layer in LAYERS:
        assert got[layer].shape == expected[layer].shape
        scale = float(np.abs(expected[layer]).max())
        assert float(np.abs(got[layer] - expected[layer]).max()) <= RELATIVE_TOLERANCE * scale, layer


def test_extract_agrees_and_batch_size_is_free(extractors):
    torch_extractor, onnx_extractor = extractors
    images = [np.random.default_rng(i).integers(0, 256, (90, 130, 3), dtype=np.uint8) for i in range(5)]
    a = torch_extractor.extract(images, [2, 4])
    b = onnx_extractor.extract(images, [2, 4])
    one = onnx_extractor._forward(np.stack([onnx_extractor.preprocess(images[0])]), [2, 4])
    for layer in (2, 4):
        scale = float(np.abs(a.levels[layer]).max())
        assert np.abs(a.levels[layer] - b.levels[layer]).max() <= RELATIVE_TOLERANCE * scale
        assert np.abs(one[layer][0] - b.levels[layer][0]).max() <= RELATIVE_TOLERANCE * scale


def test_cached_graph_is_reused_and_a_tampered_one_is_reexported(extractors, cache_dir):
    _, onnx_extractor = extractors
    onnx_extractor._forward(np.zeros((1, 3, 64, 64), np.float32), [1, 3])
    graphs = sorted(cache_dir.glob("*.onnx"))
    assert graphs and all(g.with_suffix(".json").is_file() for g in graphs)
    target = next(g for g in graphs if json.loads(g.with_suffix(".json").read_text())["layers"] == [1, 3])
    original = target.read_bytes()
    target.write_bytes(original[:-10] + b"0123456789")  # same size, wrong content
    fresh = FeatureExtractor(FeatureConfig(), "cpu", runtime="onnx")
    out = fresh._forward(np.zeros((1, 3, 64, 64), np.float32), [1, 3])
    assert fresh.runtime == "onnx" and out[3].shape == (1, 80, 4, 4)
    assert target.read_bytes() == original  # re-exported deterministically and cached again


def test_export_failure_falls_back_to_torch_with_a_log_line(monkeypatch, caplog, cache_dir):
    monkeypatch.setenv("INSPECTOR_ONNX_CACHE", str(cache_dir))

    def broken(*_args, **_kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(runtime_onnx, "cached_stage_graph", broken)
    extractor = FeatureExtractor(FeatureConfig(), "cpu", runtime="onnx")
    with caplog.at_level(logging.WARNING):
        out = extractor._forward(np.zeros((1, 3, 64, 64), np.float32), [2])
    assert extractor.runtime == "torch" and out[2].shape == (1, 40, 8, 8)
    assert any("using torch" in record.getMessage() and "exporter exploded" in record.getMessage()
               for record in caplog.records)


def test_runtime_choice_and_refusals(extractors):
    import torch

    assert resolve_runtime("auto", torch.device("cpu")) == "onnx"
    assert resolve_runtime("torch", torch.device("cpu")) == "torch"
    with pytest.raises(InspectorError):
        resolve_runtime("tensorrt", torch.device("cpu"))
    _, onnx_extractor = extractors
    with pytest.raises(InspectorError, match="stage 9"):
        onnx_extractor._forward(np.zeros((1, 3, 64, 64), np.float32), [9])


def test_a_repeated_shape_gets_a_fixed_shape_session_with_the_same_features(extractors):
    torch_extractor, onnx_extractor = extractors
    batch = np.random.default_rng(3).random((2, 3, 96, 160), dtype=np.float32)
    expected = torch_extractor._forward(batch, [2, 5])
    first = onnx_extractor._forward(batch, [2, 5])
    runner = onnx_extractor._onnx_runners[(2, 5)]
    assert batch.shape not in runner._fixed  # a shape's first call runs the dynamic session
    second = onnx_extractor._forward(batch, [2, 5])
    assert batch.shape in runner._fixed and runner._fixed[batch.shape] is not runner.session
    for shape in [(1, 3, 64, 64 + 32 * i) for i in range(runtime_onnx.FIXED_SHAPE_SESSIONS + 1)]:
        for _ in range(2):
            onnx_extractor._forward(np.zeros(shape, np.float32), [2, 5])
    assert len(runner._fixed) == runtime_onnx.FIXED_SHAPE_SESSIONS and batch.shape not in runner._fixed  # LRU
    for layer in (2, 5):
        scale = float(np.abs(expected[layer]).max())
        for got in (first, second):
            assert float(np.abs(got[layer] - expected[layer]).max()) <= RELATIVE_TOLERANCE * scale
    with pytest.raises(InspectorError, match="batch"):
        runner.run(np.zeros((3, 64, 64), np.float32))
