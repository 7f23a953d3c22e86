"""The default working point on real parts (issue 10, done-when): with 30 bottle training images
and each localising detector's default settings, the working point fails >= 9 of 10 broken_large
parts and passes every good test part, and the model records the default preprocessing (version 2,
aspect kept: 224 x 224 for bottle's square images). Skipped only when ../shared/data is absent."""
from __future__ import annotations

from pathlib import Path

import pytest

from inspector.io.datasets import load_category
from inspector.pipeline import FitSettings, fit_model

BOTTLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "mvtec_ad" / "bottle"

pytestmark = [pytest.mark.realdata, pytest.mark.slow,
              pytest.mark.skipif(not BOTTLE.is_dir(), reason="../shared/data/mvtec_ad/bottle is absent")]


@pytest.fixture(scope="module")
def bottle():
    category = load_category(BOTTLE)
    train = [s.load() for s in category.train[:30]]
    good = [s.load() for s in category.test if s.defect == "good"]
    broken = [s.load() for s in category.test if s.defect == "broken_large"][:10]
    return train, good, broken


@pytest.mark.parametrize("detector", ["patchcore", "simplenet", "padim"])
def test_default_working_point_on_30_bottle_images(bottle, detector):
    train, good, broken = bottle
    model = fit_model(train, FitSettings(detector=detector)).model
    # the default records one preprocessing: aspect kept, geometry chosen from the (square) images
    record = model.settings.preprocessing
    assert (record["version"], record["aspect"], record["height"], record["width"]) == (2, "keep", 224, 224)
    good_verdicts = [p.verdict for p in model.predict(good)]
    broken_verdicts = [p.verdict for p in model.predict(broken)]
    assert good_verdicts.count("FAIL") == 0 and "ERROR" not in good_verdicts, (model.threshold.fail, good_verdicts)
    assert broken_verdicts.count("FAIL") >= 9, (model.threshold.fail, broken_verdicts)
