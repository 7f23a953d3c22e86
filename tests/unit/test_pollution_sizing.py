"""The pollution set is sized from the ratios asked for, and a category with few defects is refused
with the largest ratio it allows (issue 11: KolektorSDD was refused even at ratios it can serve)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from inspector.evaluation.pollution import (max_pollution_ratio, max_pollution_size, polluted_split,
                                            pollution_set_size, run_pollution)
from inspector.io.datasets import load_category
from inspector.types import InspectorError
from tests.unit.test_protocols import CONFIG, _make_category, fake_extractor  # noqa: F401 (fixture)


def _counts(n_train: int, n_defective: int, n_good: int = 10) -> SimpleNamespace:
    """What the sizing reads of a category: its training set and test labels."""
    return SimpleNamespace(root="part", train=[None] * n_train,
                           test_labels=np.r_[np.zeros(n_good, int), np.ones(n_defective, int)])


def test_a_third_of_the_defects_stays_for_evaluation():
    assert max_pollution_size(_counts(209, 63)) == 42  # MVTec bottle: seed 001's 20 % (42) still fits
    assert max_pollution_size(_counts(278, 52)) == 34  # KolektorSDD: 18 of 52 cracks stay
    assert max_pollution_ratio(_counts(278, 52)) == pytest.approx(34 / 278)
    assert max_pollution_size(_counts(20, 2)) == 1 and max_pollution_size(_counts(20, 1)) == 0  # one always stays
    assert max_pollution_size(_counts(20, 0)) == 0


def test_the_set_is_sized_from_the_largest_ratio_asked_for():
    kolektor = _counts(278, 52)
    assert pollution_set_size(kolektor, [0.0, 0.05, 0.1]) == 28  # round(0.1 * 278), not 20 % of 278
    assert pollution_set_size(kolektor, [0.122]) == 34
    assert pollution_set_size(kolektor, [0.0]) == 0
    with pytest.raises(InspectorError) as refused:
        pollution_set_size(kolektor, [0.0, 0.2])
    message = str(refused.value)
    assert "needs 56" in message and "only 34 of its 52" in message and "largest pollution ratio it allows is 0.122" in message


def test_splits_are_nested_within_one_set_and_keep_a_third_of_the_defects(tmp_path):
    cat = load_category(_make_category(tmp_path / "few", n_train=30, per_defect=3))  # 6 defects: 4 may pollute
    size = pollution_set_size(cat, [0.0, 0.1, 0.13])
    assert size == 4
    splits = [polluted_split(cat, ratio, replicate=1, seed=3, pollution_size=size) for ratio in (0.0, 0.1, 0.13)]
    assert [len(s.polluting) for s in splits] == [0, 3, 4]
    assert set(splits[1].polluting) <= set(splits[2].polluting)
    for split in splits:
        evaluated_defects = int(np.sum(cat.test_labels[split.evaluation] == 1))
        assert evaluated_defects == 2 and not set(split.evaluation) & set(split.pollution_set)
    with pytest.raises(InspectorError, match="too few"):
        polluted_split(cat, 0.1, 0, pollution_size=5)


def test_run_pollution_serves_a_category_the_fixed_fraction_refused(tmp_path, fake_extractor):  # noqa: F811
    # 30 training images and 6 defects: a 20 % pollution set (6) would leave none to evaluate on
    category = _make_category(tmp_path / "few", n_train=30, per_defect=3)
    out = tmp_path / "out"
    result = run_pollution(category, out, detectors=["mahalanobis"], ratios=[0.0, 0.1], refinement_ratios=[0.1],
                           refinement_methods=["sroc"], replicates=1, splits=3, feature_config=CONFIG, plots=False)
    config = json.loads((out / "pollution_config.json").read_text())
    assert config["pollution_set_size"] == 3 and config["refinement_pollution"] == 0.1  # the largest ratio
    assert config["max_pollution_ratio"] == pytest.approx(4 / 30)
    sroc = [r for r in result.refinement if r["method"] == "sroc"]
    assert len(sroc) == 1 and sroc[0]["refinement"] == 0.1 and np.isfinite(sroc[0]["recall_mean"])
    with pytest.raises(InspectorError, match=r"largest pollution ratio it allows is 0\.133"):
        run_pollution(category, tmp_path / "refused", detectors=["mahalanobis"], ratios=[0.0, 0.2],
                      feature_config=CONFIG, plots=False)


def test_iterative_sroc_is_ranked_for_each_refinement_ratio(tmp_path, fake_extractor, monkeypatch):  # noqa: F811
    import inspector.evaluation.pollution as pollution

    made_for = []
    original = pollution.refine
    monkeypatch.setattr(pollution, "refine", lambda method, features, ratio, *a, **k: made_for.append((method, ratio))
                        or original(method, features, ratio, *a, **k))
    category = _make_category(tmp_path / "part", n_train=30, per_defect=3)
    result = run_pollution(category, tmp_path / "out", detectors=["mahalanobis"], ratios=[0.1],
                           refinement_ratios=[0.0, 0.1, 0.2], refinement_methods=["sroc", "sroc_iterative"],
                           replicates=1, feature_config=CONFIG, plots=False)
    assert sorted(made_for) == [("sroc", 0.0), ("sroc_iterative", 0.0), ("sroc_iterative", 0.1),
                                ("sroc_iterative", 0.2)]  # SROC's one ranking is cut at every ratio
    rows = {(r["method"], r["refinement"]): r for r in result.refinement}
    assert rows[("sroc_iterative", 0.1)]["recall_mean"] >= 2 / 3  # 3 polluted: the planted squares stand out
