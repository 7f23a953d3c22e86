"""Inspection log version 2: ERROR rows (no score, a note) and the migration of a 0.1.0 (version 1) log."""
from __future__ import annotations

import sqlite3

import pytest

from inspector.store.log import COLUMNS, SCHEMA_VERSION, InspectionLog
from inspector.store.log_schema import SCHEMA_V1
from inspector.types import InspectorError

# A log exactly as Inspector 0.1.0 wrote it (log version 1): its schema (frozen in log_schema) and rows.
SCHEMA_0_1_0 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
""" + SCHEMA_V1 + """
INSERT INTO inspections (time, class_name, model_id, score, threshold, review_threshold, verdict, image_path)
    VALUES ('2024-06-01T08:00:00.000000+00:00', 'bottle', 'm1', 0.5, 1.0, 0.8, 'PASS', 'a.png');
INSERT INTO inspections (time, class_name, model_id, score, threshold, review_threshold, verdict, image_path,
                         operator_decision, operator, decision_time)
    VALUES ('2024-06-01T09:00:00.000000+00:00', 'bottle', 'm1', 1.5, 1.0, 0.8, 'FAIL', 'b.png',
            'PASS', 'Ana', '2024-06-01T09:05:00.000000+00:00');
DELETE FROM inspections WHERE id = 1;
INSERT INTO inspections (time, class_name, model_id, score, threshold, review_threshold, verdict, image_path)
    VALUES ('2024-06-01T10:00:00.000000+00:00', 'bottle', 'm1', 0.9, 1.0, 0.8, 'REVIEW', 'c.png');
INSERT INTO decisions (inspection_id, decision, operator, time) VALUES (2, 'FAIL', 'Bo', '2024-06-01T09:01:00.000000+00:00');
INSERT INTO decisions (inspection_id, decision, operator, time) VALUES (2, 'PASS', 'Ana', '2024-06-01T09:05:00.000000+00:00');
"""


@pytest.fixture
def old_log(tmp_path):
    path = tmp_path / "inspections.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_0_1_0)
    conn.commit()
    conn.close()
    return path


def test_error_rows_have_no_score_and_keep_the_reason(tmp_path):
    with InspectionLog(tmp_path / "log.sqlite") as log:
        row_id = log.record(None, "bottle", "m1", 0.7, 1.0, "error", "x.png", note="cannot decode x.png")
        row = log.get(row_id)
        assert row["verdict"] == "ERROR" and row["final_verdict"] == "ERROR"
        assert row["score"] is None and row["note"] == "cannot decode x.png"
        assert [r["image_path"] for r in log.query(verdict="ERROR")] == ["x.png"]
        assert log.counts()["ERROR"] == 1
        assert log.get(log.record(None, "bottle", "m1", 0.2, 1.0, "PASS", "y.png"))["note"] is None


def test_a_0_1_0_log_migrates_keeping_rows_ids_and_decisions(old_log):
    with InspectionLog(old_log) as log:
        assert log.schema_version == SCHEMA_VERSION == 2
        rows = log.query(newest_first=False)
        assert [(r["id"], r["image_path"], r["verdict"], r["score"]) for r in rows] == [
            (2, "b.png", "FAIL", 1.5), (3, "c.png", "REVIEW", 0.9)]
        assert set(rows[0]) == set(COLUMNS) and rows[0]["note"] is None
        assert rows[0]["operator_decision"] == "PASS" and rows[0]["final_verdict"] == "PASS"
        assert [d["decision"] for d in log.decision_history(2)] == ["FAIL", "PASS"]
        new_id = log.record(None, "bottle", "m1", None, 1.0, "ERROR", "d.png", note="model broken")
        assert new_id == 4  # AUTOINCREMENT carried over: deleted id 1 is never reused
        log.set_operator_decision(3, "FAIL", "Cy")  # foreign keys still hold after the rebuild
        with pytest.raises(InspectorError):
            log.set_operator_decision(99, "FAIL")
    conn = sqlite3.connect(old_log)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"inspections_time", "inspections_class_time", "decisions_inspection"} <= indexes
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    with pytest.raises(sqlite3.IntegrityError):  # the CHECK constraint still refuses unknown verdicts
        conn.execute("INSERT INTO inspections (time, class_name, verdict) VALUES ('t', 'c', 'MAYBE')")
    conn.close()


def test_a_0_1_0_log_cannot_take_error_rows_before_migration(old_log):
    """Why the migration exists: the old CHECK constraint refuses ERROR."""
    conn = sqlite3.connect(old_log)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO inspections (time, class_name, verdict) VALUES ('t', 'c', 'ERROR')")
    conn.close()
