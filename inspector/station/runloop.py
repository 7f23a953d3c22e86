"""The station run loop: part source -> inspection service -> log + outbox, with line states.

States: RUNNING, PAUSED, WAITING FOR PART, ALARM (with a reason). Every result is written to the
inspection log and to the outbox (operator and part id included) before it is published, so a
broker outage loses nothing. A full disk raises ALARM and stops the loop; an unreadable frame is
an ERROR result, not an alarm.
"""
from __future__ import annotations

import errno
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

from inspector.station.hotfolder import HotFolder
from inspector.station.inspection import CancelToken, Predictor, inspect_files
from inspector.station.outbox import Outbox
from inspector.store.log import InspectionLog
from inspector.types import InspectorError

RUNNING, PAUSED, WAITING, ALARM, STOPPED = "RUNNING", "PAUSED", "WAITING FOR PART", "ALARM", "STOPPED"


@dataclass
class StationStatus:
    state: str = STOPPED
    reason: str = ""
    operator: str = ""
    counters: Counter = field(default_factory=Counter)

    def to_json(self) -> str:
        return json.dumps({"state": self.state, "reason": self.reason, "operator": self.operator,
                           "counters": dict(self.counters)})


class RunLoop:
    """Judge every part arriving in a hot folder until stopped."""

    def __init__(self, source: HotFolder, predict: Predictor, log: InspectionLog, outbox: Outbox,
                 class_name: str, model_id: str, threshold: Optional[float], operator: str,
                 topic_prefix: str = "inspector/parts",
                 on_status: Optional[Callable[[StationStatus], None]] = None) -> None:
        self.source, self.predict, self.log, self.outbox = source, predict, log, outbox
        self.class_name, self.model_id, self.threshold = class_name, model_id, threshold
        self.topic_prefix = topic_prefix
        self.status = StationStatus(operator=operator)
        self.cancel = CancelToken()
        self._paused = threading.Event()
        self._on_status = on_status

    def _set(self, state: str, reason: str = "") -> None:
        if (state, reason) != (self.status.state, self.status.reason):
            self.status.state, self.status.reason = state, reason
            if self._on_status:
                self._on_status(self.status)

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        self.cancel.cancel()

    def run(self, idle_sleep_s: float = 0.05, max_parts: Optional[int] = None) -> StationStatus:
        done = 0
        while not self.cancel.cancelled:
            if self._paused.is_set():
                self._set(PAUSED)
                time.sleep(idle_sleep_s)
                continue
            parts = self.source.poll()
            if not parts:
                self._set(WAITING)
                time.sleep(idle_sleep_s)
                continue
            self._set(RUNNING)
            by_path = {part.path: part for part in parts}
            try:
                for batch in inspect_files(list(by_path), self.predict, cancel=self.cancel):
                    for result in batch:
                        self._record(by_path[result.path], result)
                        done += 1
            except OSError as exc:
                reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else f"cannot record: {exc}"
                self._set(ALARM, reason)
                break
            except InspectorError as exc:  # log or outbox cannot be written: a line must not judge unrecorded
                self._set(ALARM, str(exc))
                break
            if max_parts is not None and done >= max_parts:
                break
        if self.status.state != ALARM:
            self._set(STOPPED)
        return self.status

    def _record(self, part, result) -> None:
        """Log, queue for publishing, then move the file out: a restart never judges twice."""
        row_id = self.log.record(None, self.class_name, self.model_id, result.score, self.threshold,
                                 result.verdict, str(part.path))
        payload = {"part_id": part.part_id, "verdict": result.verdict, "score": result.score,
                   "threshold": self.threshold, "class": self.class_name, "model_id": self.model_id,
                   "operator": self.status.operator, "log_id": row_id, "error": result.error,
                   "time": time.time()}
        self.outbox.put(f"{self.topic_prefix}/{self.class_name}", json.dumps(payload))
        self.source.finish(part, ok=result.verdict != "ERROR")
        self.status.counters[result.verdict] += 1
        self.status.counters["total"] += 1
