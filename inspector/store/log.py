"""The inspection log: one SQLite row per inspected part, safe against crashes and threads.

SQLite in WAL mode with `synchronous=FULL`: once `record` returns, the row survives a killed
process or a power cut, and readers (the GUI's history page, `inspector log`) never block the
writer. An operator's decision never overwrites the machine verdict: it is stored beside it,
with who and when, and every decision (also a changed mind) is kept in `decisions`.
Times are stored as ISO 8601 in UTC with a fixed format, so they sort and compare as text.
"""
from __future__ import annotations

import math
import sqlite3
import threading
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

from inspector.store.log_schema import MIGRATIONS, SCHEMA_VERSION, split_sql
from inspector.store.safe_output import write_csv_atomic
from inspector.types import InspectorError

#: ERROR (since log version 2): the part could not be judged (unreadable image, broken model,
#: non-finite score); it has no score and the reason is kept in `note`.
VERDICTS = ("PASS", "REVIEW", "FAIL", "ERROR")
#: What an operator may decide; common synonyms are accepted by `normalise_decision`.
DECISIONS = ("PASS", "FAIL")
_DECISION_SYNONYMS = {"PASS": "PASS", "OK": "PASS", "GOOD": "PASS", "ACCEPT": "PASS",
                      "FAIL": "FAIL", "NG": "FAIL", "NOK": "FAIL", "BAD": "FAIL", "DEFECT": "FAIL", "REJECT": "FAIL"}
#: Columns of `query` results and of the CSV export, in order.
COLUMNS = ("id", "time", "class_name", "model_id", "score", "threshold", "review_threshold", "verdict",
           "operator_decision", "final_verdict", "operator", "decision_time", "image_path", "note")

TimeLike = Union[datetime, date, float, int, str]



def to_utc_iso(value: Optional[TimeLike] = None) -> str:
    """Normalise a time to 'YYYY-MM-DDTHH:MM:SS.ffffff+00:00' (naive times are local time)."""
    if value is None:
        moment = datetime.now(timezone.utc)
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(float(value), timezone.utc)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InspectorError(f"Not a date or time: '{value}' (use e.g. 2024-06-01 or 2024-06-01T14:30).") from exc
    else:
        raise InspectorError(f"Not a date or time: {value!r}")
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def normalise_decision(decision: Optional[str]) -> Optional[str]:
    """'pass', 'ok', 'good' -> PASS; 'fail', 'ng', 'defect' -> FAIL; None clears a decision."""
    if decision is None:
        return None
    key = str(decision).strip().upper()
    if key not in _DECISION_SYNONYMS:
        raise InspectorError(f"Unknown operator decision '{decision}': use PASS or FAIL.")
    return _DECISION_SYNONYMS[key]


def _finite_or_none(value: Optional[float], what: str) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InspectorError(f"The {what} must be a number, got {value!r}.") from exc
    return None if math.isnan(number) else number


class LogDamagedError(InspectorError):
    """The log file is not a usable SQLite database (the message names it)."""


class InspectionLog:
    """Append-only record of inspections, queried by class, time, verdict and model.

    One connection guarded by a lock: the GUI may record from a worker thread while its
    history view queries from the main thread. Several processes may use the same file.
    """

    def __init__(self, path: str | Path, check: bool = True, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: Optional[sqlite3.Connection] = None
        #: A read-only log (read-only media): queries and exports work, `record` logs nothing.
        self.read_only = read_only
        if read_only:
            self._open_read_only()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=10.0, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise InspectorError(f"Cannot open the inspection log {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            # WAL is refused on some network shares; the log then keeps SQLite's default journal.
            self.journal_mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if check:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise sqlite3.DatabaseError(result)
            self._conn = conn
            self._migrate()
        except sqlite3.OperationalError as exc:  # locked, busy, I/O error: not damage, do not move it aside
            conn.close()
            self._conn = None
            raise InspectorError(f"Cannot open the inspection log {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            self._conn = None
            raise LogDamagedError(
                f"The inspection log {self.path} is damaged ({exc}). Move it aside to start a new log; "
                "the damaged file can still be inspected with any SQLite tool."
            ) from exc
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def _open_read_only(self) -> None:
        """Open without writing anything: no WAL switch, no migration, no -shm file created.

        A missing log reads as an empty one. SQLite's `mode=ro` needs to create the -shm file of
        a WAL database, which read-only media refuse; `immutable=1` then reads it as it is.
        """
        self.journal_mode = "read-only"
        if not self.path.exists():
            self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._migrate()
            return
        uri = self.path.resolve().as_uri()
        last_error: Optional[Exception] = None
        for options in ("mode=ro", "mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(f"{uri}?{options}", uri=True, timeout=10.0, check_same_thread=False,
                                       isolation_level=None)
            except sqlite3.Error as exc:
                last_error = exc
                continue
            try:
                row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
                version = int(row[0]) if row and row[0] is not None else 0
            except sqlite3.Error as exc:
                conn.close()
                last_error = exc
                continue
            if version > SCHEMA_VERSION:
                conn.close()
                raise InspectorError(f"The inspection log {self.path} was written by a newer Inspector (log version "
                                     f"{version}; this version reads up to {SCHEMA_VERSION}).")
            if version < SCHEMA_VERSION:  # an older log: upgrade a copy in memory, never the file
                memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
                conn.backup(memory)
                conn.close()
                self._conn = memory
                self._migrate()
                return
            self._conn = conn
            return
        raise InspectorError(f"Cannot open the inspection log {self.path} read-only: {last_error}")

    # -- schema -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = int(row[0]) if row and row[0] is not None else 0
            if version > SCHEMA_VERSION:
                raise InspectorError(
                    f"The inspection log {self.path} was written by a newer Inspector (log version {version}; "
                    f"this version reads up to {SCHEMA_VERSION}). Update Inspector to open it."
                )
            if version < SCHEMA_VERSION:
                # Rebuilding a table that `decisions` references needs foreign keys off (outside
                # any transaction); they are checked once the migration has committed.
                conn.execute("PRAGMA foreign_keys = OFF")
                try:
                    self._run_migrations(conn, version)
                finally:
                    conn.execute("PRAGMA foreign_keys = ON")
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise sqlite3.DatabaseError(f"{len(broken)} decisions point at no inspection after migration")

    def _run_migrations(self, conn: sqlite3.Connection, version: int) -> None:
        with self._lock:
            while version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
                    version = int(row[0]) if row and row[0] is not None else 0  # another process may have migrated
                    if version >= SCHEMA_VERSION:
                        conn.execute("COMMIT")
                        break
                    for statement in split_sql(MIGRATIONS[version]):
                        conn.execute(statement)
                    version += 1
                    conn.execute("DELETE FROM schema_version")
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self._connection().execute("SELECT MAX(version) FROM schema_version").fetchone()
            return int(row[0] or 0)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise InspectorError(f"The inspection log {self.path} is closed.")
        return self._conn

    # -- writing ------------------------------------------------------------------------------
    def record(self, time: Optional[TimeLike], class_name: str, model_id: Optional[str], score: Optional[float],
               threshold: Optional[float], verdict: str, image_path: Optional[str | Path],
               review_threshold: Optional[float] = None, note: Optional[str] = None) -> Optional[int]:
        """Append one inspection; returns its row id. Durable once this returns.

        An ERROR row has no score (any given is dropped) and should say why in `note`.
        A read-only log records nothing and returns None (inspection without logging).
        """
        if self.read_only:
            return None
        verdict_text = str(verdict).strip().upper()
        if verdict_text not in VERDICTS:
            raise InspectorError(f"Unknown verdict '{verdict}': expected one of {', '.join(VERDICTS)}.")
        if not class_name:
            raise InspectorError("An inspection must name its part class.")
        if verdict_text == "ERROR":
            score = None
        row = (
            to_utc_iso(time), str(class_name), None if model_id is None else str(model_id),
            _finite_or_none(score, "score"), _finite_or_none(threshold, "threshold"),
            _finite_or_none(review_threshold, "review threshold"), verdict_text,
            None if image_path is None else str(image_path), None if note is None else str(note),
        )
        with self._lock:
            try:
                cursor = self._connection().execute(
                    "INSERT INTO inspections (time, class_name, model_id, score, threshold, review_threshold, "
                    "verdict, image_path, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            except sqlite3.Error as exc:
                raise self._write_error(exc) from exc
            return int(cursor.lastrowid)

    def set_operator_decision(self, row_id: int, decision: Optional[str], operator: Optional[str] = None,
                              time: Optional[TimeLike] = None) -> None:
        """Store an operator's verdict beside the machine's (None withdraws it); history is kept."""
        value = normalise_decision(decision)
        when = to_utc_iso(time)
        if self.read_only:
            raise InspectorError(f"The inspection log {self.path} is read-only: the decision cannot be stored.")
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    updated = conn.execute(
                        "UPDATE inspections SET operator_decision = ?, operator = ?, decision_time = ? WHERE id = ?",
                        (value, operator, None if value is None else when, int(row_id))).rowcount
                    if updated != 1:
                        raise InspectorError(f"No inspection with id {row_id} in {self.path}.")
                    conn.execute("INSERT INTO decisions (inspection_id, decision, operator, time) VALUES (?, ?, ?, ?)",
                                 (int(row_id), value, operator, when))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._write_error(exc) from exc

    def _write_error(self, exc: sqlite3.Error) -> InspectorError:
        text = str(exc)
        if "full" in text.lower():
            return InspectorError(f"Could not write the inspection log {self.path}: the disk is full ({text}).")
        if "locked" in text.lower() or "busy" in text.lower():
            return InspectorError(f"The inspection log {self.path} is locked by another program ({text}).")
        return InspectorError(f"Could not write the inspection log {self.path}: {text}")

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def _where(class_name: Optional[str] = None, since: Optional[TimeLike] = None, until: Optional[TimeLike] = None,
               verdict: Optional[str | Sequence[str]] = None, model_id: Optional[str] = None,
               decided: Optional[bool] = None, final_verdict: Optional[str | Sequence[str]] = None) -> tuple[str, list]:
        clauses: list[str] = []
        params: list[Any] = []
        if class_name is not None:
            clauses.append("class_name = ?")
            params.append(class_name)
        if since is not None:
            clauses.append("time >= ?")
            params.append(to_utc_iso(since))
        if until is not None:
            clauses.append("time < ?")
            params.append(to_utc_iso(until))
        for column, value in (("verdict", verdict), ("COALESCE(operator_decision, verdict)", final_verdict)):
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            values = [str(v).strip().upper() for v in values]
            unknown = [v for v in values if v not in VERDICTS]
            if unknown:
                raise InspectorError(f"Unknown verdict '{unknown[0]}': expected one of {', '.join(VERDICTS)}.")
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += values
        if model_id is not None:
            clauses.append("model_id = ?")
            params.append(model_id)
        if decided is not None:
            clauses.append("operator_decision IS NOT NULL" if decided else "operator_decision IS NULL")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    _SELECT = ("SELECT id, time, class_name, model_id, score, threshold, review_threshold, verdict, "
               "operator_decision, COALESCE(operator_decision, verdict) AS final_verdict, operator, "
               "decision_time, image_path, note FROM inspections")

    def _rows(self, filters: dict[str, Any], limit: Optional[int], offset: int, newest_first: bool) -> Iterator[tuple]:
        where, params = self._where(**filters)
        sql = f"{self._SELECT}{where} ORDER BY time {'DESC' if newest_first else 'ASC'}, id {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [max(0, int(limit)), max(0, int(offset))]
        with self._lock:
            try:
                rows = self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise InspectorError(f"Could not read the inspection log {self.path}: {exc}") from exc
        return iter(rows)

    def query(self, class_name: Optional[str] = None, since: Optional[TimeLike] = None, until: Optional[TimeLike] = None,
              verdict: Optional[str | Sequence[str]] = None, limit: Optional[int] = None, *, model_id: Optional[str] = None,
              decided: Optional[bool] = None, final_verdict: Optional[str | Sequence[str]] = None, offset: int = 0,
              newest_first: bool = True) -> list[dict[str, Any]]:
        """Inspections matching the filters, newest first. `since` is inclusive, `until` exclusive.

        `verdict` filters the machine verdict, `final_verdict` the operator's decision when there
        is one and the machine verdict otherwise.
        """
        filters = dict(class_name=class_name, since=since, until=until, verdict=verdict, model_id=model_id,
                       decided=decided, final_verdict=final_verdict)
        return [dict(zip(COLUMNS, row)) for row in self._rows(filters, limit, offset, newest_first)]

    def get(self, row_id: int) -> dict[str, Any]:
        with self._lock:
            row = self._connection().execute(f"{self._SELECT} WHERE id = ?", (int(row_id),)).fetchone()
        if row is None:
            raise InspectorError(f"No inspection with id {row_id} in {self.path}.")
        return dict(zip(COLUMNS, row))

    def count(self, **filters: Any) -> int:
        where, params = self._where(**filters)
        with self._lock:
            return int(self._connection().execute(f"SELECT COUNT(*) FROM inspections{where}", params).fetchone()[0])

    def counts(self, **filters: Any) -> dict[str, int]:
        """Number of parts per final verdict (operator decisions win), e.g. for the status bar."""
        where, params = self._where(**filters)
        with self._lock:
            rows = self._connection().execute(
                f"SELECT COALESCE(operator_decision, verdict), COUNT(*) FROM inspections{where} GROUP BY 1", params).fetchall()
        result = {verdict: 0 for verdict in VERDICTS}
        result.update({str(v): int(n) for v, n in rows})
        return result

    def class_names(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._connection().execute("SELECT DISTINCT class_name FROM inspections ORDER BY 1")]

    def decision_history(self, row_id: int) -> list[dict[str, Any]]:
        """Every decision taken on one inspection, oldest first (None = decision withdrawn)."""
        with self._lock:
            rows = self._connection().execute(
                "SELECT decision, operator, time FROM decisions WHERE inspection_id = ? ORDER BY id", (int(row_id),)).fetchall()
        return [{"decision": d, "operator": o, "time": t} for d, o, t in rows]

    # -- export -------------------------------------------------------------------------------
    def export_csv(self, path: str | Path, class_name: Optional[str] = None, since: Optional[TimeLike] = None,
                   until: Optional[TimeLike] = None, verdict: Optional[str | Sequence[str]] = None,
                   limit: Optional[int] = None, **filters: Any) -> int:
        """Write matching rows (oldest first) as CSV, atomically; returns the number of rows.

        UTF-8 with a byte-order mark so that spreadsheet programs show accents correctly; text
        cells that a spreadsheet would run as a formula are prefixed with an apostrophe.
        """
        filters = dict(class_name=class_name, since=since, until=until, verdict=verdict, **filters)
        rows = self._rows(filters, limit, 0, newest_first=False)
        return write_csv_atomic(path, COLUMNS, rows, bom=True)

    # -- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    if not self.read_only:
                        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass  # another process is reading: the checkpoint happens later
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __enter__(self) -> "InspectionLog":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:
            pass
