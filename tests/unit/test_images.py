"""Image loading: every odd file is either loaded correctly or refused with a clear message."""
from __future__ import annotations

import io
import struct
import sys
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from inspector.io import images as images_module
from inspector.io.images import (
    ImageLoadError,
    decode_image,
    encode_image,
    is_image_file,
    load_image,
    load_mask,
    save_image,
    to_rgb_uint8,
)
from inspector.types import InspectorError

try:
    import resource  # POSIX only: used to check peak memory
except ImportError:  # pragma: no cover - Windows
    resource = None


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pattern(height: int = 24, width: int = 32) -> np.ndarray:
    """A colourful pattern with no symmetry, so flips and rotations show."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx * 7 + yy * 3) % 256],
                    axis=2).astype(np.uint8)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_with_declared_size(width: int, height: int) -> bytes:
    """A valid PNG header declaring an enormous image, followed by a tiny compressed stream."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + png_chunk(b"IEND", b""))


# -- formats and depths that must load correctly -----------------------------------------------
def test_rgb_png_round_trip(tmp_path):
    image = pattern()
    save_image(tmp_path / "a.png", image)
    loaded = load_image(tmp_path / "a.png")
    assert loaded.dtype == np.uint8 and loaded.shape == (24, 32, 3)
    assert np.array_equal(loaded, image)


def test_gray_rgba_palette_and_bilevel_become_rgb():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    out = decode_image(encode(Image.fromarray(gray), "PNG"))
    assert out.shape == (8, 8, 3) and np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 2], gray)

    rgba = np.dstack([pattern(8, 8), np.full((8, 8), 7, np.uint8)])
    assert np.array_equal(decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")), rgba[..., :3])

    palette = Image.fromarray(pattern(8, 8)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = decode_image(encode(palette, "PNG"))
    assert np.array_equal(out, np.asarray(palette.convert("RGB")))

    bilevel = Image.fromarray((np.eye(8) > 0).astype(np.uint8) * 255).convert("1")
    out = decode_image(encode(bilevel, "PNG"))
    assert out.shape == (8, 8, 3) and set(np.unique(out)) == {0, 255} and out[3, 3, 0] == 255 and out[3, 4, 0] == 0


def test_16_bit_gray_png_is_scaled_not_clipped():
    values = np.array([[0, 257, 4 * 257, 65535], [1000, 30000, 50000, 65534]], dtype=np.uint16)
    out = decode_image(encode(Image.fromarray(values), "PNG"), "gray16.png")
    expected = np.round(values / 257.0).astype(np.uint8)
    assert np.array_equal(out[..., 0], expected)
    assert out[0, 3, 0] == 255 and out[0, 1, 0] == 1  # 65535 -> 255, not clipped to 255 at 255


def test_16_bit_color_png_and_tiff(tmp_path):
    rng = np.random.default_rng(0)
    bgr16 = rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    expected = np.round(bgr16[..., ::-1] / 257.0)
    for suffix in (".png", ".tif"):
        path = tmp_path / f"c16{suffix}"
        assert cv2.imwrite(str(path), bgr16)
        out = load_image(path)
        assert out.shape == (6, 7, 3)
        assert np.abs(out.astype(int) - expected).max() <= 1
    gray16 = (np.arange(42, dtype=np.uint16).reshape(6, 7) * 1500)
    assert cv2.imwrite(str(tmp_path / "g16.tif"), gray16)
    out = load_image(tmp_path / "g16.tif")
    assert np.array_equal(out[..., 1], np.round(gray16 / 257.0).astype(np.uint8))


def test_float_tiff_is_min_max_scaled(tmp_path):
    values = np.linspace(-5.0, 20.0, 30, dtype=np.float32).reshape(5, 6)
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    out = load_image(tmp_path / "f.tif")
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255 and np.all(np.diff(out[..., 0].ravel().astype(int)) >= 0)


def test_one_pixel_image():
    out = decode_image(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"), "dot.png")
    assert out.shape == (1, 1, 3) and out[0, 0].tolist() == [10, 20, 30]


def test_20000_pixel_wide_image_is_shrunk_on_load():
    wide = np.zeros((300, 20000, 3), np.uint8)
    wide[:, 10000:] = 200
    out = decode_image(encode(Image.fromarray(wide), "PNG"), "panorama.png")
    assert out.shape == (61, 4096, 3)
    assert out[:, :2000].max() == 0 and out[:, -2000:].min() == 200


def test_huge_jpeg_is_decoded_at_reduced_scale():
    big = np.zeros((1000, 9000, 3), np.uint8)
    big[:, 4500:] = 255
    out = decode_image(encode(Image.fromarray(big), "JPEG", quality=90), "big.jpg", max_side=1000)
    assert max(out.shape[:2]) == 1000 and out.shape[0] in (111, 112)
    assert out[:, :400].mean() < 10 and out[:, -400:].mean() > 245


def test_cmyk_jpeg_is_converted_to_rgb():
    rgb = Image.new("RGB", (16, 16), (200, 40, 90))
    data = encode(rgb.convert("CMYK"), "JPEG", quality=100)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = decode_image(data, "cmyk.jpg")
    assert out.shape == (16, 16, 3)
    assert np.abs(out.reshape(-1, 3).mean(axis=0) - [200, 40, 90]).max() < 6


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (10, 8), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    out = decode_image(data, "anim.gif")
    assert out.shape == (8, 10, 3) and out[..., 0].min() > 240 and out[..., 1].max() < 15


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation):
    image = Image.fromarray(pattern(6, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(image, "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(decode_image(data, "oriented.png"), expected)


def test_unicode_path_and_suffixes(tmp_path):
    path = tmp_path / "pièce 日本 ✓.png"
    save_image(path, pattern(4, 5))
    assert load_image(path).shape == (4, 5, 3)
    assert is_image_file(path) and is_image_file("A.JPEG") and is_image_file("x.gif") and not is_image_file("x.txt")


def test_save_image_jpeg_and_encode(tmp_path):
    save_image(tmp_path / "a.jpg", pattern())
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    assert decode_image(encode_image(pattern(), "BMP")).shape == (24, 32, 3)


# -- files that must be refused with a clear message ---------------------------------------------
def test_truncated_png_and_jpeg_are_refused():
    rng = np.random.default_rng(1)
    noisy = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for fmt, name in (("PNG", "cut.png"), ("JPEG", "cut.jpg")):
        data = encode(noisy, fmt)
        with pytest.raises(ImageLoadError, match=name) as info:
            decode_image(data[: len(data) // 2], name)
        assert "damaged or truncated" in str(info.value) or "could not be decoded" in str(info.value)


def test_random_bytes_and_empty_files_are_refused(tmp_path):
    data = np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(ImageLoadError, match=r"noise\.png: not a readable image"):
        decode_image(data, "noise.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(tmp_path / "empty.png")


def test_formats_outside_the_list_are_refused():
    data = encode(Image.fromarray(pattern(4, 4)), "TGA")  # TGA has no magic number: never guessed
    with pytest.raises(ImageLoadError, match="not a readable image"):
        decode_image(data, "x.tga")


def test_png_bomb_declared_size_is_refused_cheaply():
    data = png_with_declared_size(100_000, 100_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if resource else 0
    start = time.perf_counter()
    with pytest.raises(ImageLoadError, match=r"bomb\.png: .*pixel limit"):
        decode_image(data, "bomb.png")
    assert time.perf_counter() - start < 1.0
    if resource is not None:
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB on Linux, bytes on macOS
        assert grown * (1 if sys.platform != "darwin" else 1 / 1024) < 100_000  # far below the 10 GB declared


def test_image_just_over_the_pixel_limit_is_refused():
    with pytest.raises(ImageLoadError, match=r"square\.png: .*250,000,000-pixel limit"):
        decode_image(png_with_declared_size(16_000, 16_000), "square.png")


def test_memory_limit_refuses_before_decoding(monkeypatch):
    monkeypatch.setattr(images_module, "MAX_DECODE_BYTES", 100_000)
    with pytest.raises(ImageLoadError, match="would need about"):
        decode_image(encode(Image.new("RGB", (300, 300)), "PNG"), "large.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "none.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    assert issubclass(ImageLoadError, InspectorError)


def test_huge_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_FILE_BYTES", 10)
    save_image(tmp_path / "a.png", pattern())
    with pytest.raises(ImageLoadError, match="MB"):
        load_image(tmp_path / "a.png")


# -- helpers ---------------------------------------------------------------------------------------
def test_to_rgb_uint8_cases():
    assert to_rgb_uint8(np.array([[True, False]])).tolist() == [[[255] * 3, [0] * 3]]
    assert to_rgb_uint8(np.array([[0.0, 0.5, 1.0]]))[0, :, 0].tolist() == [0, 128, 255]
    assert to_rgb_uint8(np.array([[-1.0, 1.0, np.nan]]))[0, :, 0].tolist() == [0, 255, 128]
    assert to_rgb_uint8(np.array([[3, 200]], np.int32))[0, :, 0].tolist() == [3, 200]
    assert to_rgb_uint8(np.array([[0, 65535]], np.int32))[0, :, 0].tolist() == [0, 255]
    assert to_rgb_uint8(np.array([[0, 257]], ">u2"))[0, :, 0].tolist() == [0, 1]  # big-endian 16-bit
    assert to_rgb_uint8(np.zeros((2, 2, 2), np.uint8)).shape == (2, 2, 3)  # gray + alpha
    for bad in (np.zeros((0, 3, 3), np.uint8), np.zeros((2, 2, 5), np.uint8), np.zeros(4), np.array([["a"]])):
        with pytest.raises(ValueError):
            to_rgb_uint8(bad)


def test_load_mask(tmp_path):
    mask = np.zeros((8, 10), np.uint8)
    mask[2:4, 3:6] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    loaded = load_mask(tmp_path / "m.png")
    assert loaded.dtype == bool and loaded.sum() == 6
    assert load_mask(tmp_path / "m.png", (16, 20)).sum() == 24
    (tmp_path / "bad.png").write_bytes(b"not a mask")
    with pytest.raises(ImageLoadError, match="bad.png"):
        load_mask(tmp_path / "bad.png")
