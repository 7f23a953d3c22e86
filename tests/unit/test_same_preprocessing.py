"""Fit and inspect must load an image the same way, or the same part scores differently (issue 10.1)."""
import ast
import io
from pathlib import Path

import numpy as np
from PIL import Image

from inspector.io.images import decode_image, load_image

ROOT = Path(__file__).resolve().parents[2]


def _load_image_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "load_image"]


def test_gui_fit_loads_training_images_like_inspection():
    """The GUI fit used max_side=1024 while inspection used the default: the features differed."""
    fit_calls = _load_image_calls(ROOT / "inspector/gui/pages/fit.py")
    assert fit_calls, "the fit page no longer loads images through load_image"
    for call in fit_calls:
        assert not call.args[1:] and not call.keywords, "GUI fit must use inspection's loader settings"


def test_large_jpeg_decodes_identically_from_file_and_bytes(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (3200, 4400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    path = tmp_path / "large.jpg"
    path.write_bytes(buffer.getvalue())
    from_file = load_image(path)
    from_bytes = decode_image(buffer.getvalue(), "large.jpg")
    assert from_file.shape == from_bytes.shape
    assert max(from_file.shape[:2]) == 4096  # the large JPEG really went through the size limit
    assert np.array_equal(from_file, from_bytes)


def test_preprocessing_is_recorded_and_old_models_load_as_version_1():
    import pytest

    from inspector.features.extractor import FeatureConfig
    from inspector.features.preprocess import PREPROCESSING_V1
    from inspector.types import InspectorError

    saved = FeatureConfig(image_size=96).to_json()
    assert saved["preprocessing"] == PREPROCESSING_V1
    assert FeatureConfig.from_json(saved) == FeatureConfig(image_size=96)
    old = {"backbone": saved["backbone"], "image_size": 96, "weights_file": None}  # a 0.1.0 model
    assert FeatureConfig.from_json(old) == FeatureConfig(image_size=96)
    with pytest.raises(InspectorError, match="preprocessing"):
        FeatureConfig.from_json({**saved, "preprocessing": {"version": 99}})


def test_png_jpeg_and_camera_array_give_identical_backbone_input(tmp_path):
    """Fit and inspect both call `to_backbone_input`; a lossless file and the same array agree exactly."""
    from inspector.features.preprocess import to_backbone_input
    from inspector.io.images import to_rgb_uint8

    rng = np.random.default_rng(2)
    grey16 = rng.integers(0, 65535, (300, 420), dtype=np.uint16)  # camera-like frame
    rgb = to_rgb_uint8(grey16)
    Image.fromarray(rgb).save(tmp_path / "part.png")
    assert np.array_equal(to_backbone_input(load_image(tmp_path / "part.png"), 128), to_backbone_input(rgb, 128))


def test_fit_settings_record_preprocessing_and_read_old_models():
    from inspector.features.preprocess import PREPROCESSING_V1, PREPROCESSING_V2
    from inspector.pipeline import FitSettings

    assert FitSettings().to_json()["preprocessing"] == PREPROCESSING_V2  # new fits keep the aspect ratio
    old = FitSettings().to_json()
    del old["preprocessing"]
    assert FitSettings.from_json(old).preprocessing == PREPROCESSING_V1
