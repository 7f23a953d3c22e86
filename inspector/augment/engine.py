"""Apply an `AugmentationPolicy` with imgaug: training copies, and a fast live preview.

Order of the output of `augment_images` (N originals, factor F):

    [original 0, ..., original N-1,
     copy 0 of original 0, ..., copy F-1 of original 0,
     copy 0 of original 1, ..., copy F-1 of original N-1]

so the copies of original i are `result[N + i*F : N + (i+1)*F]` (see `copy_slice`). Originals are
always kept: seed 000 (Fig. 6) shows that training on augmented copies alone does worse.

Determinism: the copies of original i depend only on (seed, i, the policy, the image), never on
how many other images are augmented with it or in which chunk. So a protocol may augment in
chunks, or a subset, and get the same copies.

Transformations run in a fixed order: flips, 90° rotation, one affine warp (translate, rotate,
zoom; the uncovered border filled as the policy's `border` says), then add, then multiply. A
constant border may be a colour: RGB images get it channel by channel, grey images its luma.

Seeds: the policy carries its own base seed (`policy.seed`); the `seed` argument of these
functions (a fold, a replicate, a preview draw) is added to it, so a policy saved with seed 0
gives the copies it always gave.
"""
from __future__ import annotations

import re
import time
from typing import Iterator, Optional, Sequence

import cv2
import imgaug.augmenters as iaa
import imgaug.parameters as iap
import numpy as np

from inspector.augment.policy import AugmentationPolicy
from inspector.types import InspectorError, Reporter, as_reporter

#: The default border fill (the policy's `border` chooses): reflection avoids black wedges
#: that the detector would otherwise learn as normal, but mirrors edges near the border.
AFFINE_MODE = "reflect"
MAX_FACTOR = 1000


def parse_factor(value: int | str) -> int:
    """'x10', '10' or 10 -> 10. 0 means no augmentation."""
    text = str(value).strip().lower()
    match = re.fullmatch(r"x?\s*(\d+)", text)
    if not match:
        raise InspectorError(f"Augmentation factor must be a whole number such as 10 or x10, got {value!r}.")
    factor = int(match.group(1))
    if factor > MAX_FACTOR:
        raise InspectorError(f"Augmentation factor {factor} is too large (at most {MAX_FACTOR}).")
    return factor


class _FillColour(iap.StochasticParameter):
    """imgaug's Affine draws its fill as (images, 3) values, one per channel, and OpenCV paints
    them channel by channel: this parameter always draws the one colour (no randomness, so the
    other draws are those a grey fill gets)."""

    def __init__(self, colour: tuple[int, int, int]) -> None:
        super().__init__()
        self.colour = np.asarray(colour, dtype=np.float64)

    def _draw_samples(self, size, random_state):  # noqa: ARG002 - imgaug's signature
        samples = np.empty(size, dtype=np.float64)
        samples[...] = self.colour if size and size[-1] == 3 else self.colour.mean()
        return samples


def border_cval(policy: AugmentationPolicy, channels: int = 3) -> int | iap.StochasticParameter:
    """The `cval` for imgaug's Affine: the grey level as it always was, or the policy's colour for an
    RGB image and its luma (ITU-R BT.601) for a grey one, where OpenCV would take the red channel."""
    if not isinstance(policy.border_value, tuple):
        return policy.border_value
    if channels == 3:
        return _FillColour(policy.border_value)
    red, green, blue = policy.border_value
    return int(round(0.299 * red + 0.587 * green + 0.114 * blue))


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else int(image.shape[2])


def build_augmenter(policy: AugmentationPolicy, seed: int = 0, pixel_scale: float = 1.0,
                    translate_fraction: Optional[tuple[float, float]] = None, channels: int = 3) -> iaa.Sequential:
    """The imgaug pipeline for `policy`. `pixel_scale` rescales pixel translations (for previews
    computed on a downscaled image, so that they look like the full-size result).
    `translate_fraction` (x, y) instead draws shifts as fractions of the image size: the draws
    then do not depend on the size, so a preview made at any resolution shows the same copies.
    `channels` (of the images it will augment) picks how a colour border is painted."""
    policy.validate()
    steps: list[iaa.Augmenter] = []
    if policy.flip_horizontal:
        steps.append(iaa.Fliplr(0.5))
    if policy.flip_vertical:
        steps.append(iaa.Flipud(0.5))
    if policy.rotate90:
        steps.append(iaa.Rot90([1, 2, 3], keep_size=True))
    affine: dict = {}
    if translate_fraction is not None and policy.translate is not None and (policy.translate.x or policy.translate.y):
        fx, fy = translate_fraction
        affine["translate_percent"] = {"x": (-fx, fx), "y": (-fy, fy)}
    elif policy.translate is not None and (policy.translate.x or policy.translate.y):
        tx = int(round(policy.translate.x * pixel_scale))
        ty = int(round(policy.translate.y * pixel_scale))
        affine["translate_px"] = {"x": (-tx, tx), "y": (-ty, ty)}
    if policy.rotate is not None:
        affine["rotate"] = (policy.rotate.low, policy.rotate.high)
    if policy.zoom is not None:
        affine["scale"] = (policy.zoom.low, policy.zoom.high)
    if affine:
        steps.append(iaa.Affine(**affine, order=1, mode=policy.border,
                                cval=border_cval(policy, channels)))
    if policy.add is not None:
        steps.append(iaa.Add((policy.add.low, policy.add.high), per_channel=False))
    if policy.multiply is not None:
        steps.append(iaa.Multiply((policy.multiply.low, policy.multiply.high), per_channel=False))
    return iaa.Sequential(steps, random_order=False, seed=_entropy(seed))


def _entropy(*keys: int) -> int:
    """A well-mixed 31-bit seed from integer keys (imgaug wants a non-negative int)."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1)[0] & 0x7FFFFFFF)


def _check_image(image: np.ndarray, index: int) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise InspectorError(
            f"Image {index} cannot be augmented: expected a uint8 array (H, W) or (H, W, C), got "
            f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}."
        )
    return image


def _resize_square(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to a `size` square, or to a (height, width) working geometry (preprocessing v2)."""
    height, width = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if image.shape[0] == height and image.shape[1] == width:
        return image
    shrink = image.shape[0] > height or image.shape[1] > width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def iter_augmented_copies(images: Sequence[np.ndarray], policy: AugmentationPolicy, factor: int, seed: int = 0,
                          reporter: Optional[Reporter] = None, working_size: Optional[int] = None,
                          indices: Optional[Sequence[int]] = None) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Yield (i, the `factor` copies of original i) one original at a time (bounded memory).

    `indices` gives each image's position in the full set (default 0..N-1): copies depend on that
    position, so augmenting a subset reproduces the copies the full set would get.
    `working_size` first resizes each image to a working_size square (or (height, width)), as the feature extractor
    would: pixel translations then mean the same for every camera resolution.
    """
    factor = parse_factor(factor)
    reporter = as_reporter(reporter)
    positions = list(range(len(images))) if indices is None else [int(i) for i in indices]
    if len(positions) != len(images):
        raise ValueError(f"{len(images)} images but {len(positions)} indices")
    seed = int(seed) + policy.seed
    augmenters: dict[int, iaa.Sequential] = {}  # by channel count: a colour border paints grey images in grey
    total = len(images)
    reporter.report("augment", 0, total, f"Augmenting {total} image(s) x{factor}")
    for done, (position, image) in enumerate(zip(positions, images), start=1):
        image = _check_image(image, position)
        if working_size is not None:
            image = _resize_square(image, working_size)
        if factor == 0:
            copies: list[np.ndarray] = []
        else:
            channels = _channels(image)
            if channels not in augmenters:
                augmenters[channels] = build_augmenter(policy, seed, channels=channels)
            augmenter = augmenters[channels]
            augmenter.seed_(_entropy(seed, position))
            copies = augmenter(images=[image] * factor)
        yield position, copies
        reporter.report("augment", done, total, f"{done}/{total} image(s) augmented x{factor}")


def augmented_copies(images: Sequence[np.ndarray], policy: AugmentationPolicy, factor: int, seed: int = 0,
                     reporter: Optional[Reporter] = None, working_size: Optional[int] = None) -> list[np.ndarray]:
    """The N*factor augmented copies only, grouped by original (copies of 0 first)."""
    out: list[np.ndarray] = []
    for _, copies in iter_augmented_copies(images, policy, factor, seed, reporter, working_size):
        out.extend(copies)
    return out


def augment_images(images: Sequence[np.ndarray], policy: AugmentationPolicy, factor: int, seed: int = 0,
                   reporter: Optional[Reporter] = None, working_size: Optional[int] = None) -> list[np.ndarray]:
    """Originals first, then `factor` copies per original grouped by original (module docstring).

    The result holds N * (1 + factor) images. With `working_size`, the originals are returned
    resized too, so that every image in the result has the same size.
    """
    originals = [_check_image(image, i) for i, image in enumerate(images)]
    if working_size is not None:
        originals = [_resize_square(image, working_size) for image in originals]
    return list(originals) + augmented_copies(images, policy, factor, seed, reporter, working_size)


def copy_slice(n_originals: int, factor: int, index: int) -> slice:
    """Where the copies of original `index` sit in the output of `augment_images`."""
    start = n_originals + index * factor
    return slice(start, start + factor)


def augment_one(image: np.ndarray, policy: AugmentationPolicy, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` augmented versions of one image at its full size (the copies of original 0)."""
    _, copies = next(iter_augmented_copies([image], policy, count, seed))
    return copies


def preview_samples(image: np.ndarray, policy: AugmentationPolicy, count: int = 12, seed: int = 0,
                    max_side: int = 256, full_size: Optional[tuple[int, int]] = None,
                    indices: Optional[Sequence[int]] = None) -> list[np.ndarray]:
    """`count` augmented samples for a live preview, computed on a copy no larger than `max_side`.

    Translations are fractions of `image`'s own size (`full_size`, (height, width), when the
    shifts are meant in the pixels of another size, e.g. the model's working size): each sample
    looks like a shrunk full-size result. Sample k has its own draw, so `indices` recomputes
    only some of them and a larger `max_side` gives the same samples in more detail (the
    bench's zoom).
    """
    image = preview_base(image, max_side)
    height, width = image.shape[:2]
    full_height, full_width = full_size if full_size is not None else (height, width)
    seed = int(seed) + policy.seed
    fraction = None
    if policy.translate is not None:
        fraction = (policy.translate.x / max(1, full_width), policy.translate.y / max(1, full_height))
    augmenter = build_augmenter(policy, seed, translate_fraction=fraction, channels=_channels(image))
    samples = []
    for index in (range(int(count)) if indices is None else indices):
        augmenter.seed_(_entropy(seed, 0, int(index)))
        samples.append(augmenter(image=image))
    return samples


def preview_base(image: np.ndarray, max_side: int) -> np.ndarray:
    """`image` reduced to at most `max_side` (what `preview_samples` augments; the bench shows it as the original)."""
    image = _check_image(image, 0)
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def benchmark_preview(image: Optional[np.ndarray] = None, policy: Optional[AugmentationPolicy] = None,
                      count: int = 12, repeats: int = 10, max_side: int = 256) -> dict[str, float]:
    """Time `preview_samples` (milliseconds per preview of `count` samples); for the benchmark suite.

    Defaults: a 900x900 random image (an MVTec bottle's size) and the 'hazelnut' preset, which
    turns on every knob.
    """
    from inspector.augment.policy import PRESETS

    if image is None:
        image = np.random.default_rng(0).integers(0, 256, size=(900, 900, 3), dtype=np.uint8)
    policy = policy or PRESETS["hazelnut"]
    preview_samples(image, policy, count, 0, max_side)  # warm-up (imports, caches)
    times = []
    for repeat in range(repeats):
        start = time.perf_counter()
        preview_samples(image, policy, count, repeat, max_side)
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return {"median_ms": times[len(times) // 2], "max_ms": times[-1], "min_ms": times[0], "count": float(count),
            "image_side": float(max(image.shape[:2])), "max_side": float(max_side)}
