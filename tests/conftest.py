"""Shared fixtures: small synthetic images and MVTec-style trees, made with a seeded RNG."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("INSPECTOR_CONFIG_DIR", str(Path(__file__).parent / ".config-for-tests"))
os.environ.setdefault("INSPECTOR_ONNX_CACHE", str(Path(__file__).parent / ".config-for-tests" / "onnx"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED_BOTTLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mvtec_ad" / "bottle"


def make_part(rng: np.random.Generator, size: int = 96, defect: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A grey disc 'part' with slight pose and lighting jitter; a defect is a dark blotch on it."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = size / 2 + rng.normal(0, 1.0), size / 2 + rng.normal(0, 1.0)
    radius = size * 0.35
    disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < radius ** 2
    image = np.full((size, size, 3), 30, np.float32)
    shade = 150 + 40 * (xx - cx) / size + rng.normal(0, 3)
    image[disc] = shade[disc, None]
    image += rng.normal(0, 2, image.shape)
    mask = np.zeros((size, size), bool)
    if defect:
        dx, dy = rng.uniform(-radius / 2, radius / 2, 2)
        r = size * 0.08
        mask = ((xx - cx - dx) ** 2 + (yy - cy - dy) ** 2) < r ** 2
        image[mask] = [200, 60, 40]
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def synthetic_category(tmp_path: Path) -> Path:
    """An MVTec-style tree: 12 good train parts, 4 good + 4 'stain' test parts with masks."""
    from PIL import Image

    rng = np.random.default_rng(7)
    root = tmp_path / "widget"
    for folder in ("train/good", "test/good", "test/stain", "ground_truth/stain"):
        (root / folder).mkdir(parents=True)
    for i in range(12):
        Image.fromarray(make_part(rng)[0]).save(root / "train/good" / f"{i:03d}.png")
    for i in range(4):
        Image.fromarray(make_part(rng)[0]).save(root / "test/good" / f"{i:03d}.png")
        image, mask = make_part(rng, defect=True)
        Image.fromarray(image).save(root / "test/stain" / f"{i:03d}.png")
        Image.fromarray((mask * 255).astype(np.uint8)).save(root / "ground_truth/stain" / f"{i:03d}_mask.png")
    return root
