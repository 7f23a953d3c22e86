"""The README's KolektorSDD figures for the default configuration reproduce (issues 10 and 11): PaDiM
with its default settings (stages 3, 5, 6; image score = max of the smoothed map), the default
geometry chosen from the training images exactly as `fit` and `evaluate` choose it (aspect kept:
576 x 224), the default working point (mean + 3 sigma of 5-fold cross-validated good training
scores). Tolerances: image and pixel AUROC within 0.01, AU-PRO within 0.02, false-reject rate and
defect recall within one part of the committed figures (docs/benchmarks/kolektorsdd-geometry-auto-
padim.json, `inspector evaluate ../shared/data/kolektorsdd --detector padim`). The whole train/good
and test set is needed for these tolerances; about 1 min of backbone time on an idle 2-core CPU
(several minutes under load). Skipped only when the data is absent."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.detectors.params import DetectorSpec
from inspector.evaluation.standard import evaluate_category
from inspector.features.extractor import FeatureConfig
from inspector.features.preprocess import (
    DEFAULT_SHORT_SIDE,
    choose_geometry,
    image_file_shape,
)
from inspector.io.datasets import load_category

ROOT = Path(__file__).resolve().parents[2]
KOLEKTOR = ROOT.parent / "shared" / "data" / "kolektorsdd"
FIGURES = ROOT / "docs" / "benchmarks" / "kolektorsdd-geometry-auto-padim.json"

pytestmark = [pytest.mark.realdata, pytest.mark.slow,
              pytest.mark.skipif(not KOLEKTOR.is_dir(), reason="../shared/data/kolektorsdd is absent")]


def test_default_padim_figures_of_the_readme_reproduce():
    committed = json.loads(FIGURES.read_text())["results"][0]
    category = load_category(KOLEKTOR)
    geometry = choose_geometry([image_file_shape(s.path) for s in category.train], DEFAULT_SHORT_SIDE)
    assert geometry == (576, 224)  # the part's aspect ratio is kept (heights x widths)
    row = evaluate_category(category, [DetectorSpec("padim")],
                            FeatureConfig("efficientnet_lite0", DEFAULT_SHORT_SIDE, None, geometry))[0]
    assert row["image_auroc"] == pytest.approx(committed["image_auroc"], abs=0.01)
    assert row["image_auroc"] == pytest.approx(0.949, abs=0.01)  # the README figure itself
    assert row["pixel_auroc"] == pytest.approx(committed["pixel_auroc"], abs=0.01)
    assert row["au_pro"] == pytest.approx(committed["au_pro"], abs=0.02)
    assert row["au_pro"] >= 0.70  # issue 11's localisation target holds
    one_good, one_defect = 1 / row["n_good"], 1 / row["n_defective"]
    assert row["false_reject_rate"] == pytest.approx(committed["false_reject_rate"], abs=one_good + 1e-9)
    assert row["defect_recall"] == pytest.approx(committed["defect_recall"], abs=one_defect + 1e-9)
    assert row["false_reject_rate"] <= 0.03  # the working point stays strict on good parts
