"""A saved model is a manifest (issue 17): every failure of a damaged, edited or unsafe model folder
is one clean line naming the file, found before anything is allocated or built.

Each test here fails on 0.1.0, which had no manifest: it loaded flipped bits silently, hung on
/dev/zero and FIFOs, built any backbone and handed size fields straight to the allocators.
Models are built from synthetic features (no backbone), so the tests take seconds.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.detectors import create_detector
from inspector.features.maps import FeatureMaps
from inspector.pipeline import FitSettings, InspectionModel
from inspector.store.model_manifest import (
    MANIFEST_VERSION,
    load_detector,
    read_model_json,
    reseal_model_folder,
    upgrade_model_folder,
)
from inspector.threshold import Threshold
from inspector.types import InspectorError

FINGERPRINT = "ab" * 32
SMALL = {"simplenet": {"epochs": 1}, "padim": {"n_features": 20}, "patchcore": {"coreset_ratio": 0.5}}


def _features(n: int = 6) -> FeatureMaps:
    rng = np.random.default_rng(0)
    shapes = {2: (40, 8, 8), 3: (80, 4, 4), 4: (112, 4, 4), 5: (192, 2, 2), 6: (320, 2, 2)}
    return FeatureMaps({k: rng.normal(size=(n, *s)).astype(np.float32) for k, s in shapes.items()}, (64, 64))


def save_model(folder: Path, detector: str = "knn", **settings) -> Path:
    params = SMALL.get(detector, {})
    fitted = create_detector(detector, **params).fit(_features())
    fit_settings = FitSettings(detector=detector, image_size=64, detector_params=params, **settings)
    fit_settings = fit_settings.with_geometry_for([np.zeros((64, 64, 3), np.uint8)])  # as fit_model does
    model = InspectionModel(fit_settings, fitted, Threshold(1.0, 0.5), info={"weights_sha256": FINGERPRINT})
    return model.save(folder)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: save_model(root / name, name) for name in ("knn", "patchcore", "simplenet")}


@pytest.fixture
def model(saved, tmp_path, request) -> Path:
    """A fresh copy of a saved model (knn unless the test is parametrised with a detector)."""
    import shutil

    name = getattr(request, "param", "knn")
    return Path(shutil.copytree(saved[name], tmp_path / name))


def test_model_json_lists_every_file_with_size_and_sha256(model):
    meta = json.loads((model / "model.json").read_text())
    assert meta["version"] == MANIFEST_VERSION
    assert set(meta["files"]) == {"detector/detector.json", "detector/detector.npz"}
    entry = meta["files"]["detector/detector.npz"]
    assert entry["size"] == (model / "detector" / "detector.npz").stat().st_size and len(entry["sha256"]) == 64
    InspectionModel.load(model)  # and it loads


@pytest.mark.parametrize("model", ["knn", "patchcore", "simplenet"], indirect=True)
def test_a_single_flipped_bit_in_any_file_is_refused(model):
    for path in sorted(p for p in model.rglob("*") if p.is_file() and p.name != "model.json"):
        data = bytearray(path.read_bytes())
        original = bytes(data)
        data[len(data) * 2 // 3] ^= 0x04  # deep in the data, where no parser would notice
        path.write_bytes(bytes(data))
        with pytest.raises(InspectorError, match=f"{path.name}.*SHA-256"):
            InspectionModel.load(model)
        path.write_bytes(original)
    InspectionModel.load(model)


def test_an_edited_threshold_in_model_json_is_refused(model):
    edit_json(model / "model.json", lambda m: m["threshold"].update(fail=1e9))  # every part would PASS
    with pytest.raises(InspectorError, match="model.json.*checksum"):
        InspectionModel.load(model)


def test_truncated_and_extended_files_name_the_file(model):
    path = model / "detector" / "detector.npz"
    data = path.read_bytes()
    path.write_bytes(data[:100])
    with pytest.raises(InspectorError, match=r"detector\.npz: 100 bytes"):
        InspectionModel.load(model)
    path.write_bytes(data + b"x")
    with pytest.raises(InspectorError, match=r"detector\.npz"):
        InspectionModel.load(model)


def test_only_regular_files_inside_the_folder_are_read(model, tmp_path):
    npz = model / "detector" / "detector.npz"
    outside = tmp_path / "elsewhere.npz"
    os.replace(npz, outside)
    npz.symlink_to(outside)  # same bytes, but outside the folder
    with pytest.raises(InspectorError, match="symbolic link"):
        InspectionModel.load(model)
    npz.unlink()
    os.mkfifo(npz)
    started = time.monotonic()
    with pytest.raises(InspectorError, match="not a regular file"):
        InspectionModel.load(model)
    assert time.monotonic() - started < 5  # 0.1.0 blocked for ever opening the FIFO
    npz.unlink()
    os.replace(outside, npz)
    (model / "detector" / "notes.txt").write_text("hello")
    with pytest.raises(InspectorError, match="notes.txt is not one of its files"):
        InspectionModel.load(model)
    (model / "detector" / "notes.txt").unlink()
    (model / "Thumbs.db").write_bytes(b"junk")  # what Windows leaves in a copied folder is ignored
    InspectionModel.load(model)


@pytest.mark.parametrize("weights", ["/dev/zero", "fifo", "missing"])
def test_weights_file_must_be_a_regular_file_that_exists(model, tmp_path, weights):
    if weights == "fifo":
        weights = str(tmp_path / "weights.fifo")
        os.mkfifo(weights)
    elif weights == "missing":
        weights = str(tmp_path / "moved-away.pth")
    edit_json(model / "model.json", lambda m: m["settings"].update(weights_file=weights, backbone="resnet18"))
    reseal_model_folder(model)
    started = time.monotonic()
    with pytest.raises(InspectorError, match="weights file .*(missing|not a regular file)"):
        InspectionModel.load(model)
    assert time.monotonic() - started < 5


def test_backbone_must_be_known_or_given_and_the_fingerprint_is_required(model):
    edit_json(model / "model.json", lambda m: m["settings"].update(backbone="vit_giant_patch14_224"))
    reseal_model_folder(model)
    started = time.monotonic()
    with pytest.raises(InspectorError, match="not a known one"):
        InspectionModel.load(model)
    assert time.monotonic() - started < 5  # refused before timm builds anything
    edit_json(model / "model.json", lambda m: (m["settings"].update(backbone="efficientnet_lite0"),
                                              m["info"].pop("weights_sha256")))
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match="fingerprint"):
        InspectionModel.load(model)


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.pop("threshold"), "lacks the key 'threshold'"),
    (lambda m: m["threshold"].pop("review"), "lacks the key 'review'"),
    (lambda m: m["threshold"].update(fail="3.0"), "threshold.fail"),
    (lambda m: m["threshold"].update(fail=float("nan")), "threshold.fail"),
    (lambda m: m.update(settings=[1, 2]), "'settings' must be a JSON object"),
    (lambda m: m["settings"].update(image_size="224"), "settings.image_size"),
    (lambda m: m["settings"].update(image_size=10 ** 9), "settings.image_size"),
    (lambda m: m["settings"].update(colour="bgr"), "unknown key 'colour'"),
    (lambda m: m.update(info=None), "'info' must be"),
])
def test_json_type_and_key_damage_is_a_clean_error(model, damage, message):
    edit_json(model / "model.json", damage)
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match=message):
        InspectionModel.load(model)


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.update(version="2"), "'version' must be"),
    (lambda m: m.update(files={"detector/detector.npz": {"size": -1, "sha256": "x"}}), "checksum"),
    (lambda m: m.pop("checksum"), "lacks the key 'checksum'"),
])
def test_damage_to_the_manifest_itself_is_a_clean_error(model, damage, message):
    edit_json(model / "model.json", damage)
    with pytest.raises(InspectorError, match=message):
        InspectionModel.load(model)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.pop("detector"), "lacks the key 'detector'"),
    (lambda d: d.update(params=[]), "'params' must be a JSON object"),
    (lambda d: d["params"].pop("k"), "lacks the key 'k'"),
    (lambda d: d.update(detector="giant"), "a known detector"),
    (lambda d: d["arrays"].update(bank=[10 ** 12, 10 ** 6]), "shape"),
])
def test_detector_json_damage_is_a_clean_error(model, damage, message):
    edit_json(model / "detector" / "detector.json", damage)
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match=message):
        InspectionModel.load(model)


def _npy_header_edit(path: Path, old: bytes, new: bytes) -> None:
    """Change the shape in an .npy header in place, eating its space padding (sizes stay put)."""
    data = path.read_bytes()
    start = data.index(old)
    end = data.index(b"\n", start)
    segment = (new + data[start + len(old):end].rstrip(b" ")).ljust(end - start)
    assert len(segment) == end - start
    path.write_bytes(data[:start] + segment + data[end:])


def test_npz_declared_shape_is_checked_against_its_bytes_before_allocation(model):
    path = model / "detector" / "detector.npz"
    meta = json.loads((model / "detector" / "detector.json").read_text())
    rows, cols = meta["arrays"]["bank"]
    _npy_header_edit(path, f"({rows}, {cols})".encode(), f"({rows * 10 ** 6}, {cols})".encode())
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match=r"detector\.npz.*declares"):
        InspectionModel.load(model)


@pytest.mark.parametrize("model", ["patchcore"], indirect=True)
def test_faiss_size_fields_are_checked_before_faiss_allocates(model):
    path = model / "detector" / "patchcore.faiss"
    data = bytearray(path.read_bytes())
    data[37:45] = struct.pack("<Q", 1 << 40)  # the vector storage size field, after the 37-byte header
    path.write_bytes(bytes(data))
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match=r"patchcore\.faiss"):
        InspectionModel.load(model)


@pytest.mark.parametrize("model", ["patchcore"], indirect=True)
def test_patchcore_input_size_must_match_the_settings(model):
    edit_json(model / "model.json", lambda m: m["settings"]["preprocessing"].update(height=128))
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match="input size"):
        InspectionModel.load(model)


@pytest.mark.parametrize("model", ["simplenet"], indirect=True)
def test_simplenet_dtype_relabel_and_absurd_size_are_refused(model):
    path = model / "detector" / "simplenet.safetensors"
    original = path.read_bytes()
    path.write_bytes(original.replace(b'"dtype":"F32"', b'"dtype":"I32"', 1))
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match="dtype 'I32'"):
        InspectionModel.load(model)
    path.write_bytes(original)
    edit_json(model / "detector" / "detector.json", lambda d: d["state"].update(hidden=10 ** 9))
    reseal_model_folder(model)
    with pytest.raises(InspectorError, match="hidden size"):
        InspectionModel.load(model)


def test_a_legacy_model_loads_with_a_warning_and_re_saving_adds_the_manifest(model, caplog):
    edit_json(model / "model.json", lambda m: (m.pop("files"), m.pop("checksum"), m.update(version=1),
                                              m["settings"].pop("preprocessing")))
    with caplog.at_level(logging.WARNING):
        InspectionModel.load(model)
    assert "without checksums" in caplog.text and "re-save" in caplog.text
    upgrade_model_folder(model)
    meta, legacy = read_model_json(model)
    assert not legacy and meta["version"] == MANIFEST_VERSION and "detector/detector.npz" in meta["files"]


@pytest.mark.parametrize("legacy", [False, True], ids=["manifest", "0.1.0"])
def test_old_threshold_keys_load_and_are_ignored_and_a_new_save_drops_them(model, legacy):
    """Models saved before carry `defect_scores` / `f1_threshold` (never filled by a fit, issue 14)."""
    assert not {"defect_scores", "f1_threshold"} & set(json.loads((model / "model.json").read_text())["threshold"])

    def old(meta):
        meta["threshold"].update(defect_scores=[], f1_threshold=None)
        if legacy:
            meta.pop("files"), meta.pop("checksum"), meta.update(version=1), meta["settings"].pop("preprocessing")

    edit_json(model / "model.json", old)
    if not legacy:
        reseal_model_folder(model)
    loaded = InspectionModel.load(model)
    assert loaded.threshold.fail == 1.0 and loaded.threshold.review == 0.5
    loaded.save(model)
    assert not {"defect_scores", "f1_threshold"} & set(json.loads((model / "model.json").read_text())["threshold"])
    InspectionModel.load(model)


def test_a_detector_is_loaded_only_through_the_checks(model, tmp_path):
    """Issue 17: `Detector.load(folder)` skipped the manifest; a detector now has no public loader but this one."""
    from inspector.detectors.base import Detector

    assert not hasattr(Detector, "load")
    good = load_detector(model / "detector")
    assert good.name == "knn" and load_detector(model).name == "knn"  # the model folder or its detector folder
    path = model / "detector" / "detector.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(InspectorError, match=r"Damaged model file .*detector\.npz.*SHA-256"):
        load_detector(model / "detector")
    good.save(tmp_path / "bare")  # a detector folder outside a model: nothing to verify it against
    with pytest.raises(InspectorError, match="not part of a saved model"):
        load_detector(tmp_path / "bare")


def test_only_the_verified_loader_builds_a_saved_detector():
    import re

    package = Path(__file__).resolve().parents[2] / "inspector"
    callers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                     if re.search(r"\._load_unchecked\(", p.read_text(encoding="utf-8")))
    assert callers == ["store/model_manifest.py"]


def test_a_newer_format_is_refused(model):
    edit_json(model / "model.json", lambda m: m.update(version=MANIFEST_VERSION + 1))
    with pytest.raises(InspectorError, match="newer Inspector"):
        InspectionModel.load(model)
