"""Bad files never stop the work (issue 10, item 5): a corrupt file in a fit folder is reported,
skipped and listed in the model; in an inspection folder it gets an ERROR row and the rest goes on."""
from __future__ import annotations

import csv
import json

from inspector.cli.main import main


def test_corrupt_files_are_reported_and_skipped_in_fit_and_inspect(synthetic_category, tmp_path, capsys):
    (synthetic_category / "train" / "good" / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    model_dir = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "--out", str(model_dir), "--detector", "knn",
                 "--image-size", "64", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "zz_corrupt.png" in captured.err and "1 unreadable image(s) skipped: zz_corrupt.png" in captured.out
    info = json.loads((model_dir / "model.json").read_text())["info"]
    assert info["skipped_images"] == ["zz_corrupt.png"] and info["n_images"] == 12

    folder = synthetic_category / "test" / "stain"
    (folder / "broken.png").write_bytes(b"garbage")
    results = tmp_path / "r.csv"
    log_path = tmp_path / "log.sqlite"
    assert main(["inspect", str(model_dir), str(folder), "--csv", str(results), "--log", str(log_path), "--quiet"]) == 0
    rows = {row["image"].rsplit("/", 1)[-1]: row for row in csv.DictReader(results.open())}
    assert rows["broken.png"]["verdict"] == "ERROR" and rows["broken.png"]["error"]
    assert [rows[f"{i:03d}.png"]["verdict"] for i in range(4)] == ["FAIL"] * 4

    from inspector.store.log import InspectionLog

    with InspectionLog(log_path) as log:
        logged = {row["image_path"].rsplit("/", 1)[-1]: row for row in log.query()}
    assert len(logged) == 5 and logged["broken.png"]["verdict"] == "ERROR"
    assert logged["broken.png"]["score"] is None and "broken.png" in logged["broken.png"]["note"]
    assert [logged[f"{i:03d}.png"]["verdict"] for i in range(4)] == ["FAIL"] * 4
    assert all(logged[f"{i:03d}.png"]["note"] is None for i in range(4))


def test_a_non_finite_score_is_logged_as_error_with_its_reason(synthetic_category, tmp_path, monkeypatch):
    """Fail closed all the way to the log: a NaN score is an ERROR row with no score, never PASS."""
    from inspector.detectors.knn import KNNDetector
    from inspector.store.log import InspectionLog

    model_dir = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "-o", str(model_dir), "--detector", "knn", "--image-size", "64", "-q"]) == 0
    real_score = KNNDetector.score

    def nan_score(self, features, reporter=None):
        result = real_score(self, features, reporter)
        result.image_scores[:] = float("nan")
        return result

    monkeypatch.setattr(KNNDetector, "score", nan_score)
    log_path = tmp_path / "log.sqlite"
    # every part ERROR: the command itself fails (exit 1), yet each part is in the log
    assert main(["inspect", str(model_dir), str(synthetic_category / "test" / "good"), "--log", str(log_path), "-q"]) == 1
    with InspectionLog(log_path) as log:
        rows = log.query()
    assert rows and all(r["verdict"] == "ERROR" and r["score"] is None for r in rows)
    assert all("non-finite" in r["note"] for r in rows)
