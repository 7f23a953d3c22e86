"""Render the bundled demo dataset: a synthetic turned-steel flange in MVTec layout.

Why: the app, its self-test and the frozen-bundle smoke test need a small dataset that we own
outright (never MVTec images). Everything is drawn with NumPy/OpenCV from a fixed seed, so the
output is byte-for-byte reproducible:

    .venv/bin/python tools/make_demo_data.py            # writes resources/demo/flange/...

Layout: <out>/<part>/train/good, test/good, test/{scratch,dent,stain},
ground_truth/<defect>/<stem>_mask.png (0/255). Images are 256x256 RGB PNG.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PART = "flange"
DEFECTS = ("scratch", "dent", "stain")
SIZE = 256
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "demo"

# Geometry of the part in pixels at SIZE=256 (scaled for other sizes).
OUTER_RADIUS = 100.0
BORE_RADIUS = 34.0
BOLT_CIRCLE = 68.0
BOLT_RADIUS = 9.0
OUTER_CHAMFER = 6.0
BORE_CHAMFER = 4.0
HOLE_CHAMFER = 2.0
STEEL = np.array([172.0, 176.0, 182.0], dtype=np.float32)  # RGB, slightly cool
BACKGROUND = np.array([24.0, 25.0, 29.0], dtype=np.float32)


@dataclass(frozen=True)
class Pose:
    """Per-image variation: small shift/rotation of the part and a slightly moved lamp."""

    dx: float
    dy: float
    rotation: float  # radians
    light_azimuth: float  # radians, image plane, 0 = from the right, counter-clockwise
    light_elevation: float  # radians above the image plane
    brightness: float
    ripple_phase: float

    @staticmethod
    def sample(rng: np.random.Generator) -> "Pose":
        return Pose(
            dx=float(rng.uniform(-3.0, 3.0)),
            dy=float(rng.uniform(-3.0, 3.0)),
            rotation=float(np.deg2rad(rng.uniform(-4.0, 4.0))),
            light_azimuth=float(np.deg2rad(135.0 + rng.uniform(-8.0, 8.0))),
            light_elevation=float(np.deg2rad(55.0 + rng.uniform(-4.0, 4.0))),
            brightness=float(rng.uniform(0.94, 1.06)),
            ripple_phase=float(rng.uniform(0.0, 2.0 * np.pi)),
        )


@dataclass
class Render:
    """A clean rendering before camera noise: float RGB in 0..255 plus where the part is."""

    image: np.ndarray  # (H, W, 3) float32
    coverage: np.ndarray  # (H, W) float32, 1 on metal, 0 on background (anti-aliased)
    top_face: np.ndarray  # (H, W) bool, flat face away from every edge: where defects go
    light: np.ndarray  # (3,) unit vector towards the lamp (x right, y down, z to camera)
    shading: np.ndarray  # (H, W) float32 diffuse+specular factor of the clean surface


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: casting unevenness, background mottling, stain outlines."""
    noise = rng.standard_normal((size, size)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    return noise / (np.abs(noise).max() + 1e-6)


def _ramp(distance: np.ndarray) -> np.ndarray:
    """Anti-aliased inside test: 1 well inside (distance > 0.5), 0 outside."""
    return np.clip(distance + 0.5, 0.0, 1.0)


def render_part(rng: np.random.Generator, size: int = SIZE) -> Render:
    """Draw one flange: turned face with concentric lathe marks, chamfers, 4 bolt holes, shadow."""
    pose = Pose.sample(rng)
    scale = size / 256.0
    outer, bore = OUTER_RADIUS * scale, BORE_RADIUS * scale
    bolt_circle, bolt_radius = BOLT_CIRCLE * scale, BOLT_RADIUS * scale
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = size / 2.0 + pose.dx * scale, size / 2.0 + pose.dy * scale
    x, y = xx - cx, yy - cy
    r = np.sqrt(x * x + y * y) + 1e-6
    theta = np.arctan2(y, x)

    # Surface normals: flat face, outer and bore chamfers tilted by 45 degrees, small hole chamfers.
    nx = np.zeros_like(r)
    ny = np.zeros_like(r)
    outer_chamfer = r > outer - OUTER_CHAMFER * scale
    nx[outer_chamfer] = (x / r)[outer_chamfer]
    ny[outer_chamfer] = (y / r)[outer_chamfer]
    bore_chamfer = r < bore + BORE_CHAMFER * scale
    nx[bore_chamfer] = -(x / r)[bore_chamfer]
    ny[bore_chamfer] = -(y / r)[bore_chamfer]
    coverage = _ramp(outer - r) * _ramp(r - bore)
    near_hole = np.zeros_like(r, dtype=bool)
    for k in range(4):
        angle = pose.rotation + np.pi / 4 + k * np.pi / 2
        hx, hy = cx + bolt_circle * np.cos(angle), cy + bolt_circle * np.sin(angle)
        dxh, dyh = xx - hx, yy - hy
        dh = np.sqrt(dxh * dxh + dyh * dyh) + 1e-6
        coverage *= _ramp(dh - bolt_radius)
        chamfer = dh < bolt_radius + HOLE_CHAMFER * scale
        nx[chamfer] = -(dxh / dh)[chamfer] * 0.7
        ny[chamfer] = -(dyh / dh)[chamfer] * 0.7
        near_hole |= dh < bolt_radius + 8.0 * scale
    nz = np.ones_like(r)
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / norm, ny / norm, nz / norm

    light = np.array([
        np.cos(pose.light_elevation) * np.cos(pose.light_azimuth),
        -np.cos(pose.light_elevation) * np.sin(pose.light_azimuth),
        np.sin(pose.light_elevation),
    ], dtype=np.float32)
    diffuse = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0.0, 1.0)
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half)
    glint = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0.0, 1.0) ** 40  # chamfers facing the lamp
    # Turned metal reflects in a radial streak towards (and weaker away from) the lamp.
    lamp_angle = np.arctan2(light[1], light[0])
    streak = np.cos(theta - lamp_angle)
    specular = 0.35 * np.clip(streak, 0, 1) ** 6 + 0.15 * np.clip(-streak, 0, 1) ** 6
    flat = nz > 0.999
    lathe = 0.025 * np.sin(2 * np.pi * r / (1.9 * scale) + pose.ripple_phase)
    lathe += 0.02 * np.sin(2 * np.pi * r / (23.0 * scale) + 2 * pose.ripple_phase)
    unevenness = 0.03 * _smooth_noise(rng, size, 12.0 * scale)
    shading = (0.55 * diffuse + 0.25 + np.where(flat, specular, 0.6 * specular + 0.5 * glint)
               + np.where(flat, lathe, 0) + unevenness)
    shading = (shading * pose.brightness).astype(np.float32)
    metal = STEEL[None, None, :] * shading[..., None]

    # Background: dark mat with a vignette, mottling and the part's soft shadow away from the lamp.
    vignette = 1.0 - 0.35 * ((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (size / 2) ** 2
    mottling = 1.0 + 0.08 * _smooth_noise(rng, size, 20.0 * scale)
    shift = np.float32([[1, 0, -6.0 * scale * light[0] / max(light[2], 0.3)],
                        [0, 1, -6.0 * scale * light[1] / max(light[2], 0.3)]])
    shadow = cv2.warpAffine(coverage, shift, (size, size), borderMode=cv2.BORDER_CONSTANT)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 5.0 * scale)
    background = BACKGROUND[None, None, :] * (vignette * mottling * (1.0 - 0.55 * shadow))[..., None]

    image = metal * coverage[..., None] + background * (1.0 - coverage[..., None])
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.6)  # lens softness
    top_face = (flat & ~near_hole & (r > bore + 10 * scale) & (r < outer - 12 * scale))
    return Render(np.clip(image, 0, 255).astype(np.float32), coverage.astype(np.float32), top_face, light, shading)


def _pick_spot(render: Render, rng: np.random.Generator, margin: int = 0) -> tuple[int, int]:
    """A random pixel on the flat face (defects sit on the face, not on edges or in holes)."""
    face = render.top_face
    if margin:
        face = cv2.erode(face.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    ys, xs = np.nonzero(face)
    index = int(rng.integers(len(ys)))
    return int(xs[index]), int(ys[index])


def add_scratch(render: Render, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thin, slightly curved line that catches the light (bright) or is a dark groove."""
    size = render.image.shape[0]
    x0, y0 = _pick_spot(render, rng)
    length = rng.uniform(28.0, 60.0) * size / 256
    angle = rng.uniform(0, np.pi)
    bend = rng.uniform(-0.012, 0.012)
    points = []
    for t in np.linspace(-0.5, 0.5, 24):
        a = angle + bend * t * length
        points.append((x0 + t * length * np.cos(a), y0 + t * length * np.sin(a)))
    canvas = np.zeros((size, size), np.float32)
    polyline = (np.array(points) * 16).round().astype(np.int32)[None]
    thickness = 1 if rng.random() < 0.6 else 2
    cv2.polylines(canvas, polyline, False, 1.0, thickness, cv2.LINE_AA, shift=4)
    canvas = np.clip(canvas, 0, 1) * render.coverage
    bright = rng.random() < 0.5
    tone = np.array([235.0, 238.0, 242.0] if bright else [55.0, 56.0, 60.0], np.float32)
    alpha = 0.85 * canvas[..., None]
    image = render.image * (1 - alpha) + tone * alpha
    mask = cv2.dilate((canvas > 0.02).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2)
    return image, (mask > 0) & (render.coverage > 0.02)


def add_dent(render: Render, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A shallow elliptical depression: shaded dark on the lamp side, bright on the other."""
    size = render.image.shape[0]
    scale = size / 256
    x0, y0 = _pick_spot(render, rng, margin=int(8 * scale))
    sx, sy = rng.uniform(4.0, 8.0) * scale, rng.uniform(3.0, 6.0) * scale
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (xx - x0) * np.cos(angle) + (yy - y0) * np.sin(angle)
    v = -(xx - x0) * np.sin(angle) + (yy - y0) * np.cos(angle)
    envelope = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)).astype(np.float32)
    depth = rng.uniform(4.0, 7.0) * scale
    height = -depth * envelope
    gy, gx = np.gradient(height)
    # Change of the diffuse term when the face normal tilts by (-gx, -gy).
    delta = 0.55 * (-gx * render.light[0] - gy * render.light[1])
    occlusion = 0.12 * envelope  # the bottom of a dent collects a little shadow
    factor = 1.0 + (delta - occlusion) / np.maximum(render.shading, 0.2)
    factor = 1.0 + (factor - 1.0) * render.coverage
    image = render.image * factor[..., None]
    mask = (envelope > np.exp(-0.5 * 2.8 ** 2)) & (render.coverage > 0.02)
    return image, mask


def add_stain(render: Render, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An irregular colour blotch (rust, oil or coolant residue), soft at its edges."""
    size = render.image.shape[0]
    scale = size / 256
    x0, y0 = _pick_spot(render, rng, margin=int(6 * scale))
    radius = rng.uniform(7.0, 14.0) * scale
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    distance = np.sqrt((xx - x0) ** 2 + (yy - y0) ** 2) / radius
    wobble = 0.45 * _smooth_noise(rng, size, 3.0 * scale)
    blob = np.clip((1.0 - distance + wobble) * 3.0, 0.0, 1.0)
    blob = cv2.GaussianBlur(blob, (0, 0), 1.2 * scale)
    blob[distance > 2.0] = 0.0
    colours = (np.array([160.0, 78.0, 30.0]),  # rust
               np.array([62.0, 50.0, 34.0]),  # dried oil
               np.array([86.0, 108.0, 178.0]))  # bluish coolant film
    colour = colours[int(rng.integers(len(colours)))].astype(np.float32)
    strength = rng.uniform(0.65, 0.85)
    alpha = (strength * blob * render.coverage)[..., None]
    tinted = colour[None, None, :] * render.shading[..., None] / 0.85
    image = render.image * (1 - alpha) + tinted * alpha
    mask = (blob > 0.03) & (render.coverage > 0.02)
    return image, mask


DEFECT_PAINTERS = {"scratch": add_scratch, "dent": add_dent, "stain": add_stain}


def finish(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera noise and 8-bit quantisation."""
    noisy = image + rng.normal(0.0, 1.0, image.shape[:2] + (1,)).astype(np.float32)  # sensor noise, mostly luminance
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def render_sample(seed: int, split: int, index: int, defect: str | None, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean float image, final image (float, before noise), mask) of one sample; deterministic."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, split, index]))
    render = render_part(rng, size)
    if defect is None:
        return render.image, render.image, np.zeros(render.coverage.shape, bool)
    image, mask = DEFECT_PAINTERS[defect](render, rng)
    return render.image, np.clip(image, 0, 255).astype(np.float32), mask


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {path}")


def make_sample(seed: int, split: int, index: int, defect: str | None, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The final uint8 RGB image (with camera noise) and its bool mask, exactly as written to disk."""
    _, image, mask = render_sample(seed, split, index, defect, size)
    noise_rng = np.random.default_rng(np.random.SeedSequence([seed, split, index, 1]))
    return finish(image, noise_rng), mask


def splits(n_train: int, n_test_good: int, n_defect: int) -> list[tuple[str, str, str | None, int]]:
    """(split, folder, defect or None, count); the list position is the split's seed id."""
    layout: list[tuple[str, str, str | None, int]] = [("train", "good", None, n_train), ("test", "good", None, n_test_good)]
    return layout + [("test", defect, defect, n_defect) for defect in DEFECTS]


def generate(out: Path, part: str = PART, n_train: int = 24, n_test_good: int = 6, n_defect: int = 4,
             seed: int = 0, size: int = SIZE) -> Path:
    """Write the whole category to out/part (replacing it) and return that folder."""
    root = Path(out) / part
    if root.exists():
        shutil.rmtree(root)
    for split_id, (split, folder, defect, count) in enumerate(splits(n_train, n_test_good, n_defect)):
        for index in range(count):
            image, mask = make_sample(seed, split_id, index, defect, size)
            stem = f"{index:03d}"
            _write_png(root / split / folder / f"{stem}.png", image)
            if defect is not None:
                _write_png(root / "ground_truth" / defect / f"{stem}_mask.png", mask.astype(np.uint8) * 255)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: resources/demo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=24, help="good training images")
    parser.add_argument("--test-good", type=int, default=6, help="good test images")
    parser.add_argument("--per-defect", type=int, default=4, help="test images per defect type")
    parser.add_argument("--size", type=int, default=SIZE)
    args = parser.parse_args(argv)
    root = generate(args.out, PART, args.train, args.test_good, args.per_defect, args.seed, args.size)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"wrote {root} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
