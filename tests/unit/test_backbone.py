"""Offline backbones: packaged Lite0 weights, user weights files, clear errors, bounded batches."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inspector.features.backbones import BACKBONES, BackboneSpec, _packaged_weights_file, build_backbone
from inspector.features.extractor import FeatureConfig, FeatureExtractor
from inspector.types import InspectorError


@pytest.fixture(scope="module")
def lite0() -> FeatureExtractor:
    return FeatureExtractor(FeatureConfig(image_size=64), device="cpu", batch_size=3)


def test_lite0_loads_packaged_imagenet_weights(lite0):
    model, _ = build_backbone("efficientnet_lite0")
    state = torch.load(_packaged_weights_file(BACKBONES["efficientnet_lite0"]), weights_only=True)
    first_source = next(iter(state.values()))
    assert torch.equal(model.conv_stem.weight, first_source)  # weights really came from the package
    assert not any(p.requires_grad for p in model.parameters())


def test_stage_shapes_and_strides(lite0, rng):
    images = [rng.integers(0, 255, (50 + 7 * i, 80, 3), dtype=np.uint8) for i in range(7)]  # 3 batches
    maps = lite0.extract(images, (2, 3, 4, 5, 6))
    assert len(maps) == 7 and maps.input_size == (64, 64)
    assert maps.levels[2].shape == (7, 40, 8, 8)  # stride 8
    assert maps.levels[3].shape == (7, 80, 4, 4) and maps.levels[4].shape == (7, 112, 4, 4)  # stride 16
    assert maps.levels[5].shape == (7, 192, 2, 2) and maps.levels[6].shape == (7, 320, 2, 2)  # stride 32
    # batching does not change the result
    single = FeatureExtractor(FeatureConfig(image_size=64), device="cpu", batch_size=1).extract(images[:2], (3,))
    np.testing.assert_allclose(single.levels[3], maps.levels[3][:2], rtol=1e-4, atol=1e-4)


def test_missing_weight_package_is_named(monkeypatch):
    spec = BackboneSpec("efficientnet_lite9", "tf_efficientnet_lite0", 224, "efficientnet-lite9-pytorch-model",
                        "efficientnet_lite9_pytorch_model")
    monkeypatch.setitem(BACKBONES, "efficientnet_lite9", spec)
    with pytest.raises(InspectorError, match="efficientnet-lite9-pytorch-model"):
        build_backbone("efficientnet_lite9")


def test_user_weights_file_for_any_timm_model(tmp_path):
    import timm

    reference = timm.create_model("resnet10t", pretrained=False)
    torch.save(reference.state_dict(), tmp_path / "r10.pth")
    model, spec = build_backbone("resnet10t", tmp_path / "r10.pth")
    assert torch.equal(model.conv1[0].weight, reference.conv1[0].weight)
    from inspector.features.backbones import stage_modules

    assert len(stage_modules(model)) == 4
    with pytest.raises(InspectorError, match="weights file"):
        build_backbone("resnet10t")
    with pytest.raises(InspectorError, match="does not fit"):
        build_backbone("efficientnet_lite0", tmp_path / "r10.pth")
    with pytest.raises(InspectorError, match="not found"):
        build_backbone("resnet10t", tmp_path / "missing.pth")


def test_bad_input_size_and_stage(lite0, rng):
    with pytest.raises(InspectorError):
        FeatureExtractor(FeatureConfig(image_size=8))
    with pytest.raises(InspectorError, match="stage 9"):
        lite0.extract([rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)], (9,))
    with pytest.raises(InspectorError, match="RGB uint8"):
        lite0.extract([np.zeros((64, 64), np.uint8)], (3,))


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_and_lite2_load_from_their_packages(name):
    pytest.importorskip(BACKBONES[name].weights_module)  # installed by the `test` extra
    model, spec = build_backbone(name)
    state = torch.load(_packaged_weights_file(spec), weights_only=True)
    assert torch.equal(model.conv_stem.weight, next(iter(state.values())))
