"""Robust image loading: any common format and depth in, RGB uint8 (H, W, 3) out.

Every file is untrusted input. Decoding goes through Pillow, restricted to the formats below,
which reads the declared size from the header before allocating anything: a "PNG bomb" or a
20000 x 20000 panorama is refused, or shrunk on load, before it can fill memory. JPEGs are
decoded at reduced scale when they are much larger than needed. 16-bit data is scaled down
(65535 -> 255), not clipped; grayscale is replicated; alpha is dropped, since parts are
photographed, not layered; the EXIF orientation is applied; animated files give their first
frame. Any failure becomes an `ImageLoadError` that names the file and the reason.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageFile

from inspector.types import InspectorError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm", ".pnm")
#: Pillow formats we decode; everything else (and file types guessed from weak magic bytes) is refused.
#: (JPEG covers MPO, the multi-picture JPEG many cameras write.)
ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "TIFF", "WEBP", "GIF", "PPM")
#: Largest image accepted, in pixels (about 15800 x 15800); bigger ones are refused before decoding.
MAX_PIXELS = 250_000_000
#: Most memory one decode may take (the image as decoded, before shrinking).
MAX_DECODE_BYTES = 512 << 20
#: Largest file read (a camera image is a few tens of MB at most).
MAX_FILE_BYTES = 1 << 30
#: Images are shrunk on load so that their longer side is at most this (they are resized
#: to the backbone's input anyway); keeps a 20000-pixel panorama from filling memory.
MAX_SIDE = 4096

ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow's own bomb guard raises above 2 x MAX_IMAGE_PIXELS (so: above MAX_PIXELS) while opening,
# and only warns between 1x and 2x, where `_check_size` decides; the warning is redundant noise.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Damaged metadata (TIFF tags, EXIF) makes Pillow warn and carry on; the pixels are what matter.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
Image.init()  # register every plugin now, so that `formats=ALLOWED_FORMATS` finds TIFF and WEBP

PathLike = Union[str, os.PathLike]

# Bytes per pixel of each Pillow mode once converted for NumPy (P and CMYK end up as RGB(A)).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 4, "PA": 4, "LA": 2, "La": 2, "RGB": 3, "RGBA": 4, "RGBa": 4,
                    "RGBX": 4, "CMYK": 4, "YCbCr": 3, "LAB": 3, "HSV": 3, "I": 4, "F": 4,
                    "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


class ImageLoadError(InspectorError):
    """An image that cannot be used; the message names the file and the reason."""


def is_image_file(path: PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def to_rgb_uint8(array: np.ndarray) -> np.ndarray:
    """Normalise an array (gray / RGB / RGBA, any integer or float depth) to RGB uint8.

    uint16 always maps 65535 -> 255 (a fixed scale, so every image of a camera maps alike);
    other wide integer types are taken as 8-bit when they fit, as 16-bit when they fit that,
    and min-max scaled otherwise. Floats in [0, 1] map to 0..255, other floats are min-max scaled.
    """
    array = np.asarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"unsupported image shape {array.shape}")
    if array.shape[2] in (2, 4):  # drop alpha
        array = array[:, :, :-1]
    if array.dtype == np.uint8:
        out = array
    elif array.dtype == np.bool_:
        out = array.astype(np.uint8) * np.uint8(255)
    elif array.dtype == np.uint16:
        out = ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:
            out = array.astype(np.uint8)
        elif low >= 0 and high <= 65535:
            out = ((array.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)
        else:
            out = _min_max(array.astype(np.float64))
    elif np.issubdtype(array.dtype, np.floating):
        wide = np.float64 if array.dtype.itemsize > 4 else np.float32
        values = np.nan_to_num(array.astype(wide, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(values.min()), float(values.max())
        if low >= 0.0 and high <= 1.0:
            out = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
        else:
            out = _min_max(values)
    else:
        raise ValueError(f"unsupported pixel type {array.dtype}")
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out)


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255.0 / max(high - low, 1e-12))
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def _check_size(image: Image.Image, name: str) -> None:
    """Refuse absurd declared sizes before a single pixel is decoded."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"{name}: the image has no pixels ({width}x{height}).")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"{name}: {width}x{height} pixels is larger than the {MAX_PIXELS:,}-pixel limit; "
            "resize or crop it before use."
        )


def _check_memory(image: Image.Image, name: str) -> None:
    width, height = image.size
    needed = width * height * _BYTES_PER_PIXEL.get(image.mode, 8)
    if needed > MAX_DECODE_BYTES:
        raise ImageLoadError(
            f"{name}: {width}x{height} pixels in mode {image.mode} would need about {needed / 2**20:,.0f} MB "
            f"to decode (limit {MAX_DECODE_BYTES / 2**20:,.0f} MB); resize or crop it before use."
        )


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as uint8, uint16 or float32 with 1 to 4 channels."""
    mode = image.mode
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16, copy=False)
    if mode == "I":
        array = np.asarray(image)
        if array.size and array.min() >= 0 and array.max() <= 65535:
            return array.astype(np.uint16)  # 16-bit data that Pillow widened
        return array.astype(np.float32)
    if mode == "F":
        return np.asarray(image, dtype=np.float32)
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    if mode == "1":
        return np.asarray(image.convert("L"))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    # CMYK (Adobe inversion is handled by the JPEG decoder), YCbCr, LAB, HSV, RGBX, La, RGBa ...
    return np.asarray(image.convert("RGB"))


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 when absent or unreadable: a bad EXIF block is not fatal)."""
    try:
        value = image.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:
        return 1


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Same result as PIL.ImageOps.exif_transpose, done on the (already shrunk) array."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return np.swapaxes(array, 0, 1)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return np.swapaxes(array, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """Box-average a huge image by an integer factor inside Pillow, before any copy is made."""
    factor = max(image.size) // max_side
    if factor < 2:
        return image
    if image.mode in ("1", "P", "PA"):
        image = image.convert("L" if image.mode == "1" else "RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    try:
        return image.reduce(factor)
    except (ValueError, NotImplementedError):  # a mode Pillow cannot reduce: cv2 shrinks it later
        return image


def _shrink(array: np.ndarray, max_side: int) -> np.ndarray:
    height, width = array.shape[:2]
    if max(height, width) <= max_side:
        return array
    import cv2

    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    channels = array.shape[2] if array.ndim == 3 else 1
    if channels > 4 or array.dtype not in (np.uint8, np.uint16, np.float32):
        array = array.astype(np.float32)
    resized = cv2.resize(np.ascontiguousarray(array), size, interpolation=cv2.INTER_AREA)
    return resized if resized.ndim == array.ndim else resized[:, :, None]


def decode_image(data: bytes, name: str = "<bytes>", max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode image bytes to RGB uint8; raise ImageLoadError naming `name` on any problem."""
    if not data:
        raise ImageLoadError(f"{name}: the file is empty.")
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            _check_size(image, name)
            if image.format in ("JPEG", "MPO") and max(image.size) > 2 * max_side:
                image.draft(image.mode, (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale, cheaply
            _check_memory(image, name)
            image.load()
            orientation = _orientation(image)
            image = _reduce(image, max_side)
            array = _shrink(_pil_to_array(image), max_side)
        return to_rgb_uint8(_apply_orientation(array, orientation))
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(
            f"{name}: refused, the declared size is larger than the {MAX_PIXELS:,}-pixel limit (a decompression "
            "bomb, or an image to resize or crop before use)."
        ) from exc
    except MemoryError as exc:
        raise ImageLoadError(f"{name}: not enough memory to decode this image.") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageLoadError(
            f"{name}: not a readable image (unknown or corrupt format; "
            f"accepted: {', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)})."
        ) from exc
    except (OSError, SyntaxError, EOFError) as exc:
        raise ImageLoadError(f"{name}: the image is damaged or truncated ({exc}).") from exc
    except Exception as exc:  # decoders raise many types on malformed input; none may escape raw
        raise ImageLoadError(f"{name}: the image could not be decoded ({type(exc).__name__}: {exc}).") from exc


def load_image(path: PathLike, max_side: int = MAX_SIDE) -> np.ndarray:
    """Load an image file as RGB uint8 (H, W, 3). Unicode paths work on every OS."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageLoadError(f"{path}: the file is {size / 2**20:,.0f} MB, more than an image can reasonably be.")
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{path}: file not found.") from exc
    except IsADirectoryError as exc:
        raise ImageLoadError(f"{path}: is a folder, not an image file.") from exc
    except OSError as exc:
        if path.is_dir():
            raise ImageLoadError(f"{path}: is a folder, not an image file.") from exc
        raise ImageLoadError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    return decode_image(data, str(path), max_side)


def load_mask(path: PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Load a ground-truth mask as bool (H, W); resized (nearest) to `shape` when given."""
    path = Path(path)
    try:
        with Image.open(path, formats=ALLOWED_FORMATS) as image:
            _check_size(image, str(path))
            array = np.asarray(image.convert("L"))
    except ImageLoadError:
        raise
    except Exception as exc:
        raise ImageLoadError(f"{path}: not a readable mask ({exc}).") from exc
    mask = array > 127
    if shape is not None and mask.shape != tuple(shape):
        import cv2

        mask = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    return mask


def encode_image(image: np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode an image (any depth accepted by `to_rgb_uint8`) as PNG, JPEG, BMP or TIFF bytes."""
    buffer = io.BytesIO()
    options = {"quality": 95} if fmt == "JPEG" else {}
    Image.fromarray(to_rgb_uint8(image)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def save_image(path: PathLike, image: np.ndarray) -> None:
    """Save an RGB uint8 image atomically (PNG unless the suffix says otherwise)."""
    from inspector.store.atomic import write_bytes_atomic

    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}.get(path.suffix.lower(), "PNG")
    write_bytes_atomic(path, encode_image(image, fmt))
