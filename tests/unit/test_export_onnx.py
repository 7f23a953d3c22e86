"""`inspector export --format onnx` (issue 13): the export inspects with its bundled, verified graph
and gives the original model's scores; a damaged graph is refused."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspector.cli.main import main  # noqa: E402
from inspector.features import extractor as extractor_module  # noqa: E402
from inspector.export_onnx import is_export, load_export  # noqa: E402
from inspector.pipeline import FitSettings, fit_model  # noqa: E402
from inspector.types import InspectorError  # noqa: E402
from tests.conftest import make_part  # noqa: E402


@pytest.fixture
def model_dir(tmp_path):
    rng = np.random.default_rng(3)
    train = [make_part(rng)[0] for _ in range(10)]
    model = fit_model(train, FitSettings(detector="padim", image_size=96, device="cpu")).model
    return model.save(tmp_path / "model"), [make_part(rng, defect=i % 2 == 1)[0] for i in range(4)]


def test_export_gives_the_original_scores_with_its_bundled_graph(model_dir, tmp_path, monkeypatch):
    folder, images = model_dir
    from inspector.pipeline import InspectionModel

    monkeypatch.setattr(extractor_module, "_default_runtime", "torch")
    original = [p.score for p in InspectionModel.load(folder).predict(images)]
    monkeypatch.setattr(extractor_module, "_default_runtime", "onnx")
    assert main(["export", str(folder), "--format", "onnx", "-o", str(tmp_path / "export")]) == 0
    assert is_export(tmp_path / "export") and not is_export(folder)
    exported = load_export(tmp_path / "export")
    extractor = extractor_module.get_extractor(exported.feature_config, "cpu")
    assert tuple(exported.detector.layers) in extractor._onnx_runners  # the bundled graph, not the cache
    scores = [p.score for p in exported.predict(images)]
    assert np.allclose(scores, original, rtol=1e-3, atol=1e-6), (original, scores)
    from PIL import Image

    Image.fromarray(images[0]).save(tmp_path / "part.png")
    assert main(["inspect", str(tmp_path / "export"), str(tmp_path / "part.png"), "-q",
                 "--csv", str(tmp_path / "out.csv")]) == 0
    assert "part.png" in (tmp_path / "out.csv").read_text()


def test_damaged_export_is_refused(model_dir, tmp_path):
    folder, _ = model_dir
    main(["export", str(folder), "-o", str(tmp_path / "export")])
    graph = tmp_path / "export" / "backbone.onnx"
    graph.write_bytes(graph.read_bytes()[:-4] + b"XXXX")
    with pytest.raises(InspectorError, match="backbone.onnx.*(SHA-256|fingerprint)"):
        load_export(tmp_path / "export")
