"""SimpleNet: the truncated L1 loss, the architecture, score = -D, reproducibility, cancel, safetensors."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from torch import nn

from inspector.detectors import Detector, create_detector
from inspector.detectors.anomaly_maps import upsample_and_smooth
from inspector.detectors.patch_features import patch_features
from inspector.detectors.simplenet import WEIGHTS_FILE, build_adaptor, build_discriminator, truncated_l1_loss
from inspector.features.maps import FeatureMaps
from inspector.types import Cancelled, CancelToken, InspectorError, NotFittedError, Reporter

SIZE = 32


def small_maps(rng: np.random.Generator, n: int, defect: bool = False) -> FeatureMaps:
    """Lite0-like stages 2 and 4 of a 32 px input: low-rank 'textures' plus a little noise, so that
    normal features lie near a subspace and the generator's noise points off it."""
    basis_fine = np.random.default_rng(123).normal(size=(2, 6))
    basis_coarse = np.random.default_rng(321).normal(size=(2, 5))
    fine = (rng.normal(size=(n, 4, 4, 2)) @ basis_fine).transpose(0, 3, 1, 2) + rng.normal(0, 0.02, (n, 6, 4, 4))
    coarse = (rng.normal(size=(n, 2, 2, 2)) @ basis_coarse).transpose(0, 3, 1, 2) + rng.normal(0, 0.02, (n, 5, 2, 2))
    if defect:  # off the normal subspace, in a 2x2 corner
        off_subspace = np.linalg.svd(basis_fine)[2][-1]
        fine[:, :, 0:2, 0:2] += 3.0 * off_subspace[None, :, None, None]
    return FeatureMaps({2: fine.astype(np.float32), 4: coarse.astype(np.float32)}, (SIZE, SIZE))


FAST = {"epochs": 2, "batch_size": 4, "device": "cpu"}


def test_truncated_l1_loss_known_values():
    true = torch.tensor([1.0, 0.0, 0.5])
    fake = torch.tensor([-1.0, 0.0, -0.2])
    # true: max(0, .5-1)=0, max(0, .5-0)=.5, max(0, 0)=0 -> mean 1/6; fake: 0, .5, .3 -> mean .8/3
    assert truncated_l1_loss(true, fake).item() == pytest.approx(0.5 / 3 + 0.8 / 3)
    # beyond the margins the loss is exactly zero (the truncation)
    assert truncated_l1_loss(torch.tensor([0.7, 3.0]), torch.tensor([-0.6, -5.0])).item() == 0.0
    assert truncated_l1_loss(torch.tensor([0.0]), torch.tensor([0.0]), th_pos=1.0, th_neg=-1.0).item() == 2.0


def test_architecture_follows_seed_004():
    adaptor = build_adaptor(12)
    assert isinstance(adaptor, nn.Linear) and adaptor.bias is None and adaptor.weight.shape == (12, 12)
    disc = build_discriminator(12, 20)
    kinds = [type(m) for m in disc]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU, nn.Linear]
    assert disc[2].negative_slope == pytest.approx(0.2) and disc[3].out_features == 1


def test_score_is_minus_discriminator_and_image_score_is_map_max(rng):
    train, test = small_maps(rng, 12), small_maps(rng, 3)
    detector = create_detector("simplenet", **FAST).fit(train)
    patches, grid = patch_features(test, (2, 4))
    with torch.no_grad():
        normal = (torch.from_numpy(patches) - torch.from_numpy(detector.mean_)) / torch.from_numpy(detector.std_)
        logits = detector.discriminator_(detector.adaptor_(normal)).reshape(3, grid.height, grid.width).numpy()
    np.testing.assert_allclose(detector.patch_scores(test), -logits, rtol=1e-5, atol=1e-6)
    result = detector.score(test)
    np.testing.assert_allclose(result.maps, upsample_and_smooth(-logits, (SIZE, SIZE), 4.0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.image_scores, result.maps.reshape(3, -1).max(axis=1))
    assert result.maps.shape == (3, SIZE, SIZE)


def test_features_are_standardised_to_feature_std(rng):
    train = small_maps(rng, 10)
    detector = create_detector("simplenet", feature_std=0.05, epochs=1, device="cpu").fit(train)
    patches, _ = patch_features(train, (2, 4))
    normalised = (patches - detector.mean_) / detector.std_
    np.testing.assert_allclose(normalised.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(axis=0), 0.05, rtol=1e-3)


def test_training_is_reproducible_and_learns_to_flag_defects(rng):
    train = small_maps(rng, 24)
    test = FeatureMaps.concatenate([small_maps(rng, 4), small_maps(rng, 4, defect=True)])
    quick = {"epochs": 4, "device": "cpu", "adaptor_lr": 1e-3, "discriminator_lr": 2e-3}  # few steps: faster lr
    first = create_detector("simplenet", seed=3, **quick).fit(train)
    second = create_detector("simplenet", seed=3, **quick).fit(train)
    np.testing.assert_array_equal(first.score(test).image_scores, second.score(test).image_scores)
    assert first.loss_history_ == second.loss_history_ and len(first.loss_history_) == 4
    assert first.loss_history_[-1] < first.loss_history_[0]
    scores = first.score(test).image_scores
    assert scores[4:].min() > scores[:4].max()  # higher = more anomalous
    other = create_detector("simplenet", seed=4, **quick).fit(train)
    assert not np.array_equal(other.score(test).image_scores, scores)


def test_progress_per_epoch_and_a_cancel_check_per_batch(rng):
    train = small_maps(rng, 10)  # 3 batches of 4 images per epoch

    class CountingToken(CancelToken):
        checks = 0

        def raise_if_cancelled(self) -> None:
            CountingToken.checks += 1
            super().raise_if_cancelled()

    token = CountingToken()
    epochs = []
    reporter = Reporter(lambda p: epochs.append(p.done) if p.message.startswith("SimpleNet epoch") else None, token)
    create_detector("simplenet", epochs=2, batch_size=4, device="cpu").fit(train, reporter)
    assert epochs == [1, 2]
    assert CountingToken.checks >= 2 * 3  # at least once per batch

    steps = []
    cancel = CancelToken()

    def stop_after_first_epoch(progress):
        steps.append(progress.done)
        if progress.message.startswith("SimpleNet epoch 1/"):
            cancel.cancel()

    with pytest.raises(Cancelled):
        create_detector("simplenet", epochs=50, device="cpu").fit(train, Reporter(stop_after_first_epoch, cancel))
    assert max(steps) == 1  # stopped at the first batch of epoch 2


def test_save_load_is_safetensors_and_scores_identically(rng, tmp_path):
    train, test = small_maps(rng, 12), small_maps(rng, 4, defect=True)
    detector = create_detector("simplenet", **FAST).fit(train)
    result = detector.score(test)
    detector.save(tmp_path / "m")
    raw = (tmp_path / "m" / WEIGHTS_FILE).read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_len])  # a safetensors header, not a pickle
    assert "adaptor.weight" in header and "discriminator.1.running_mean" in header
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(["detector.json", "detector.npz", WEIGHTS_FILE])
    reloaded = Detector._load_unchecked(tmp_path / "m")
    again = reloaded.score(test)
    np.testing.assert_allclose(again.image_scores, result.image_scores, rtol=1e-6)
    np.testing.assert_allclose(again.maps, result.maps, rtol=1e-6, atol=1e-7)
    assert reloaded.loss_history_ == pytest.approx(detector.loss_history_)


def test_simplenet_refuses_misuse(rng, tmp_path):
    with pytest.raises(NotFittedError):
        create_detector("simplenet").score(small_maps(rng, 1))
    with pytest.raises(InspectorError):
        create_detector("simplenet", epochs=0).fit(small_maps(rng, 4))
    detector = create_detector("simplenet", epochs=1, device="cpu").fit(small_maps(rng, 6))
    detector.save(tmp_path / "m")
    (tmp_path / "m" / WEIGHTS_FILE).write_bytes(b"\x00" * 16)
    with pytest.raises(InspectorError):
        Detector._load_unchecked(tmp_path / "m")


def test_simplenet_refuses_features_of_another_backbone(rng):
    detector = create_detector("simplenet", epochs=1, device="cpu").fit(small_maps(rng, 6))
    other = FeatureMaps({2: np.zeros((1, 7, 4, 4), np.float32), 4: np.zeros((1, 5, 2, 2), np.float32)}, (SIZE, SIZE))
    with pytest.raises(InspectorError, match="channels"):
        detector.score(other)
