"""Fuzzing: mutated image files either load as sane RGB uint8 or are refused with ImageLoadError.

Nothing else may escape (no raw Pillow/OpenCV exception, no crash, no giant allocation), and
whatever loads must go through the pipeline's preprocessing (FeatureExtractor.preprocess).
"""
from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from inspector.io.images import MAX_SIDE, ImageLoadError, decode_image, to_rgb_uint8

PREPROCESS_SIZE = 48


def _seed_files() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
    files = {}
    for fmt, mode, options in (("PNG", "RGB", {}), ("PNG", "I;16", {}), ("PNG", "P", {}), ("JPEG", "RGB", {"quality": 80}),
                               ("JPEG", "CMYK", {}), ("BMP", "RGB", {}), ("TIFF", "RGB", {}), ("WEBP", "RGB", {}),
                               ("GIF", "P", {}), ("PPM", "L", {})):
        if mode == "I;16":
            image = Image.fromarray((rgb[..., 0].astype(np.uint16) * 257))
        else:
            image = Image.fromarray(rgb).convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        files[f"{fmt}-{mode}"] = buffer.getvalue()
    frames = [Image.fromarray(rgb).convert("P"), Image.fromarray(255 - rgb).convert("P")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    files["GIF-animated"] = buffer.getvalue()
    return files


SEEDS = _seed_files()
SEED_NAMES = sorted(SEEDS)


def preprocess(image: np.ndarray) -> np.ndarray:
    """The pipeline's own preprocessing, without building a backbone (it only needs the config)."""
    from inspector.features.extractor import FeatureConfig, FeatureExtractor

    return FeatureExtractor.preprocess(SimpleNamespace(config=FeatureConfig(image_size=PREPROCESS_SIZE)), image)


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buffer = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        op = int(rng.integers(0, 6))
        position = int(rng.integers(0, max(1, len(buffer))))
        if op == 0 and buffer:  # flip one bit
            buffer[position % len(buffer)] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and buffer:  # random byte
            buffer[position % len(buffer)] = int(rng.integers(0, 256))
        elif op == 2:  # truncate
            del buffer[position:]
        elif op == 3:  # insert random bytes
            buffer[position:position] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
        elif op == 4 and len(buffer) > 8:  # large value in a header field (sizes live in the first bytes)
            spot = int(rng.integers(0, min(len(buffer) - 4, 64)))
            buffer[spot:spot + 4] = int(rng.integers(0, 2**32, dtype=np.uint64)).to_bytes(4, "big")
        elif op == 5 and buffer:  # duplicate a slice
            end = min(len(buffer), position + int(rng.integers(1, 64)))
            buffer[position:position] = buffer[position:end]
    return bytes(buffer)


def check_outcome(data: bytes, name: str) -> None:
    try:
        image = decode_image(data, name)
    except ImageLoadError as exc:
        assert name in str(exc)  # the message names the file
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert 1 <= image.shape[0] <= MAX_SIDE and 1 <= image.shape[1] <= MAX_SIDE
    tensor = preprocess(image)
    assert tensor.shape == (3, PREPROCESS_SIZE, PREPROCESS_SIZE) and tensor.dtype == np.float32
    assert np.isfinite(tensor).all() and tensor.min() >= 0.0 and tensor.max() <= 1.0


@pytest.mark.parametrize("name", SEED_NAMES)
def test_unmutated_seeds_load(name):
    image = decode_image(SEEDS[name], name)
    assert image.shape == (20, 28, 3)


def test_seeded_mutation_loop():
    """A fixed, reproducible sweep: 40 mutants of every seed format."""
    rng = np.random.default_rng(2024)
    refused = 0
    for name in SEED_NAMES:
        for index in range(40):
            data = mutate(SEEDS[name], rng)
            try:
                decode_image(data, f"{name}#{index}")
            except ImageLoadError:
                refused += 1
            check_outcome(data, f"{name}#{index}")
    assert refused > 0  # the mutations do break files: the refusal path was exercised


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SEED_NAMES), seed=st.integers(0, 2**32 - 1))
def test_hypothesis_mutations(name, seed):
    check_outcome(mutate(SEEDS[name], np.random.default_rng(seed)), f"fuzz-{name}")


@settings(max_examples=100, deadline=None)
@given(data=st.binary(min_size=0, max_size=256))
def test_arbitrary_bytes(data):
    check_outcome(data, "bytes.bin")


@settings(max_examples=80, deadline=None)
@given(array=arrays(dtype=st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]),
                    shape=st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 2, 3, 4]))))
def test_arrays_through_to_rgb_and_preprocess(array):
    image = to_rgb_uint8(array)
    assert image.dtype == np.uint8 and image.shape == array.shape[:2] + (3,)
    tensor = preprocess(image)
    assert tensor.shape == (3, PREPROCESS_SIZE, PREPROCESS_SIZE) and np.isfinite(tensor).all()


def test_preprocess_refuses_wrong_layouts():
    from inspector.types import InspectorError

    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(InspectorError):
            preprocess(bad)
