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
    assert main(["inspect", str(model_dir), str(folder), "--csv", str(results), "--quiet"]) == 0
    rows = {row["image"].rsplit("/", 1)[-1]: row for row in csv.DictReader(results.open())}
    assert rows["broken.png"]["verdict"] == "ERROR" and rows["broken.png"]["error"]
    assert [rows[f"{i:03d}.png"]["verdict"] for i in range(4)] == ["FAIL"] * 4
