"""The CLI end to end: fit -> save -> inspect (table, CSV, heatmaps, log) -> evaluate -> demo."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.cli.main import main


def test_fit_then_inspect(synthetic_category, tmp_path, capsys):
    model_dir = tmp_path / "model"
    code = main(["fit", str(synthetic_category), "--out", str(model_dir), "--detector", "padim", "--image-size", "64",
                 "--param", "n_features=40", "--refine-ratio", "0.1", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "saved to" in out and "SROC flagged 1 image(s)" in out
    assert (model_dir / "model.json").is_file() and (model_dir / "detector" / "detector.npz").is_file()

    results = tmp_path / "results.csv"
    code = main(["inspect", str(model_dir), str(synthetic_category / "test" / "good"), str(synthetic_category / "test" / "stain"),
                 "--csv", str(results), "--maps-dir", str(tmp_path / "maps"), "--log", str(tmp_path / "log.sqlite"), "--quiet"])
    assert code == 0
    rows = list(csv.DictReader(results.open()))
    assert len(rows) == 8
    verdicts = {row["image"].split("/")[-2]: [] for row in rows}
    for row in rows:
        verdicts[row["image"].split("/")[-2]].append(row["verdict"])
    assert verdicts["stain"] == ["FAIL"] * 4
    assert len(list((tmp_path / "maps").glob("*_heatmap.png"))) == 8
    from inspector.store.log import InspectionLog

    assert len(InspectionLog(tmp_path / "log.sqlite").query()) == 8


def test_inspect_reports_unreadable_images(synthetic_category, tmp_path, capsys):
    model_dir = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "-o", str(model_dir), "--detector", "knn", "--image-size", "64", "-q"]) == 0
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = next((synthetic_category / "test" / "good").iterdir())
    assert main(["inspect", str(model_dir), str(bad), str(good), "-q"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.strip()]
    verdict_of = {row[-1]: row[0] for row in lines if len(row) >= 3 and row[0] in ("PASS", "REVIEW", "FAIL", "ERROR")}
    assert verdict_of[str(bad)] == "ERROR"
    assert verdict_of[str(good)] in ("PASS", "REVIEW", "FAIL")


def test_evaluate_writes_results_with_settings(synthetic_category, tmp_path, capsys):
    out_file = tmp_path / "eval.json"
    code = main(["evaluate", str(synthetic_category), "--detector", "knn", "mahalanobis", "padim", "--image-size", "64",
                 "--out", str(out_file), "-q"])
    assert code == 0
    data = json.loads(out_file.read_text())
    assert data["settings"]["image_size"] == 64 and data["settings"]["backbone"] == "efficientnet_lite0"
    rows = {row["detector"]: row for row in data["results"]}
    assert set(rows) == {"knn", "mahalanobis", "padim"}
    assert rows["mahalanobis"]["image_auroc"] >= 0.9
    assert rows["padim"]["pixel_auroc"] is not None and rows["knn"]["pixel_auroc"] is None
    assert "image AUROC" in capsys.readouterr().out


def test_errors_are_clear_and_exit_nonzero(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m"), "-q"]) == 1
    assert "not found" in capsys.readouterr().err.lower()
    assert main(["inspect", str(tmp_path / "nomodel"), str(tmp_path), "-q"]) == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_on_bundled_images(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "Image AUROC on the demo test set" in out
    auroc = float(out.split("Image AUROC on the demo test set: ")[1].split(";")[0])
    assert auroc >= 0.9
    assert list((tmp_path / "demo" / "heatmaps").glob("*.png"))


def test_module_entry_point_prints_version():
    result = subprocess.run([sys.executable, "-m", "inspector", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("inspector ")


def test_inspect_walks_an_mvtec_test_folder_of_defect_subfolders(synthetic_category, tmp_path, capsys):
    """`inspector inspect MODEL test/` judges every image in test/<defect>/, not 'holds no images'."""
    model_dir = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "-o", str(model_dir), "--detector", "knn", "--image-size", "64", "-q"]) == 0
    capsys.readouterr()
    test = synthetic_category / "test"
    expected = sorted(str(p) for p in test.rglob("*.png"))
    assert main(["inspect", str(model_dir), str(test), "-q"]) == 0
    out = capsys.readouterr().out
    judged = sorted(row.split()[-1] for row in out.splitlines() if row.split() and row.split()[0] in ("PASS", "REVIEW", "FAIL"))
    assert judged == expected and len({Path(p).parent.name for p in judged}) >= 2


def test_demo_without_out_leaves_nothing_in_the_working_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "-q"]) == 0
    assert list(tmp_path.iterdir()) == []  # written to a temporary folder, which it names
    printed = capsys.readouterr().out
    model_folder = Path(printed.split("Model saved to ")[1].split(";")[0])
    assert (model_folder / "model.json").is_file()
