"""The augmentation engine: each knob does what it says, determinism, output order, preview."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from inspector.augment.engine import (
    augment_images,
    augment_one,
    augmented_copies,
    benchmark_preview,
    copy_slice,
    iter_augmented_copies,
    parse_factor,
    preview_samples,
)
from inspector.augment.policy import PRESETS, AugmentationPolicy, Range, Translate
from inspector.types import CancelToken, Cancelled, InspectorError, Reporter


def _asymmetric(size: int = 24, seed: int = 0) -> np.ndarray:
    """An image with no mirror or rotational symmetry (random noise)."""
    return np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def _dot_image(size: int = 65, dx: int = 16, dy: int = 0) -> np.ndarray:
    image = np.zeros((size, size, 3), dtype=np.uint8)
    c = size // 2
    image[c + dy - 1:c + dy + 2, c + dx - 1:c + dx + 2] = 255
    return image


def _centroid(image: np.ndarray) -> np.ndarray:
    weights = image[..., 0].astype(np.float64)
    ys, xs = np.indices(weights.shape)
    return np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()


def test_horizontal_flip_mirrors_about_half_the_copies():
    image = _asymmetric()
    copies = augment_one(image, AugmentationPolicy(flip_horizontal=True), 40, seed=1)
    flipped = [np.array_equal(c, image[:, ::-1]) for c in copies]
    same = [np.array_equal(c, image) for c in copies]
    assert all(f or s for f, s in zip(flipped, same))
    assert 8 <= sum(flipped) <= 32


def test_vertical_flip_mirrors_about_half_the_copies():
    image = _asymmetric()
    copies = augment_one(image, AugmentationPolicy(flip_vertical=True), 40, seed=2)
    flipped = [np.array_equal(c, image[::-1]) for c in copies]
    assert all(f or np.array_equal(c, image) for f, c in zip(flipped, copies))
    assert 8 <= sum(flipped) <= 32


def test_rotate90_always_turns_by_90_180_or_270():
    image = _asymmetric()
    turns = [np.rot90(image, k) for k in (1, 2, 3)]
    copies = augment_one(image, AugmentationPolicy(rotate90=True), 30, seed=3)
    seen = set()
    for copy in copies:
        matches = [k for k, turned in zip((1, 2, 3), turns) if np.array_equal(copy, turned)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {1, 2, 3}


def test_translate_shifts_by_whole_pixels_within_range():
    image = _asymmetric(32)
    copies = augment_one(image, AugmentationPolicy(translate=Translate(3, 0)), 20, seed=4)
    shifts = []
    for copy in copies:
        found = [d for d in range(-3, 4)
                 if np.array_equal(copy[:, 3 + d:29 + d], image[:, 3:29])]
        assert found, "each copy is the image shifted horizontally by -3..3 pixels"
        shifts.append(found[0])
    assert any(s != 0 for s in shifts) and max(map(abs, shifts)) <= 3


def test_rotate_turns_by_an_angle_in_range():
    image = _dot_image()
    centre = np.array([32.0, 32.0])
    before = _centroid(image) - centre
    for copy in augment_one(image, AugmentationPolicy(rotate=Range(30, 30)), 3, seed=5):
        after = _centroid(copy) - centre
        angle = math.degrees(math.atan2(after[1], after[0]) - math.atan2(before[1], before[0]))
        assert abs(abs(angle) - 30) < 2
        assert abs(np.linalg.norm(after) - np.linalg.norm(before)) < 1


def test_zoom_scales_distances_from_the_centre():
    image = _dot_image()
    centre = np.array([32.0, 32.0])
    for copy in augment_one(image, AugmentationPolicy(zoom=Range(1.5, 1.5)), 2, seed=6):
        assert np.linalg.norm(_centroid(copy) - centre) == pytest.approx(16 * 1.5, abs=1.0)


def test_add_shifts_every_pixel_by_one_value_in_range():
    image = np.full((16, 16, 3), 100, dtype=np.uint8)
    for copy in augment_one(image, AugmentationPolicy(add=Range(-10, 10)), 10, seed=7):
        values = np.unique(copy.astype(int) - 100)
        assert len(values) == 1 and -10 <= values[0] <= 10
    fixed = augment_one(image, AugmentationPolicy(add=Range(20, 20)), 1, seed=7)[0]
    assert np.all(fixed == 120)


def test_multiply_scales_every_pixel():
    image = np.full((16, 16, 3), 100, dtype=np.uint8)
    assert np.all(augment_one(image, AugmentationPolicy(multiply=Range(0.5, 0.5)), 1)[0] == 50)
    for copy in augment_one(image, AugmentationPolicy(multiply=Range(0.9, 1.1)), 10, seed=8):
        assert len(np.unique(copy)) == 1 and 90 <= copy[0, 0, 0] <= 110


def test_identity_policy_copies_the_original():
    image = _asymmetric()
    assert all(np.array_equal(c, image) for c in augment_one(image, PRESETS["none"], 3))


def test_output_order_originals_first_then_copies_grouped_by_original():
    images = [_asymmetric(16, seed) for seed in range(3)]
    out = augment_images(images, PRESETS["hazelnut"], 4, seed=0)
    assert len(out) == 3 * (1 + 4)
    for i, image in enumerate(images):
        assert np.array_equal(out[i], image)
    copies = augmented_copies(images, PRESETS["hazelnut"], 4, seed=0)
    for i in range(3):
        group = out[copy_slice(3, 4, i)]
        assert all(np.array_equal(a, b) for a, b in zip(group, copies[4 * i:4 * i + 4]))
    assert augment_images(images, PRESETS["hazelnut"], 0) == images


def test_deterministic_under_a_seed_and_independent_of_batching():
    images = [_asymmetric(16, seed) for seed in range(4)]
    a = augment_images(images, PRESETS["screw"], 3, seed=11)
    b = augment_images(images, PRESETS["screw"], 3, seed=11)
    c = augment_images(images, PRESETS["screw"], 3, seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a[4:], c[4:]))
    # the copies of original 2 are the same when it is augmented alone (as protocols do in chunks)
    alone = dict(iter_augmented_copies(images[2:3], PRESETS["screw"], 3, seed=11, indices=[2]))[2]
    assert all(np.array_equal(x, y) for x, y in zip(alone, a[copy_slice(4, 3, 2)]))


def test_working_size_resizes_everything():
    images = [_asymmetric(40), _asymmetric(30)]
    out = augment_images(images, PRESETS["bottle"], 2, working_size=20)
    assert all(image.shape == (20, 20, 3) for image in out)


def test_bad_input_is_refused_clearly():
    with pytest.raises(InspectorError, match="uint8"):
        augment_images([np.zeros((8, 8, 3), np.float32)], PRESETS["bottle"], 1)
    with pytest.raises(InspectorError, match="factor"):
        parse_factor("ten")
    assert parse_factor("x20") == 20 and parse_factor(10) == 10 and parse_factor("0") == 0


def test_reporter_progress_and_cancel():
    seen = []
    images = [_asymmetric(8, s) for s in range(3)]
    augment_images(images, PRESETS["tile"], 2, reporter=Reporter(lambda p: seen.append((p.stage, p.done, p.total))))
    assert seen[0] == ("augment", 0, 3) and seen[-1] == ("augment", 3, 3)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        augment_images(images, PRESETS["tile"], 2, reporter=Reporter(cancel_token=token))


def test_preview_is_small_fast_and_scales_translation():
    image = _asymmetric(600)
    samples = preview_samples(image, PRESETS["hazelnut"], count=12, seed=0, max_side=200)
    assert len(samples) == 12 and all(s.shape == (200, 200, 3) for s in samples)
    assert all(np.array_equal(a, b) for a, b in zip(samples, preview_samples(image, PRESETS["hazelnut"], 12, 0, 200)))
    timing = benchmark_preview(image, PRESETS["hazelnut"], repeats=3)
    assert timing["median_ms"] < 500  # ~25 ms here; generous for a loaded CI machine


# -- border fill and the policy's seed ----------------------------------------------------------
def _shift_only(border: str, value: int = 0) -> AugmentationPolicy:
    return AugmentationPolicy(translate=Translate(12, 0), border=border, border_value=value)


def _edge_image() -> np.ndarray:
    """A bright rim just inside the left border of a mid-grey part (like a bottle's rim near the
    frame): reflection mirrors the rim into the uncovered strip, a second rim no real part has."""
    image = np.full((40, 40, 3), 100, dtype=np.uint8)
    image[:, 8:] = np.linspace(100, 140, 32, dtype=np.uint8)[None, :, None]
    image[:, 4:8] = 250
    return image


@pytest.mark.parametrize("border", ["reflect", "constant", "edge", "symmetric", "wrap"])
def test_border_fill_reaches_the_engine(border):
    image = _edge_image()
    copies = augmented_copies([image], _shift_only(border, 7), 16, seed=3)
    # Same seed, same shifts for every border: only the uncovered pixels may differ.
    reference = augmented_copies([image], _shift_only("reflect"), 16, seed=3)
    changed = [not np.array_equal(c, r) for c, r in zip(copies, reference)]
    if border == "reflect":
        assert not any(changed)
    else:
        assert any(changed)
    if border == "constant":
        # Each shifted copy has a strip at its left or right edge filled with grey level 7.
        for copy in copies:
            if not np.array_equal(copy, image):
                assert np.all(copy[:, 0] == 7) or np.all(copy[:, -1] == 7)


def test_constant_border_paints_the_uncovered_strip_and_reflect_makes_a_ghost_rim():
    image = _edge_image()
    policy = AugmentationPolicy(translate=Translate(10, 0), border="constant", border_value=0)
    for copy in augmented_copies([image], policy, 12, seed=1):
        shift = _strip_width(copy)
        if shift > 2:
            assert np.all(copy[:, : shift - 1] == 0)
    # Reflect fills the strip with the mirrored bright rim: a second edge that no real part has.
    ghost = augmented_copies([image], replace(policy, border="reflect"), 12, seed=1)
    edge = augmented_copies([image], replace(policy, border="edge"), 12, seed=1)
    rim = int((image[..., 0] >= 240).sum())
    bright_ghost = [int((c[..., 0] >= 240).sum()) for c in ghost]
    bright_edge = [int((c[..., 0] >= 240).sum()) for c in edge]
    assert max(bright_ghost) > 1.5 * rim  # a second rim appeared
    assert max(bright_edge) <= rim  # edge repeats the grey border pixels: one rim only


def _strip_width(copy: np.ndarray) -> int:
    """Columns from the left that are entirely black (the uncovered strip of a constant-0 border)."""
    width = 0
    while width < copy.shape[1] and np.all(copy[:, width] == 0):
        width += 1
    return width


def test_policy_seed_is_the_base_of_the_draws():
    image = _asymmetric(32)
    policy = PRESETS["hazelnut"]
    seeded = replace(policy, seed=5)
    assert _same(augmented_copies([image], seeded, 4, seed=0), augmented_copies([image], policy, 4, seed=5))
    assert not _same(augmented_copies([image], seeded, 4), augmented_copies([image], policy, 4))
    assert _same(preview_samples(image, seeded, 4), preview_samples(image, policy, 4, seed=5))


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_preview_at_a_larger_size_shows_the_same_copies_in_more_detail():
    """The bench's zoom recomputes the preview at a larger size: the copies must be the same ones."""
    yy, xx = np.mgrid[:300, :300]
    image = np.stack([(xx * 0.8) % 256, (yy * 0.6) % 256, ((xx + yy) * 0.4) % 256], axis=-1).astype(np.uint8)
    policy = replace(PRESETS["hazelnut"], seed=4)
    small = preview_samples(image, policy, 6, 0, max_side=64)
    large = preview_samples(image, policy, 6, 0, max_side=256)
    other = preview_samples(image, policy, 6, 1, max_side=64)
    import cv2

    shrunk = [cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in large]
    same = np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(small, shrunk)])
    different = np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(other, shrunk)])
    assert same < 12 and different > 2 * same, (same, different)


def test_preview_indices_recompute_only_the_asked_samples():
    image = _asymmetric(120)
    policy = PRESETS["hazelnut"]
    every = preview_samples(image, policy, 8, 3, max_side=100)
    some = preview_samples(image, policy, 0, 3, max_side=100, indices=[5, 2])
    assert np.array_equal(some[0], every[5]) and np.array_equal(some[1], every[2])


# -- a constant border in colour ----------------------------------------------------------------
def test_constant_border_paints_rgb_images_channel_by_channel_and_grey_images_in_luma():
    colour = (20, 200, 40)
    policy = AugmentationPolicy(translate=Translate(12, 0), border="constant", border_value=colour)
    rgb = np.full((40, 40, 3), 100, dtype=np.uint8)
    strips = [c[:, 0] if not np.array_equal(c[:, 0], rgb[:, 0]) else c[:, -1] for c in augmented_copies([rgb], policy, 8, 3)]
    assert sum(bool(np.all(strip == colour)) for strip in strips) >= 4  # a colour per channel, not a grey
    # The copies' geometry is that of the grey fill: only the uncovered pixels differ.
    grey = augmented_copies([rgb], replace(policy, border_value=0), 8, 3)
    for coloured, plain in zip(augmented_copies([rgb], policy, 8, 3), grey):
        uncovered = np.all(plain == 0, axis=-1)
        assert np.array_equal(coloured[~uncovered], plain[~uncovered])
        assert np.all(coloured[uncovered] == colour)
    # A grey (H, W) image keeps its shape and gets the colour's luma (OpenCV alone would paint red 20).
    luma = round(0.299 * 20 + 0.587 * 200 + 0.114 * 40)
    for copy in augmented_copies([np.full((40, 40), 100, np.uint8)], policy, 8, 3):
        assert copy.shape == (40, 40)
        assert set(np.unique(copy)) <= {100, luma}
    # The live preview paints it too.
    assert any(np.all(s[:, 0] == colour) or np.all(s[:, -1] == colour) for s in preview_samples(rgb, policy, 6))


def test_colour_border_round_trips_and_is_validated():
    policy = AugmentationPolicy(translate=Translate(3, 3), border="constant", border_value=(1, 2, 3))
    data = policy.to_json()
    assert data["border_value"] == [1, 2, 3]
    again = AugmentationPolicy.from_json(data)
    assert again == policy and again.fingerprint() == policy.fingerprint()
    assert again.fingerprint() != replace(policy, border_value=(1, 2, 4)).fingerprint()
    assert AugmentationPolicy.from_json({**data, "border_value": [7, 7, 7]}).border_value == 7  # a grey is a grey
    assert policy.border_rgb == (1, 2, 3) and replace(policy, border_value=5).border_rgb == (5, 5, 5)
    for bad in ([1, 2], [1, 2, 300], [1.5, 2, 3], "red", -1, True):
        with pytest.raises(InspectorError):
            AugmentationPolicy.from_json({**data, "border_value": bad})
