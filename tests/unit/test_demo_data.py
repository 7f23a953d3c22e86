"""The demo-data generator is deterministic, MVTec-shaped, and its masks cover the defects it paints."""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from inspector.io.datasets import load_category
from inspector.io.images import load_image, load_mask

REPO = Path(__file__).resolve().parents[2]


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_demo_data", REPO / "tools" / "make_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_deterministic_and_mvtec_shaped(tmp_path: Path) -> None:
    first = tool.generate(tmp_path / "a", n_train=2, n_test_good=1, n_defect=1, seed=3, size=96)
    second = tool.generate(tmp_path / "b", n_train=2, n_test_good=1, n_defect=1, seed=3, size=96)
    other = tool.generate(tmp_path / "c", n_train=2, n_test_good=1, n_defect=1, seed=4, size=96)
    assert _digest(first) == _digest(second)
    assert _digest(first) != _digest(other)

    category = load_category(first)
    assert len(category.train) == 2
    assert category.defect_types == sorted(tool.DEFECTS)
    for sample in category.test:
        image = load_image(sample.path)
        assert image.shape == (96, 96, 3)
        if sample.label:
            assert sample.mask_path is not None and sample.mask_path.is_file()
            raw = np.unique(np.asarray(load_mask(sample.mask_path)))
            assert sample.load_mask((96, 96)).any()
            assert raw.size == 2  # a real two-valued mask, not empty


@pytest.mark.parametrize("defect", ["scratch", "dent", "stain"])
def test_masks_cover_the_visible_change(defect: str) -> None:
    for index in range(3):
        clean, damaged, mask = tool.render_sample(seed=0, split=7, index=index, defect=defect, size=128)
        change = np.abs(damaged - clean).max(axis=2)
        visible = change > 6.0
        assert mask.any() and visible.any()
        assert change[mask].max() > 25.0, "the defect should be plainly visible"
        assert visible[~mask].sum() <= 0.01 * visible.sum(), "painted pixels outside the mask"
        assert mask.mean() < 0.05, "a defect is a small part of the image"


def test_good_samples_have_no_defect_and_vary_in_pose() -> None:
    clean_a, final_a, mask_a = tool.render_sample(seed=0, split=0, index=0, defect=None, size=128)
    clean_b, _, _ = tool.render_sample(seed=0, split=0, index=1, defect=None, size=128)
    assert not mask_a.any()
    assert np.array_equal(clean_a, final_a)
    assert np.abs(clean_a - clean_b).mean() > 0.5  # pose/lighting differ between samples


def test_bundled_demo_set_matches_the_generator() -> None:
    """resources/demo is exactly what the tool writes with its defaults (no stale or foreign files)."""
    bundled = REPO / "resources" / "demo" / tool.PART
    if not bundled.is_dir():
        pytest.fail("resources/demo is missing: run tools/make_demo_data.py")
    category = load_category(bundled)
    assert len(category.train) == 24
    counts = {d: sum(s.defect == d for s in category.test) for d in ("good", *tool.DEFECTS)}
    assert counts == {"good": 6, "scratch": 4, "dent": 4, "stain": 4}
    total = sum(p.stat().st_size for p in bundled.rglob("*") if p.is_file())
    assert total < 3_200_000
    # Spot-check one file against a fresh rendering (full regeneration would be slow).
    split_id = [entry[1] for entry in tool.splits(24, 6, 4)].index("scratch")
    image, mask = tool.make_sample(0, split_id, 0, "scratch")
    assert np.array_equal(load_image(bundled / "test" / "scratch" / "000.png"), image)
    assert np.array_equal(load_mask(bundled / "ground_truth" / "scratch" / "000_mask.png"), mask)
