"""Durable outbox: every message is written to SQLite before it is sent, delivered in order.

A message leaves the outbox only once the output confirmed it (MQTT PUBACK for QoS 1), so a
broker outage or a restart loses nothing; delivery resumes from the oldest pending message.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from inspector.types import InspectorError


class Outbox:
    """An ordered queue of (topic, payload) rows in SQLite (WAL, synchronous=FULL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " topic TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise InspectorError(f"cannot open outbox {self.path}: {exc}") from exc

    def put(self, topic: str, payload: str) -> int:
        """Store a message durably; returns its sequence number."""
        with self._lock:
            try:
                cursor = self._db.execute("INSERT INTO outbox (topic, payload, created) VALUES (?, ?, ?)",
                    (topic, payload, time.time()),
                )
            except sqlite3.Error as exc:
                raise InspectorError(f"cannot write outbox {self.path}: {exc}") from exc
            return int(cursor.lastrowid)

    def pending(self, limit: int = 100) -> list[tuple[int, str, str]]:
        """The oldest undelivered messages, in order."""
        with self._lock:
            return list(self._db.execute("SELECT id, topic, payload FROM outbox ORDER BY id LIMIT ?", (limit,)))

    def ack(self, message_id: int) -> None:
        """Delivery confirmed: drop the message."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (message_id,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
