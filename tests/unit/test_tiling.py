"""Preprocessing v3: overlapping tiles, their feature mosaic and the stitched map (issue 11, tiling)."""
import json

import cv2
import numpy as np
import pytest

from inspector.features.extractor import FeatureConfig, get_extractor
from inspector.features.preprocess import check_preprocessing
from inspector.features.tiling import PREPROCESSING_V3, TileLayout, choose_layout, grid_count, map_to_image
from inspector.pipeline import FitSettings, InspectionModel, fit_model
from inspector.types import InspectorError


def test_layout_tiles_cover_the_canvas_with_the_overlap_asked_for():
    layout = choose_layout([(1250, 500), (1240, 500)], 224, tile_size=250, overlap=0.25)
    assert layout.canvas == (1245, 500) and layout.tile == (250, 250) and layout.input == (224, 224)
    assert layout.grid == (grid_count(1245, 250, 0.25), grid_count(500, 250, 0.25)) == (7, 3)
    covered = np.zeros(layout.canvas, dtype=int)
    for top, left, bottom, right in layout.boxes():
        assert 0 <= top and 0 <= left and bottom <= layout.canvas[0] and right <= layout.canvas[1]
        covered[top:bottom, left:right] += 1
    assert covered.min() >= 1
    tops, lefts = layout.starts()
    assert tops[0] == 0 and tops[-1] == 1245 - 250 and max(np.diff(tops)) <= 250 * 0.75
    assert lefts == [0, 125, 250]


def test_automatic_layout_is_bounded_and_a_small_part_is_one_tile():
    big = choose_layout([(2448, 2048)], 224)
    assert big.count <= 16 and big.tile[0] >= 224 and big.tile[0] < 2048
    assert choose_layout([(200, 210)], 224).grid == (1, 1)  # no side longer than a tile: one tile


def test_stitched_map_of_a_constant_is_constant_and_a_spot_lands_in_place():
    layout = choose_layout([(600, 900)], 64, tile_size=300, overlap=0.3)
    assert layout.count > 1 and layout.mosaic_shape == (layout.grid[0] * 64, layout.grid[1] * 64)
    assert np.allclose(layout.stitch(np.full(layout.mosaic_shape, 2.5, np.float32)), 2.5)
    # A spot in one tile's map comes back at that tile's place on the canvas.
    index = layout.grid[1] + 1  # row 1, column 1
    top, left, bottom, right = layout.boxes()[index]
    mosaic = np.zeros(layout.mosaic_shape, np.float32)
    row, col = divmod(index, layout.grid[1])
    mosaic[row * 64 + 16, col * 64 + 48] = 100.0  # 1/4 down, 3/4 across the tile
    stitched = layout.stitch(mosaic)
    peak = np.unravel_index(np.argmax(stitched), stitched.shape)
    scale = (bottom - top) / 64
    assert abs(peak[0] - (top + 16.5 * scale)) <= scale + 1 and abs(peak[1] - (left + 48.5 * scale)) <= scale + 1
    # ... and at the image's own coordinates when the image is of another size.
    image_map = map_to_image(mosaic, layout, (300, 450))
    y, x = np.unravel_index(np.argmax(image_map), image_map.shape)
    assert abs(y - peak[0] / 2) <= 2 and abs(x - peak[1] / 2) <= 2


def test_image_tiles_and_feature_mosaic_round_trip():
    layout = choose_layout([(96, 160)], 32, tile_size=64, overlap=0.25)
    image = np.arange(96 * 160 * 3, dtype=np.uint32).reshape(96, 160, 3).astype(np.uint8)
    tiles = layout.tiles(image)
    assert len(tiles) == layout.count and all(t.shape == (32, 32, 3) for t in tiles)
    features = np.stack([np.full((2, 4, 4), index, np.float32) for index in range(layout.count)] * 3)
    mosaic = layout.mosaic(features)
    assert mosaic.shape == (3, 2, layout.grid[0] * 4, layout.grid[1] * 4)
    for index in range(layout.count):
        row, col = divmod(index, layout.grid[1])
        assert np.all(mosaic[:, :, row * 4:(row + 1) * 4, col * 4:(col + 1) * 4] == index)
    with pytest.raises(InspectorError):
        layout.mosaic(features[:-1])


def test_tiles_records_are_checked_and_round_trip():
    layout = choose_layout([(1250, 500)], 224, tile_size=250)
    record = layout.record()
    assert check_preprocessing(record) == record and TileLayout.from_record(record) == layout
    assert check_preprocessing(PREPROCESSING_V3, allow_unresolved=True)["aspect"] == "tiles"
    with pytest.raises(InspectorError, match="preprocessing"):
        check_preprocessing(PREPROCESSING_V3)  # no layout: a model can't be used before a fit chose it
    for bad in ({**record, "rows": 1}, {**record, "rows": True}, {**record, "overlap": 0.95},
                {**record, "aspect": "keep"}, {**record, "extra": 1}, {**record, "tile_height": 5000}):
        with pytest.raises(InspectorError, match="preprocessing"):
            check_preprocessing(bad)
    config = FeatureConfig.from_json(FeatureConfig(tiles=layout, geometry=layout.input).to_json())
    assert config.tiles == layout and config.input_shape == layout.mosaic_shape


def test_tiled_extractor_returns_one_mosaic_per_image():
    layout = choose_layout([(200, 320)], 64, tile_size=128, overlap=0.25)
    config = FeatureConfig(image_size=64, geometry=layout.input, tiles=layout)
    extractor = get_extractor(config, "cpu")
    images = [np.random.default_rng(i).integers(0, 255, (200, 320, 3), dtype=np.uint8) for i in range(2)]
    features = extractor.extract(images, [1, 2])
    assert len(features) == 2 and features.input_size == layout.mosaic_shape
    plain = get_extractor(FeatureConfig(image_size=64, geometry=layout.input), "cpu").extract(layout.tiles(images[1]), [2])
    rows, cols = layout.grid
    assert (rows, cols) == (2, 3)
    h, w = plain.levels[2].shape[2:]
    assert features.levels[2].shape[2:] == (rows * h, cols * w)
    assert np.allclose(features.levels[2][1, :, h:2 * h, 0:w], plain.levels[2][cols], atol=1e-4)  # row 1, col 0


def _part(shape, rng):
    """A fine texture (blurred noise), grey, as an RGB uint8 image."""
    noise = rng.normal(128, 40, (shape[0] // 8, shape[1] // 8)).astype(np.float32)
    grey = cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    grey = np.clip(grey + rng.normal(0, 4, shape), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


@pytest.mark.parametrize("detector", ["padim", "patchcore"])
def test_tiled_fit_finds_a_small_defect_in_place_and_saves(tmp_path, detector):
    shape, box = (256, 640), (176, 200, 466, 490)  # a 24 x 24 px spot near the lower right
    rng = np.random.default_rng(0)
    settings = FitSettings(detector=detector, image_size=64, seed=0,
                           preprocessing={**PREPROCESSING_V3, "tile_size": 128, "overlap": 0.25})
    model = fit_model([_part(shape, rng) for _ in range(12)], settings).model
    layout = model.feature_config.tiles
    assert layout is not None and layout.grid == (3, 7) and layout.input == (64, 64)
    folder = model.save(tmp_path / "model")
    saved = json.loads((folder / "model.json").read_text())["settings"]["preprocessing"]
    assert saved == layout.record()
    loaded = InspectionModel.load(folder)
    assert loaded.feature_config.tiles == layout

    defective = _part(shape, rng)
    y0, y1, x0, x1 = box
    defective[y0:y1, x0:x1] = 255
    good, bad = loaded.predict([_part(shape, rng), defective])
    assert good.anomaly_map.shape == shape and bad.anomaly_map.shape == shape
    assert bad.score > good.score
    peak_y, peak_x = np.unravel_index(np.argmax(bad.anomaly_map), shape)
    margin = 8 * 128 / 64  # one stride-8 feature cell of a tile, in image pixels
    assert y0 - margin <= peak_y < y1 + margin and x0 - margin <= peak_x < x1 + margin, \
        f"map peak at {(peak_y, peak_x)}, defect in {box}"
    assert bad.anomaly_map[y0:y1, x0:x1].mean() > 1.4 * np.median(bad.anomaly_map)


def test_models_saved_before_tiling_load_as_before():
    settings = FitSettings.from_json({**FitSettings().to_json(), "preprocessing": None})
    assert settings.preprocessing["version"] == 1
    assert FitSettings(preprocessing={"version": 2, **{k: v for k, v in FitSettings().preprocessing.items()
                                                         if k != "version"}, "height": 64, "width": 160}
                       ).feature_config().tiles is None


def test_a_tiled_export_reproduces_the_model_without_torch(tmp_path, monkeypatch):
    """The manifest records the tiling; the torch-free runtime tiles, mosaics and stitches the same."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("onnxruntime")
    from inspector.export_manifest import read_manifest
    from inspector.export_onnx import export_model
    from inspector.io.images import save_image

    monkeypatch.setenv("INSPECTOR_ONNX_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    shape = (128, 320)
    settings = FitSettings(detector="padim", image_size=64, seed=0, device="cpu",
                           preprocessing={**PREPROCESSING_V3, "tile_size": 128})
    model = fit_model([_part(shape, rng) for _ in range(6)], settings).model
    model.save(tmp_path / "model")
    export = export_model(tmp_path / "model", tmp_path / "export")
    assert read_manifest(export)["features"]["preprocessing"] == model.feature_config.tiles.record()
    defective = _part(shape, rng)
    defective[40:70, 200:230] = 255
    images = [_part(shape, rng), defective]
    expected = model.predict(images)
    for index, image in enumerate(images):
        save_image(tmp_path / f"part{index}.png", image)
    code = ("import sys, json\n"
            "for name in ('torch', 'timm', 'torchvision'):\n"
            "    sys.modules[name] = None\n"
            "import numpy as np\n"
            "from inspector.export_runtime import ExportedModel\n"
            "from inspector.io.images import load_image\n"
            f"model = ExportedModel.load({str(export)!r})\n"
            "out = []\n"
            "for p in model.predict([load_image(f'part{i}.png') for i in range(2)]):\n"
            "    peak = np.unravel_index(int(np.argmax(p.anomaly_map)), p.anomaly_map.shape)\n"
            "    out.append([p.score, list(p.anomaly_map.shape), [int(v) for v in peak]])\n"
            "print(json.dumps(out))\n")
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo), INSPECTOR_ONNX_CACHE=str(tmp_path / "no-cache"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    for row, prediction in zip(rows, expected):
        assert row[0] == pytest.approx(prediction.score, rel=1e-4)
        assert tuple(row[1]) == shape
        assert tuple(row[2]) == tuple(int(v) for v in np.unravel_index(np.argmax(prediction.anomaly_map), shape))
