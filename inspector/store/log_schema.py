"""The inspection log's SQLite schema, one script per version step (see `InspectionLog._migrate`).

A log of any older version is upgraded in place, in one transaction per step, when it opens
(a read-only log is upgraded in a copy in memory). A newer version is refused.
"""
from __future__ import annotations

from typing import Iterable

SCHEMA_VERSION = 2

# The columns of `inspections` as version 1 (Inspector 0.1.0) has them, in order; `{verdicts}`
# is the CHECK list, the one thing besides the added `note` column that version 2 changes.
_INSPECTIONS_COLUMNS_V1 = (
    ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("time", "TEXT NOT NULL"),
    ("class_name", "TEXT NOT NULL"),
    ("model_id", "TEXT"),
    ("score", "REAL"),
    ("threshold", "REAL"),
    ("review_threshold", "REAL"),
    ("verdict", "TEXT NOT NULL CHECK (verdict IN ({verdicts}))"),
    ("image_path", "TEXT"),
    ("operator_decision", "TEXT CHECK (operator_decision IS NULL OR operator_decision IN ('PASS', 'FAIL'))"),
    ("operator", "TEXT"),
    ("decision_time", "TEXT"),
)
_INSPECTIONS_COLUMNS_V2 = _INSPECTIONS_COLUMNS_V1 + (("note", "TEXT"),)


def _create_inspections(table: str, columns: tuple[tuple[str, str], ...], verdicts: tuple[str, ...],
                        if_not_exists: bool = False) -> str:
    """CREATE TABLE for one version of `inspections` (same shape in every version, so built once)."""
    allowed = ", ".join(f"'{v}'" for v in verdicts)
    body = ",\n".join(f"    {name} {kind.format(verdicts=allowed)}" for name, kind in columns)
    return f"CREATE TABLE {'IF NOT EXISTS ' if if_not_exists else ''}{table} (\n{body}\n)"


_INSPECTIONS_INDEXES = """
CREATE INDEX IF NOT EXISTS inspections_time ON inspections (time);
CREATE INDEX IF NOT EXISTS inspections_class_time ON inspections (class_name, time);
"""

#: The schema exactly as Inspector 0.1.0 wrote it (log version 1). Frozen: it is the first
#: migration step, and the migration tests build their 0.1.0 logs from it.
SCHEMA_V1 = (
    _create_inspections("inspections", _INSPECTIONS_COLUMNS_V1, ("PASS", "REVIEW", "FAIL"), if_not_exists=True) + ";"
    + _INSPECTIONS_INDEXES + """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    inspection_id INTEGER NOT NULL REFERENCES inspections (id),
    decision TEXT,
    operator TEXT,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_inspection ON decisions (inspection_id);
""")

_V1_COLUMN_NAMES = ", ".join(name for name, _ in _INSPECTIONS_COLUMNS_V1)

# SQLite cannot change a CHECK constraint in place: version 2 rebuilds `inspections` (same ids,
# so `decisions` still points at the right rows) with ERROR allowed and a `note` column.
V1_TO_V2 = (
    _create_inspections("inspections_v2", _INSPECTIONS_COLUMNS_V2, ("PASS", "REVIEW", "FAIL", "ERROR")) + f""";
INSERT INTO inspections_v2 ({_V1_COLUMN_NAMES})
    SELECT {_V1_COLUMN_NAMES} FROM inspections;
DROP TABLE inspections;
ALTER TABLE inspections_v2 RENAME TO inspections;
""" + _INSPECTIONS_INDEXES)

# version -> SQL that upgrades a log from that version to the next one
MIGRATIONS: dict[int, str] = {0: SCHEMA_V1, 1: V1_TO_V2}


def split_sql(script: str) -> Iterable[str]:
    """Statements of a migration script (they hold no semicolons inside literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
