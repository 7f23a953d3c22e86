"""The inspection log's SQLite schema, one script per version step (see `InspectionLog._migrate`).

A log of any older version is upgraded in place, in one transaction per step, when it opens
(a read-only log is upgraded in a copy in memory). A newer version is refused.
"""
from __future__ import annotations

from typing import Iterable

SCHEMA_VERSION = 2

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS inspections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    class_name TEXT NOT NULL,
    model_id TEXT,
    score REAL,
    threshold REAL,
    review_threshold REAL,
    verdict TEXT NOT NULL CHECK (verdict IN ('PASS', 'REVIEW', 'FAIL')),
    image_path TEXT,
    operator_decision TEXT CHECK (operator_decision IS NULL OR operator_decision IN ('PASS', 'FAIL')),
    operator TEXT,
    decision_time TEXT
);
CREATE INDEX IF NOT EXISTS inspections_time ON inspections (time);
CREATE INDEX IF NOT EXISTS inspections_class_time ON inspections (class_name, time);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    inspection_id INTEGER NOT NULL REFERENCES inspections (id),
    decision TEXT,
    operator TEXT,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_inspection ON decisions (inspection_id);
"""

# SQLite cannot change a CHECK constraint in place: version 2 rebuilds `inspections` (same ids,
# so `decisions` still points at the right rows) with ERROR allowed and a `note` column.
V1_TO_V2 = """
CREATE TABLE inspections_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    class_name TEXT NOT NULL,
    model_id TEXT,
    score REAL,
    threshold REAL,
    review_threshold REAL,
    verdict TEXT NOT NULL CHECK (verdict IN ('PASS', 'REVIEW', 'FAIL', 'ERROR')),
    image_path TEXT,
    operator_decision TEXT CHECK (operator_decision IS NULL OR operator_decision IN ('PASS', 'FAIL')),
    operator TEXT,
    decision_time TEXT,
    note TEXT
);
INSERT INTO inspections_v2 (id, time, class_name, model_id, score, threshold, review_threshold, verdict, image_path,
                            operator_decision, operator, decision_time)
    SELECT id, time, class_name, model_id, score, threshold, review_threshold, verdict, image_path,
           operator_decision, operator, decision_time FROM inspections;
DROP TABLE inspections;
ALTER TABLE inspections_v2 RENAME TO inspections;
CREATE INDEX IF NOT EXISTS inspections_time ON inspections (time);
CREATE INDEX IF NOT EXISTS inspections_class_time ON inspections (class_name, time);
"""

# version -> SQL that upgrades a log from that version to the next one
MIGRATIONS: dict[int, str] = {0: SCHEMA_V1, 1: V1_TO_V2}


def split_sql(script: str) -> Iterable[str]:
    """Statements of a migration script (they hold no semicolons inside literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
