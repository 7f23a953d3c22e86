"""Preprocessing v2: the part's aspect ratio is kept, one geometry per model (issue 11, input geometry)."""
import json

import cv2
import numpy as np
import pytest

from inspector.features.preprocess import (PREPROCESSING_V1, PREPROCESSING_V2, check_preprocessing, choose_geometry,
                                           to_backbone_input)
from inspector.pipeline import FitSettings, InspectionModel, fit_model
from inspector.types import InspectorError


def test_geometry_keeps_the_median_aspect_with_a_multiple_of_32_and_a_cap():
    assert choose_geometry([(500, 1250), (500, 1240), (480, 1300)], 224) == (224, 576)  # 224 * 2.5 = 560 -> 576
    assert choose_geometry([(2448, 2048)], 64) == (64, 64)  # 1.195 * 64 = 76.5 -> 64: never below the short side
    assert choose_geometry([(2448, 2048)], 224) == (256, 224)  # tall part: height is the long side
    assert choose_geometry([(100, 2000)], 64) == (64, 192)  # 20:1 capped at 3:1
    assert choose_geometry([(300, 300)], 224) == (224, 224)


def test_backbone_input_has_the_model_geometry_whatever_the_image():
    image = np.zeros((500, 1250, 3), dtype=np.uint8)
    assert to_backbone_input(image, (64, 160)).shape == (3, 64, 160)
    assert to_backbone_input(np.zeros((90, 90, 3), np.uint8), (64, 160)).shape == (3, 64, 160)  # other aspect: stretched
    assert to_backbone_input(image, 64).shape == (3, 64, 64)  # version 1: the square


def test_preprocessing_records_are_checked():
    assert check_preprocessing(None) == PREPROCESSING_V1
    resolved = {**PREPROCESSING_V2, "height": 64, "width": 160}
    assert check_preprocessing(resolved) == resolved
    with pytest.raises(InspectorError, match="preprocessing"):
        check_preprocessing(PREPROCESSING_V2)  # a model can't be used before its geometry is chosen
    for bad in ({**resolved, "height": -3}, {**resolved, "width": "160"}, {**resolved, "aspect": "crop"}):
        with pytest.raises(InspectorError, match="preprocessing"):
            check_preprocessing(bad)


def _part(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth textured part (blurred noise), grey, as an RGB uint8 image."""
    cells = max(shape) // 40  # the same texture scale whatever the part's size
    noise = rng.normal(128, 40, (shape[0] // cells, shape[1] // cells)).astype(np.float32)
    grey = cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    grey = np.clip(grey + rng.normal(0, 4, shape), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


PARTS = [((500, 1250), (64, 160), (200, 300, 950, 1100)),  # elongated, defect box (y0, y1, x0, x1) near the right
         ((2448, 2048), (64, 64), (500, 1200, 400, 1100))]  # tall, near-square, defect in the upper half


@pytest.mark.parametrize("detector", ["padim", "patchcore"])
@pytest.mark.parametrize("shape, geometry, box", PARTS, ids=["500x1250", "2448x2048"])
def test_fit_and_predict_keep_the_part_geometry_and_find_the_defect(tmp_path, detector, shape, geometry, box):
    rng = np.random.default_rng(0)
    train = [_part(shape, rng) for _ in range(6)]
    result = fit_model(train, FitSettings(detector=detector, image_size=64, seed=0))
    model = result.model
    assert (model.settings.preprocessing["height"], model.settings.preprocessing["width"]) == geometry
    folder = model.save(tmp_path / "model")
    saved = json.loads((folder / "model.json").read_text())["settings"]["preprocessing"]
    assert saved == {**PREPROCESSING_V2, "height": geometry[0], "width": geometry[1]}
    loaded = InspectionModel.load(folder)
    assert loaded.feature_config.input_shape == geometry

    defective = _part(shape, rng)
    y0, y1, x0, x1 = box
    defective[y0:y1, x0:x1] = 255  # a bright patch: far from every good texture
    good, bad = loaded.predict([_part(shape, rng), defective])
    assert good.anomaly_map.shape == shape and bad.anomaly_map.shape == shape
    assert bad.score > good.score
    peak_y, peak_x = np.unravel_index(np.argmax(bad.anomaly_map), shape)
    # The peak may sit on the defect's edge: allow one stride-8 feature cell, in image pixels, around the box.
    margin_y, margin_x = 8 * shape[0] / geometry[0], 8 * shape[1] / geometry[1]
    assert y0 - margin_y <= peak_y < y1 + margin_y and x0 - margin_x <= peak_x < x1 + margin_x, \
        f"map peak at {(peak_y, peak_x)}, defect in {box}"
    inside = bad.anomaly_map[y0:y1, x0:x1].mean()
    assert inside > 1.25 * np.median(bad.anomaly_map), "the defect region does not light up against the rest"


def test_old_square_models_keep_loading_and_squashing(tmp_path):
    """A model saved without a preprocessing record (0.1.0) loads as v1 and feeds squares, as before."""
    rng = np.random.default_rng(1)
    train = [_part((120, 300), rng) for _ in range(6)]
    model = fit_model(train, FitSettings(detector="padim", image_size=64, preprocessing=dict(PREPROCESSING_V1))).model
    folder = model.save(tmp_path / "model")
    meta = json.loads((folder / "model.json").read_text())
    from inspector.store.model_manifest import LEGACY_VERSION

    del meta["settings"]["preprocessing"]  # as 0.1.0 wrote it: no preprocessing record, no manifest
    meta = {key: value for key, value in meta.items() if key not in ("files", "checksum")}
    meta["version"] = LEGACY_VERSION
    (folder / "model.json").write_text(json.dumps(meta))
    loaded = InspectionModel.load(folder)
    assert loaded.settings.preprocessing == PREPROCESSING_V1
    assert loaded.feature_config.input_shape == (64, 64)
    probe = _part((120, 300), rng)
    assert loaded.features([probe]).input_size == (64, 64)
    assert loaded.predict([probe])[0].score == pytest.approx(model.predict([probe])[0].score)
    loaded.check_features(loaded.features([probe]))
    wide = FitSettings(detector="padim", image_size=64, preprocessing={**PREPROCESSING_V2, "height": 64, "width": 160})
    with pytest.raises(InspectorError, match="64x64"):
        loaded.check_features(InspectionModel(wide, loaded.detector, loaded.threshold).features([probe]))


@pytest.mark.parametrize("name, params", [("padim", {}), ("patchcore", {}), ("simplenet", {"epochs": 1})])
def test_localising_detectors_work_on_non_square_feature_grids(name, params):
    """Backbone-free: stride-8/16/32 grids of a 64 x 160 input, as preprocessing v2 makes them."""
    from inspector.detectors.registry import create_detector
    from inspector.features.maps import FeatureMaps

    rng = np.random.default_rng(3)
    detector = create_detector(name, **params)
    channels = {1: 16, 2: 24, 3: 40, 4: 80, 5: 112, 6: 192}

    def maps(n: int) -> FeatureMaps:
        levels = {}
        for layer in detector.layers:
            stride = 8 if layer <= 3 else (16 if layer <= 5 else 32)
            levels[layer] = rng.normal(size=(n, channels.get(layer, 32), 64 // stride, 160 // stride)).astype(np.float32)
        return FeatureMaps(levels, (64, 160))

    detector.fit(maps(6))
    test = maps(2)
    for layer in detector.layers:
        test.levels[layer][1, :, :, -2:] += 8.0  # a defect at the right end of the second image
    result = detector.score(test)
    assert result.maps.shape == (2, 64, 160) and np.all(np.isfinite(result.maps))
    if name == "simplenet":
        return  # one epoch trains the grid plumbing, not a discriminator good enough to localise
    assert result.image_scores[1] > result.image_scores[0]
    assert np.unravel_index(np.argmax(result.maps[1]), (64, 160))[1] >= 160 - 40


def test_augmented_copies_are_made_at_the_model_geometry():
    """A fit with augmentation on non-square parts: copies are made at the model's (height, width)."""
    from inspector.augment.policy import PRESETS

    rng = np.random.default_rng(4)
    train = [_part((120, 300), rng) for _ in range(5)]
    settings = FitSettings(detector="padim", image_size=64, policy=PRESETS["object"].to_json(), aug_factor=1)
    model = fit_model(train, settings).model
    assert model.feature_config.input_shape == (64, 160)
    assert model.info["n_training_features"] == 10
    assert model.predict([train[0]])[0].anomaly_map.shape == (120, 300)


@pytest.mark.parametrize("geometry, expected", [("auto", [64, 160]), ("square", None)])
def test_cli_fit_records_the_geometry_asked_for(tmp_path, geometry, expected):
    from PIL import Image

    from inspector.cli.main import main

    rng = np.random.default_rng(5)
    parts = tmp_path / "parts"
    parts.mkdir()
    for index in range(4):
        Image.fromarray(_part((120, 300), rng)).save(parts / f"{index}.png")
    assert main(["fit", str(parts), "-o", str(tmp_path / "model"), "--detector", "knn", "--image-size", "64",
                 "--geometry", geometry]) == 0
    record = json.loads((tmp_path / "model" / "model.json").read_text())["settings"]["preprocessing"]
    if expected is None:
        assert record == PREPROCESSING_V1
    else:
        assert [record["height"], record["width"]] == expected and record["version"] == 2
