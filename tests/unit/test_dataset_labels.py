"""One labelling rule: the app's labels for test files agree with load_category's."""
from pathlib import Path

import numpy as np
from PIL import Image

from inspector.io.datasets import label_from_path, load_category


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)


def test_label_from_path_agrees_with_load_category(tmp_path):
    for relative in ("train/good/a.png", "test/good/b.png", "test/ok/c.png", "test/crack/d.png", "test/stain/e.png"):
        _png(tmp_path / relative)
    category = load_category(tmp_path)
    for sample in category.test:
        assert label_from_path(sample.path) == ("defect" if sample.label else "good")
    assert sorted(s.path.name for s in category.test if not s.label) == ["b.png", "c.png"]
    assert label_from_path(tmp_path / "loose.png") is None
