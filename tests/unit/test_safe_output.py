"""Outputs are safe and complete (issue 17): CSV formulas escaped, terminal control characters escaped,
heatmap names unique per input, batch rows streamed with one progress bar that never restarts.

The `inspect` tests fail on 0.1.0: it wrote `=HYPERLINK(...)` cells as they were, passed ANSI
escapes to the terminal, overwrote `part.png`'s heatmap with `part.jpg`'s, and wrote the table
and the CSV only when the whole batch was done.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspector.store.safe_output import HeatmapNames, ResultStream, csv_cell, terminal_text
from tests.conftest import make_part


@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tcmd", "'\tcmd"), ("\r=1", "'\r=1"), ("part.png", "part.png"),
    (None, ""), (float("nan"), ""), (0.25, "0.25"), (3, 3),
])
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_terminal_text_escapes_every_control_character():
    shown = terminal_text("\x1b[2J\x1b[31mred\rX\x07\x9b1m\u202etxt.png\nnext")
    assert shown == "\\x1b[2J\\x1b[31mred\\rX\\x07\\x9b1m\\u202etxt.png\\nnext"
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in shown)
    assert terminal_text("Bügel Ø 12 mm.png") == "Bügel Ø 12 mm.png"


def test_heatmap_names_are_unique_per_input():
    paths = [Path("a/part.png"), Path("a/part.jpg"), Path("a/Part.PNG"), Path("b/part.png"), Path("a/other.png"),
             Path("a/part_png.png")]
    names = HeatmapNames(paths)
    chosen = [names.name_for(p) for p in paths]
    assert len({n.lower() for n in chosen}) == len(paths)
    assert names.name_for(Path("a/other.png")) == "a_other_heatmap.png"  # unchanged when unique
    assert names.name_for(Path("b/part.png")) == "b_part_heatmap.png"
    assert names.name_for(Path("a/part.png")) == names.name_for("a/part.png")  # stable


def test_result_stream_writes_each_row_as_it_comes(tmp_path):
    out = io.StringIO()
    with ResultStream(tmp_path / "r.csv", out) as stream:
        stream.add("=cmd|' /C calc'!A0.png", 0.5, "PASS")
        rows = list(csv.reader((tmp_path / "r.csv").open(encoding="utf-8")))
        assert rows == [["image", "score", "verdict", "error"], ["'=cmd|' /C calc'!A0.png", "0.5", "PASS", ""]]
        stream.add("\x1b[31mx.png", None, "ERROR", "bad \x1b]0;title\x07")
        assert "\x1b" not in out.getvalue() and "\\x1b[31mx.png" in out.getvalue()
    assert stream.counts == {"PASS": 1, "REVIEW": 0, "FAIL": 0, "ERROR": 1}


# -- the inspect verb -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def patchcore_model(tmp_path_factory) -> Path:
    from inspector.pipeline import FitSettings, fit_model

    rng = np.random.default_rng(3)
    images = [make_part(rng, 48)[0] for _ in range(6)]
    settings = FitSettings(detector="patchcore", image_size=64, detector_params={"coreset_ratio": 0.5}, device="cpu")
    return fit_model(images, settings).model.save(tmp_path_factory.mktemp("model") / "m")


def _hostile_folder(folder: Path, extra: int = 0) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(5)
    names = ["part.png", "part.jpg", '=HYPERLINK("evil.example","click").png', "\x1b[2J\x1b[31mred.png", "+sum.png"]
    names += [f"good-{i:02d}.png" for i in range(extra)]
    paths = []
    for name in names:
        Image.fromarray(make_part(rng, 48)[0]).save(folder / name)
        paths.append(folder / name)
    return paths


def test_inspect_escapes_csv_and_terminal_and_keeps_every_heatmap(patchcore_model, tmp_path, capsys, monkeypatch):
    from inspector.cli.main import main

    paths = _hostile_folder(tmp_path / "parts")
    monkeypatch.chdir(tmp_path / "parts")  # `inspector inspect model *.png`: the names are the cells
    code = main(["inspect", str(patchcore_model), *[p.name for p in paths], "--csv", str(tmp_path / "out.csv"),
                 "--maps-dir", str(tmp_path / "maps"), "--quiet"])
    assert code == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\\x1b[2J" in captured.out
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert len(rows) == len(paths)
    assert not any(r["image"].startswith(("=", "+", "-", "@")) for r in rows)
    assert any(r["image"].startswith("'=HYPERLINK") for r in rows)
    assert len(list((tmp_path / "maps").glob("*.png"))) == len(paths)  # part.png and part.jpg both kept


def test_inspect_streams_rows_and_progress_never_restarts(patchcore_model, tmp_path, monkeypatch):
    from inspector.cli import main as cli
    from inspector.cli.progress import StageProgressBar
    from inspector.pipeline import InspectionModel

    _hostile_folder(tmp_path / "parts", extra=30)  # 35 images: three chunks of at most 16
    out_csv = tmp_path / "out.csv"
    rows_seen_at_each_chunk, events = [], []
    original_predict = InspectionModel.predict

    def predict(self, images, reporter=None):
        text = out_csv.read_text(encoding="utf-8") if out_csv.exists() else ""
        rows_seen_at_each_chunk.append(max(0, len(text.splitlines()) - 1))
        return original_predict(self, images, reporter)

    monkeypatch.setattr(InspectionModel, "predict", predict)
    monkeypatch.setattr(StageProgressBar, "__call__", lambda self, p: events.append((p.stage, p.done, p.total)))
    assert cli.main(["inspect", str(patchcore_model), str(tmp_path / "parts"), "--csv", str(out_csv)]) == 0
    assert rows_seen_at_each_chunk == [0, 16, 32]  # what was done is in the CSV while the batch runs
    assert {stage for stage, _, _ in events} == {"inspect"}
    assert [done for _, done, _ in events] == [16, 32, 35] and {total for _, _, total in events} == {35}


# -- one CSV home (issue 14: six writers became one) ------------------------------------------
EVIL = '=HYPERLINK("x")'


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def test_every_csv_output_escapes_a_formula_file_name_and_keeps_numbers(tmp_path):
    from inspector.cli.main import _write_results
    from inspector.evaluation.protocol_summary import write_csv
    from inspector.store.log import InspectionLog

    write_csv(tmp_path / "summary.csv", [{"detector": EVIL, "auroc": -0.123456789, "n": 3}])
    summary = _csv_rows(tmp_path / "summary.csv")[0]
    assert summary == {"detector": "'" + EVIL, "auroc": "-0.123457", "n": "3"}  # a number is never escaped

    _write_results(tmp_path / "evaluate.csv", [{"detector": EVIL, "image_auroc": 0.5}], {"dataset": "@x"})
    row = _csv_rows(tmp_path / "evaluate.csv")[0]
    assert row["detector"] == "'" + EVIL and row["image_auroc"] == "0.5" and row["settings"] == '{"dataset": "@x"}'

    with InspectionLog(tmp_path / "log.sqlite") as log:
        log.record("2024-06-01T10:00:00Z", "c", "m", -1.5, 2.0, "PASS", EVIL)
        assert log.export_csv(tmp_path / "log.csv") == 1
    exported = _csv_rows(tmp_path / "log.csv")[0]
    assert exported["image_path"] == "'" + EVIL and exported["score"] == "-1.5"


def test_one_dialect_and_one_writer_for_every_csv(tmp_path):
    """Every CSV of the app is written by safe_output (CsvWriter / write_csv_atomic): "\\n" line ends."""
    import re

    from inspector.store.safe_output import CsvWriter, write_csv_atomic

    assert write_csv_atomic(tmp_path / "t.csv", ["a", "b"], [[EVIL, -2.0], {"a": "ok"}], bom=True) == 2
    assert (tmp_path / "t.csv").read_bytes() == b'\xef\xbb\xbfa,b\n"\'=HYPERLINK(""x"")",-2.0\nok,\n'
    out = io.StringIO()
    CsvWriter(out, ".3g").writerow(["-x", 0.123456, float("nan"), None])
    assert out.getvalue() == "'-x,0.123,,\n"
    package = Path(__file__).resolve().parents[2] / "inspector"
    writers = [str(p.relative_to(package)) for p in package.rglob("*.py")
               if re.search(r"csv\.(writer|DictWriter)\(", p.read_text(encoding="utf-8"))]
    assert writers == ["store/safe_output.py"]
