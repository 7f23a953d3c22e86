"""Engineer unlock and the change record: who changed the model or working point during a run, when.

The PIN is never stored: only a random salt and its scrypt hash (memory-hard, so a stolen config
file does not give the PIN away cheaply). Checks use a constant-time comparison. Every change made
through `StationChanges` is appended to an SQLite table before it takes effect on the line.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from inspector.store.atomic import read_json, write_json_atomic
from inspector.types import InspectorError

PIN_FILE = "engineer-pin.json"
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}  # ~16 MiB, tens of ms per check
MIN_PIN_LENGTH = 4


def _hash(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def set_pin(folder: str | Path, pin: str) -> Path:
    """Store a salted scrypt hash of `pin` in `folder` (a project folder or the user config folder)."""
    if not isinstance(pin, str) or len(pin) < MIN_PIN_LENGTH:
        raise InspectorError(f"the engineer PIN needs at least {MIN_PIN_LENGTH} characters")
    salt = os.urandom(16)
    path = Path(folder) / PIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"scheme": "scrypt", **SCRYPT, "salt": salt.hex(), "hash": _hash(pin, salt, **SCRYPT).hex()})
    return path


def has_pin(folder: str | Path) -> bool:
    return (Path(folder) / PIN_FILE).is_file()


def verify_pin(folder: str | Path, pin: str) -> bool:
    """True only for the stored PIN; a missing or damaged PIN file refuses every PIN (fail closed)."""
    path = Path(folder) / PIN_FILE
    try:
        stored = read_json(path)
        salt, expected = bytes.fromhex(stored["salt"]), bytes.fromhex(stored["hash"])
        cost = {key: int(stored[key]) for key in ("n", "r", "p")}
        if stored.get("scheme") != "scrypt":
            return False
    except (InspectorError, OSError, KeyError, TypeError, ValueError):
        return False
    if not isinstance(pin, str) or not pin:
        return False
    try:
        return hmac.compare_digest(_hash(pin, salt, **cost), expected)
    except (ValueError, MemoryError):
        return False


@dataclass(frozen=True)
class Engineer:
    """Proof that `name` unlocked with the PIN at `unlocked_at` (epoch s)."""

    name: str
    unlocked_at: float


def unlock(folder: str | Path, name: str, pin: str) -> Engineer:
    if not name.strip():
        raise InspectorError("say who is unlocking: an engineer name is required")
    if not verify_pin(folder, pin):
        raise InspectorError("wrong engineer PIN" if has_pin(folder) else "no engineer PIN is set for this station")
    return Engineer(name.strip(), time.time())


class ChangeLog:
    """Append-only record of engineer changes (SQLite, durable once `record` returns)."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY, time REAL NOT NULL, "
                             "who TEXT NOT NULL, class TEXT, what TEXT NOT NULL, old TEXT, new TEXT)")
        except sqlite3.Error as exc:
            raise InspectorError(f"cannot open the change log {path}: {exc}") from exc

    def record(self, who: Engineer, class_name: str, what: str, old: Any, new: Any) -> int:
        with self._lock:
            try:
                cursor = self._db.execute("INSERT INTO changes (time, who, class, what, old, new) VALUES (?,?,?,?,?,?)",
                                          (time.time(), who.name, class_name, what, json.dumps(old), json.dumps(new)))
            except sqlite3.Error as exc:
                raise InspectorError(f"cannot record the change: {exc}") from exc
            return int(cursor.lastrowid)

    def rows(self) -> list[dict]:
        with self._lock:
            cursor = self._db.execute("SELECT id, time, who, class, what, old, new FROM changes ORDER BY id")
            return [{"id": i, "time": t, "who": w, "class": c, "what": what, "old": json.loads(o), "new": json.loads(n)}
                    for i, t, w, c, what, o, n in cursor.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class StationChanges:
    """The only way to change a running line's model or working point: unlocked, logged, then applied."""

    def __init__(self, loop, changes: ChangeLog) -> None:
        self.loop, self.changes = loop, changes

    def _check(self, who: Optional[Engineer]) -> Engineer:
        if not isinstance(who, Engineer):
            raise InspectorError("engineer unlock required to change the running line")
        return who

    def set_working_point(self, who: Optional[Engineer], fail: float, predict,
                          review: Optional[float] = None) -> None:
        """`predict` judges with the new thresholds (e.g. the same model with its threshold moved)."""
        who = self._check(who)
        for value in (fail,) + (() if review is None else (review,)):
            if not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
                raise InspectorError(f"working point must be a finite number, not {value!r}")
        if review is not None and review > fail:
            raise InspectorError(f"REVIEW ({review:g}) must not be above FAIL ({fail:g})")
        self.changes.record(who, self.loop.class_name, "working_point",
                            {"fail": self.loop.threshold, "review": self.loop.review_threshold},
                            {"fail": float(fail), "review": None if review is None else float(review)})
        self.loop.swap_model(predict, self.loop.model_id, float(fail), None if review is None else float(review))

    def set_model(self, who: Optional[Engineer], predict, model_id: str, threshold: Optional[float],
                  review: Optional[float] = None) -> None:
        who = self._check(who)
        self.changes.record(who, self.loop.class_name, "model",
                            {"model_id": self.loop.model_id, "threshold": self.loop.threshold},
                            {"model_id": model_id, "threshold": threshold})
        self.loop.swap_model(predict, model_id, threshold, review)
