"""Low-data and pollution protocols on a tiny synthetic category, with a fake (fast) extractor."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import inspector.evaluation.lowdata as lowdata
import inspector.evaluation.pollution as pollution
import inspector.evaluation.protocol_common as protocol_common
from inspector.augment.policy import PRESETS
from inspector.evaluation.protocols import (
    CELLS_FILE,
    CellStore,
    DetectorSpec,
    parse_number_list,
    polluted_split,
    run_low_data,
    run_pollution,
    sample_size_grid,
)
from inspector.features.extractor import FeatureConfig
from inspector.features.maps import FeatureMaps
from inspector.io.datasets import load_category
from inspector.io.images import save_image
from inspector.types import Cancelled, InspectorError, Reporter

CONFIG = FeatureConfig(image_size=32)


class FakeExtractor:
    """Features = the image averaged over a 4x4 grid (fast, and defects show in it)."""

    def __init__(self) -> None:
        self.encoded = 0

    def extract(self, images, layers, reporter=None, total=None, stage="extract") -> FeatureMaps:
        cells = []
        for image in images:
            small = cv2.resize(cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA), (4, 4),
                               interpolation=cv2.INTER_AREA)
            cells.append(small.astype(np.float32).transpose(2, 0, 1) / 255.0)
            self.encoded += 1
        grid = np.stack(cells)
        coarse = grid.reshape(len(grid), 3, 2, 2, 2, 2).mean(axis=(3, 5))
        spread = grid.std(axis=(2, 3), keepdims=True)  # large when one cell differs (a defect)
        return FeatureMaps({3: grid, 5: spread, 6: coarse}, (32, 32))


@pytest.fixture()
def fake_extractor(monkeypatch):
    fake = FakeExtractor()
    monkeypatch.setattr(protocol_common, "get_extractor", lambda config, device="auto": fake)
    return fake


def _make_category(root: Path, n_train: int = 20, n_good_test: int = 6, per_defect: int = 3) -> Path:
    rng = np.random.default_rng(0)

    def good() -> np.ndarray:
        base = rng.integers(122, 134)
        return np.clip(base + rng.normal(0, 4, size=(32, 32, 3)), 0, 255).astype(np.uint8)

    for i in range(n_train):
        save_image(root / "train" / "good" / f"{i:03d}.png", good())
    for i in range(n_good_test):
        save_image(root / "test" / "good" / f"{i:03d}.png", good())
    for defect, value in (("bright", 255), ("dark", 0)):
        for i in range(per_defect):
            image = good()
            y, x = rng.integers(0, 24, size=2)
            image[y:y + 8, x:x + 8] = value
            mask = np.zeros((32, 32), np.uint8)
            mask[y:y + 8, x:x + 8] = 255
            save_image(root / "test" / defect / f"{i:03d}.png", image)
            (root / "ground_truth" / defect).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "ground_truth" / defect / f"{i:03d}_mask.png"), mask)
    return root


@pytest.fixture()
def category(tmp_path) -> Path:
    return _make_category(tmp_path / "widget")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- helpers ------------------------------------------------------------------------------------
def test_grids_and_specs():
    assert sample_size_grid(209)[:10] == list(range(5, 51, 5))
    assert sample_size_grid(209)[10:12] == [60, 70] and sample_size_grid(209)[-2:] == [200, 209]
    assert sample_size_grid(30) == [5, 10, 15, 20, 25, 30]
    assert parse_number_list("5:50:5", integer=True) == list(range(5, 51, 5))
    assert parse_number_list("0:0.2:0.05") == [0.0, 0.05, 0.1, 0.15, 0.2]
    assert parse_number_list("5,7, 60:80:10", integer=True) == [5, 7, 60, 70, 80]
    with pytest.raises(InspectorError):
        parse_number_list("5,x")
    spec = DetectorSpec.parse("mahalanobis:covariance=empirical")
    assert spec.kwargs == {"covariance": "empirical"} and spec.label == "mahalanobis[covariance=empirical]"
    assert DetectorSpec.parse("knn:k=5").kwargs == {"k": 5}


def test_cell_store_survives_a_torn_line(tmp_path):
    store = CellStore(tmp_path / CELLS_FILE)
    store.add({"a": 1, "b": [1, 2]}, {"auroc": 0.9, "au_pro": float("nan")})
    store.add({"a": 2}, {"auroc": 0.8})
    with open(tmp_path / CELLS_FILE, "a", encoding="utf-8") as handle:
        handle.write('{"config": {"a": 3}, "res')  # killed mid-write
    again = CellStore(tmp_path / CELLS_FILE)
    assert len(again) == 2 and {"b": [1, 2], "a": 1} in again and {"a": 3} not in again
    assert again.get({"a": 1, "b": [1, 2]}) == {"auroc": 0.9, "au_pro": None}
    again.add({"a": 3}, {"auroc": 0.7})
    assert len(CellStore(tmp_path / CELLS_FILE)) == 3


def test_pollution_split(category):
    cat = load_category(category)
    defects = np.array([s.defect for s in cat.test])
    splits = [polluted_split(cat, ratio, replicate=0, seed=1, pollution_size=4) for ratio in (0.0, 0.1, 0.2)]
    for split in splits:
        assert len(split.pollution_set) == 4  # 20 % of 20 training images
        assert sorted(defects[split.pollution_set]) == ["bright", "bright", "dark", "dark"]  # stratified
        assert not set(split.evaluation) & set(split.pollution_set)  # never evaluated on
        assert set(split.polluting) <= set(split.pollution_set)
        assert len(split.healthy) + len(split.polluting) == len(cat.train)
        assert split.is_polluted.sum() == len(split.polluting)
    assert [len(s.polluting) for s in splits] == [0, 2, 4]
    assert set(splits[1].polluting) <= set(splits[2].polluting)  # nested
    with pytest.raises(InspectorError, match="too few"):
        polluted_split(cat, 0.2, 0, pollution_size=5)  # 6 defects: at most 4 may pollute


# -- low data -----------------------------------------------------------------------------------
def _low_data(category, out, reporter=None, plots=False, **kwargs):
    return run_low_data(category, out, detectors=["mahalanobis", "knn"], sizes=[4, 8, 20], replicates=2,
                        policy=PRESETS["texture"], aug_factor=2, feature_config=CONFIG, reporter=reporter,
                        plots=plots, **kwargs)


def test_low_data_protocol_outputs(category, tmp_path, fake_extractor):
    result = _low_data(category, tmp_path / "out", plots=True)
    # 2 factors x 2 detectors x (2 sizes x 2 replicates + the full set once)
    assert len(result.cells) == 20 and all(0.0 <= c["auroc"] <= 1.0 for c in result.cells)
    assert {(c["factor"], c["size"], c["n_fit"]) for c in result.cells} >= {(0, 4, 4), (2, 4, 12), (2, 20, 60)}
    assert fake_extractor.encoded == 20 + 12 + 20 * 2  # train, test, 2 copies of every original: once each
    summary = _read_csv(tmp_path / "out" / "lowdata_summary.csv")
    assert len(summary) == 2 * 2 * 3
    areas = _read_csv(tmp_path / "out" / "lowdata_area.csv")
    assert {(a["detector"], a["factor"]) for a in areas} == {("mahalanobis", "0"), ("mahalanobis", "2"),
                                                             ("knn", "0"), ("knn", "2")}
    assert all(0.0 <= float(a["area_under_auc_percent"]) <= 1.0 for a in areas)
    png = tmp_path / "out" / "lowdata_auroc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the synthetic defects are easy: with all images, Mahalanobis separates them
    full = [c for c in result.cells if c["detector"] == "mahalanobis" and c["size"] == 20 and c["factor"] == 0]
    assert full[0]["auroc"] > 0.9


def test_low_data_resumes_after_an_interruption(category, tmp_path, fake_extractor, monkeypatch):
    out = tmp_path / "out"

    def stop_after_7(progress):
        if progress.stage == "lowdata" and progress.done >= 7:
            raise Cancelled()

    with pytest.raises(Cancelled):
        _low_data(category, out, Reporter(stop_after_7))
    lines = (out / CELLS_FILE).read_text().splitlines()
    assert len(lines) == 7

    fits = []
    original = lowdata.evaluate_detector
    monkeypatch.setattr(lowdata, "evaluate_detector", lambda *a, **k: fits.append(1) or original(*a, **k))
    encoded_before = fake_extractor.encoded
    messages = []
    resumed = _low_data(category, out, Reporter(lambda p: messages.append(p)))
    assert len(fits) == 20 - 7  # only the missing cells are fitted
    # every feature (train, test and the augmented copies) is encoded before the first cell and
    # cached, so the resumed run encodes nothing
    assert fake_extractor.encoded == encoded_before
    assert messages[0].done == 7 and "7 of 20" in messages[0].message

    fresh = _low_data(category, tmp_path / "fresh")
    key = lambda c: (c["detector"], c["factor"], c["size"], c["replicate"])  # noqa: E731
    assert {key(c): c["auroc"] for c in resumed.cells} == pytest.approx({key(c): c["auroc"] for c in fresh.cells})


def test_low_data_without_policy_runs_unaugmented_only(category, tmp_path, fake_extractor):
    result = run_low_data(category, tmp_path / "o", detectors=["mahalanobis"], sizes=[5], replicates=2,
                          policy=None, aug_factor=10, feature_config=CONFIG, cache_dir=None, plots=False)
    assert {c["factor"] for c in result.cells} == {0} and len(result.cells) == 2
    assert not (tmp_path / "o" / "cache").exists()
    with pytest.raises(InspectorError, match="impossible"):
        run_low_data(category, tmp_path / "o", detectors=["mahalanobis"], sizes=[50], feature_config=CONFIG)


# -- pollution ----------------------------------------------------------------------------------
def test_pollution_protocol(category, tmp_path, fake_extractor, monkeypatch):
    out = tmp_path / "pollution"
    result = run_pollution(category, out, detectors=["mahalanobis", "knn"], ratios=[0.0, 0.1, 0.2],
                           refinement_ratios=[0.0, 0.2], replicates=1, splits=3, feature_config=CONFIG)
    robustness = _read_csv(out / "pollution_robustness.csv")
    assert {(r["detector"], r["pollution"]) for r in robustness} == {
        (d, p) for d in ("mahalanobis", "knn") for p in ("0", "0.1", "0.2")}
    refinement = {(r["detector"], r["method"], r["refinement"]): r for r in _read_csv(out / "refinement.csv")}
    for method in ("sroc", "random", "cross_validation", "stoc"):
        for detector in ("mahalanobis", "knn"):
            assert (detector, method, "0.2") in refinement and (detector, method, "0") in refinement
            assert refinement[(detector, method, "0")]["precision_mean"] == ""  # nothing flagged: undefined
    sroc_row = refinement[("mahalanobis", "sroc", "0.2")]
    assert float(sroc_row["recall_mean"]) >= 0.75 and float(sroc_row["precision_mean"]) >= 0.75
    assert ("mahalanobis", "oracle", "0.2") in refinement
    cells = _read_csv(out / "pollution_cells.csv")
    assert all(int(c["n_fit"]) == 20 for c in cells if c["protocol"] == "pollution")
    assert {c["n_fit"] for c in cells if c["method"] == "sroc" and c["refinement"] == "0.2"} == {"16"}
    for name in ("pollution_auroc.png", "refinement_auroc.png", "refinement_f1.png", "refinement_precision.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert not (out / "pollution_au_pro.png").exists()  # neither detector localises
    # resuming a finished sweep fits nothing and rewrites the same summary
    monkeypatch.setattr(pollution, "evaluate_detector", lambda *a, **k: pytest.fail("a finished cell was refitted"))
    again = run_pollution(category, out, detectors=["mahalanobis", "knn"], ratios=[0.0, 0.1, 0.2],
                          refinement_ratios=[0.0, 0.2], replicates=1, splits=3, feature_config=CONFIG, plots=False)
    assert [r["auroc_mean"] for r in again.refinement] == pytest.approx([r["auroc_mean"] for r in result.refinement])


def test_pollution_with_padim_reports_au_pro_and_refines_with_mahalanobis(category, tmp_path, fake_extractor):
    out = tmp_path / "padim"
    run_pollution(category, out, detectors=["padim"], ratios=[0.2], refinement_ratios=[0.2],
                  refinement_methods=["sroc"], refine_detector="mahalanobis", replicates=1, feature_config=CONFIG)
    rows = {r["method"]: r for r in _read_csv(out / "refinement.csv")}
    assert rows["sroc"]["refiner"] == "mahalanobis"
    assert 0.0 <= float(rows["sroc"]["au_pro_mean"]) <= 1.0
    assert (out / "pollution_au_pro.png").exists()
    config = json.loads((out / "pollution_config.json").read_text())
    assert config["refine_detector"] == "mahalanobis" and config["pollution_set_size"] == 4


# -- command line -------------------------------------------------------------------------------
def test_cli_runs_lowdata(category, tmp_path, fake_extractor, capsys):
    main = _evaluate

    out = tmp_path / "cli"
    code = main([str(category), "--protocol", "lowdata", "--detector", "mahalanobis", "--sizes", "5,10",
                 "--replicates", "2", "--policy", "texture", "--aug-factor", "2", "--image-size", "32",
                 "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "area_under_auc_percent" in printed and "lowdata_auroc.png" in printed
    assert len((out / CELLS_FILE).read_text().splitlines()) == 2 * 2 * 2


def test_cli_refuses_a_file_as_output_folder(category, tmp_path, fake_extractor, capsys):
    main = _evaluate

    assert main([str(category), "--protocol", "pollution", "--out", str(tmp_path / "x.csv"), "--quiet"]) == 1
    assert "--out is a folder" in capsys.readouterr().err  # one line from the evaluate verb, exit code 1


def test_protocol_arguments_fit_the_evaluate_parser(category):
    import inspector.cli.main as main_cli
    args = main_cli.build_parser().parse_args(
        ["evaluate", str(category), "--protocol", "pollution", "--refinement-ratios", "0,0.2", "--detector", "knn:k=5",
         "--refine-detector", "mahalanobis"])
    assert args.protocol == "pollution" and args.refinement_ratios == "0,0.2"
    from inspector.cli.protocols import _detectors_of

    assert [s.label for s in _detectors_of(args)] == ["knn[k=5]"]


def _evaluate(argv: list[str]) -> int:
    """`inspector evaluate ARGV` (the protocols run through the one evaluate verb)."""
    from inspector.cli.main import main as inspector_main

    return inspector_main(["evaluate", *argv])
