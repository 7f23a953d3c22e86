"""The inspection log: rows, filters, operator overrides, CSV export, threads, damage, the CLI verb."""
from __future__ import annotations

import argparse
import csv
import io
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from inspector.cli.log import add_parser, parse_time
from inspector.cli.log import run as run_log_cli
from inspector.store.log import COLUMNS, SCHEMA_VERSION, InspectionLog, LogDamagedError, to_utc_iso
from inspector.types import InspectorError

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def log(tmp_path):
    with InspectionLog(tmp_path / "inspections.sqlite") as opened:
        yield opened


def fill(log: InspectionLog) -> list[int]:
    rows = [
        (T0, "bottle", "m1", 0.5, 1.0, "PASS", "a.png"),
        (T0 + timedelta(hours=1), "bottle", "m1", 1.5, 1.0, "FAIL", "b.png"),
        (T0 + timedelta(hours=2), "bottle", "m2", 0.9, 1.0, "REVIEW", "c.png"),
        (T0 + timedelta(days=1), "cable", "m3", 0.1, 0.4, "PASS", "d.png"),
    ]
    return [log.record(*row, review_threshold=0.8) for row in rows]


def test_record_and_query_filters(log):
    ids = fill(log)
    assert ids == sorted(ids) and len(set(ids)) == 4
    rows = log.query()
    assert [r["image_path"] for r in rows] == ["d.png", "c.png", "b.png", "a.png"]  # newest first
    assert set(rows[0]) == set(COLUMNS)
    first = log.get(ids[0])
    assert first["class_name"] == "bottle" and first["score"] == 0.5 and first["threshold"] == 1.0
    assert first["review_threshold"] == 0.8 and first["verdict"] == "PASS" and first["model_id"] == "m1"
    assert first["time"] == "2024-06-01T08:00:00.000000+00:00"
    assert [r["image_path"] for r in log.query(class_name="bottle", verdict="FAIL")] == ["b.png"]
    assert len(log.query(verdict=["pass", "FAIL"])) == 3
    assert [r["image_path"] for r in log.query(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))] == ["b.png"]
    assert [r["image_path"] for r in log.query(limit=2, newest_first=False)] == ["a.png", "b.png"]
    assert [r["image_path"] for r in log.query(limit=1, offset=1)] == ["c.png"]
    assert len(log.query(model_id="m1")) == 2
    assert log.count(class_name="bottle") == 3
    assert log.class_names() == ["bottle", "cable"]
    with pytest.raises(InspectorError, match="Unknown verdict"):
        log.query(verdict="MAYBE")


def test_times_accept_datetimes_epochs_and_text(log):
    local_naive = datetime(2024, 6, 1, 10, 0)
    row = log.record(local_naive, "c", None, 1.0, None, "PASS", None)
    assert log.get(row)["time"] == to_utc_iso(local_naive.astimezone())
    row = log.record(0, "c", None, 1.0, None, "PASS", None)
    assert log.get(row)["time"] == "1970-01-01T00:00:00.000000+00:00"
    row = log.record("2024-06-01T12:00:00+02:00", "c", None, 1.0, None, "PASS", None)
    assert log.get(row)["time"] == "2024-06-01T10:00:00.000000+00:00"
    row = log.record(None, "c", None, float("nan"), None, "FAIL", None)  # a NaN score is kept as empty
    assert log.get(row)["score"] is None
    with pytest.raises(InspectorError, match="Not a date"):
        log.record("yesterday-ish", "c", None, 1.0, None, "PASS", None)


def test_invalid_rows_are_refused(log):
    with pytest.raises(InspectorError, match="Unknown verdict"):
        log.record(None, "bottle", "m", 1.0, 1.0, "BROKEN", "x.png")
    with pytest.raises(InspectorError, match="part class"):
        log.record(None, "", "m", 1.0, 1.0, "PASS", "x.png")
    with pytest.raises(InspectorError, match="number"):
        log.record(None, "bottle", "m", "high", 1.0, "PASS", "x.png")
    assert log.count() == 0


def test_operator_override_keeps_machine_verdict_and_history(log, tmp_path):
    ids = fill(log)
    log.set_operator_decision(ids[1], "ok", operator="Ana")
    row = log.get(ids[1])
    assert row["verdict"] == "FAIL" and row["operator_decision"] == "PASS" and row["final_verdict"] == "PASS"
    assert row["operator"] == "Ana" and row["decision_time"] is not None
    log.set_operator_decision(ids[1], "defect", operator="Ben")
    assert [h["decision"] for h in log.decision_history(ids[1])] == ["PASS", "FAIL"]
    assert log.query(final_verdict="FAIL", class_name="bottle")[0]["operator"] == "Ben"
    assert log.counts(class_name="bottle") == {"PASS": 1, "REVIEW": 1, "FAIL": 1, "ERROR": 0}
    assert [r["id"] for r in log.query(decided=True)] == [ids[1]]
    log.set_operator_decision(ids[1], None)  # withdrawn: the machine verdict counts again
    assert log.get(ids[1])["final_verdict"] == "FAIL" and len(log.decision_history(ids[1])) == 3
    with pytest.raises(InspectorError, match="Unknown operator decision"):
        log.set_operator_decision(ids[0], "maybe")
    with pytest.raises(InspectorError, match="No inspection with id 999"):
        log.set_operator_decision(999, "PASS")
    # the override survives closing and reopening
    log.set_operator_decision(ids[2], "FAIL", "Ana")
    log.close()
    with InspectionLog(tmp_path / "inspections.sqlite") as again:
        assert again.get(ids[2])["operator_decision"] == "FAIL" and again.get(ids[2])["verdict"] == "REVIEW"


def test_wal_mode_and_schema_version(log, tmp_path):
    fill(log)
    assert log.journal_mode == "wal" and log.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / "inspections.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    conn.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite"
    InspectionLog(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(InspectorError, match="newer Inspector"):
        InspectionLog(path)


def test_damaged_file_names_itself(tmp_path):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not an SQLite database at all" * 100)
    with pytest.raises(LogDamagedError, match="broken.sqlite"):
        InspectionLog(path)


def test_export_csv(log, tmp_path):
    ids = fill(log)
    log.record(T0, "=cmd|' /C calc'!A0", "m", 1.0, 1.0, "PASS", "+evil.png")
    log.set_operator_decision(ids[1], "PASS", "Zoë")
    out = tmp_path / "export" / "log.csv"
    assert log.export_csv(out, class_name="bottle") == 3
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read UTF-8 correctly
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["image_path"] for r in rows] == ["a.png", "b.png", "c.png"]  # oldest first
    assert rows[1]["verdict"] == "FAIL" and rows[1]["operator_decision"] == "PASS" and rows[1]["operator"] == "Zoë"
    assert float(rows[0]["score"]) == 0.5 and rows[0]["operator_decision"] == ""
    assert log.export_csv(out, since=T0, until=T0 + timedelta(minutes=1)) == 2
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    evil = [r for r in rows if r["image_path"].endswith("evil.png")][0]
    assert evil["class_name"].startswith("'=") and evil["image_path"] == "'+evil.png"  # no formula injection
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_concurrent_writers_and_readers(log):
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(40):
                log.record(None, f"class{offset}", "m", float(i), 1.0, "PASS", f"{offset}-{i}.png")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(40):
                log.query(limit=5)
                log.counts()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)] + [threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert log.count() == 120 and len({r["image_path"] for r in log.query()}) == 120


def test_two_connections_see_each_other(tmp_path):
    path = tmp_path / "shared.sqlite"
    with InspectionLog(path) as first, InspectionLog(path) as second:
        row = first.record(None, "bottle", "m", 1.0, 2.0, "PASS", "x.png")
        assert second.get(row)["image_path"] == "x.png"


def test_full_disk_is_reported(log):
    fill(log)
    conn = log._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own way to simulate a full disk
    with pytest.raises(InspectorError, match="disk is full"):
        for i in range(2000):
            log.record(None, "bottle", "m", 1.0, 1.0, "PASS", "x" * 500 + str(i))
    assert log.count() >= 4  # earlier rows are untouched


def test_closed_log_says_so(tmp_path):
    log = InspectionLog(tmp_path / "x.sqlite")
    log.close()
    assert log.closed
    with pytest.raises(InspectorError, match="closed"):
        log.record(None, "c", None, 1.0, None, "PASS", None)


# -- the CLI verb ----------------------------------------------------------------------------------
def cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="inspector")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["log", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_log_cli(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_query_export_decide(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "project.json").write_text("{}")
    with InspectionLog(project / "inspections.sqlite") as log:
        ids = fill(log)
    code, out, err = cli(str(project), "--class", "bottle", "--verdict", "FAIL")
    assert code == 0, err
    assert "b.png" in out and "a.png" not in out and "FAIL" in out
    code, out, _ = cli(str(project), "--format", "json", "--limit", "2")
    assert code == 0 and out.count('"image_path"') == 2
    code, out, _ = cli(str(project), "--since", "2024-06-02", "--format", "csv")
    assert code == 0 and "d.png" in out and "a.png" not in out
    code, out, _ = cli(str(project), "--decide", str(ids[2]), "PASS", "--operator", "Ana")
    assert code == 0 and "REVIEW" in out and "PASS" in out
    code, out, _ = cli(str(project), "--summary", "--class", "bottle")
    assert code == 0 and "PASS: 2" in out and "REVIEW: 0" in out
    target = tmp_path / "out.csv"
    code, out, _ = cli(str(project), "--export", str(target), "--undecided")
    assert code == 0 and "Exported 3" in out and target.exists()
    code, _, err = cli(str(project), "--decide", "12345", "PASS")
    assert code == 1 and "No inspection with id 12345" in err


def test_cli_errors_are_clear(tmp_path):
    code, _, err = cli(str(tmp_path / "missing"))
    assert code == 1 and "Not found" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli(str(tmp_path / "empty"))
    assert code == 1 and "not an Inspector project" in err
    with pytest.raises(SystemExit):
        cli(str(tmp_path), "--since", "whenever")


def test_parse_time():
    now = datetime(2024, 6, 10, 15, 30)
    assert parse_time("24h", now) == datetime(2024, 6, 9, 15, 30)
    assert parse_time("7d", now) == datetime(2024, 6, 3, 15, 30)
    assert parse_time("today", now) == datetime(2024, 6, 10)
    assert parse_time("yesterday", now) == datetime(2024, 6, 9)
    assert parse_time("2024-06-01T08:00", now) == datetime(2024, 6, 1, 8, 0)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_time("soon", now)


def test_cli_csv_output_never_writes_a_formula_cell(tmp_path):
    """`inspector log --format csv` escapes as the log's own export does (file names are untrusted)."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "project.json").write_text("{}")
    with InspectionLog(project / "inspections.sqlite") as log:
        log.record("2024-06-01T10:00:00Z", "c", "m", 1.0, 2.0, "PASS", '=HYPERLINK("http://x")')
    code, out, _ = cli(str(project), "--format", "csv")
    assert code == 0
    row = next(csv.DictReader(io.StringIO(out)))
    assert row["image_path"] == "'=HYPERLINK(\"http://x\")"
