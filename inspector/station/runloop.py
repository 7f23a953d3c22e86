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

from inspector.station.frame_sources import SourceLost
from inspector.station.hotfolder import HotFolder
from inspector.inspection import InspectionResult, Predictor, inspect_files
from inspector.station.outbox import Outbox
from inspector.store.log import InspectionLog
from inspector.types import CancelToken, InspectorError

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
                 on_status: Optional[Callable[[StationStatus], None]] = None,
                 review_threshold: Optional[float] = None) -> None:
        self.source, self.predict, self.log, self.outbox = source, predict, log, outbox
        self.class_name, self.model_id, self.threshold = class_name, model_id, threshold
        self.review_threshold = review_threshold
        self.topic_prefix = topic_prefix
        self.status = StationStatus(operator=operator)
        self.cancel = CancelToken()
        self._paused = threading.Event()
        self._on_status = on_status
        self.retry_initial_s, self.retry_max_s = 0.5, 30.0
        self._retry_s, self._source_lost = self.retry_initial_s, False
        self._model_lock = threading.Lock()
        self._pending: list = []  # parts polled but not yet judged in trigger mode
        self._judge_lock = threading.Lock()  # one triggered part at a time (PLC and software triggers)
        self._soft_triggers = 0  # software triggers (key or button) not yet served
        self._trigger_guard = threading.Lock()
        # Called after each part is recorded with its message and full result (image and map for a display),
        # e.g. the OPC UA server's last-result nodes or the app's run page.
        self.on_result: Optional[Callable[[dict, InspectionResult], None]] = None

    def _set(self, state: str, reason: str = "") -> None:
        if (state, reason) != (self.status.state, self.status.reason):
            self.status.state, self.status.reason = state, reason
            self._notify()

    def _notify(self) -> None:
        """Status listeners see state changes and, after every batch, the new counters."""
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
            parts = self._poll_source()
            if parts is None:
                continue  # source lost: ALARM shown, back-off done, reconnect tried
            if not parts:
                self._set(WAITING)
                time.sleep(idle_sleep_s)
                continue
            self._set(RUNNING)
            by_path = {part.path: part for part in parts}
            try:
                with self._model_lock:  # a model swap waits for the batch: each row names the model that judged it
                    for batch in inspect_files(list(by_path), self.predict, cancel=self.cancel):
                        for result in batch:
                            self._record(by_path[result.path], result)
                            done += 1
                        self._notify()
            except OSError as exc:
                reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else f"cannot record: {exc}"
                self._set(ALARM, reason)
                break
            except InspectorError as exc:  # log or outbox cannot be written: a line must not judge unrecorded
                self._set(ALARM, str(exc))
                break
            if max_parts is not None and done >= max_parts:
                break
        if self.status.state != ALARM or self._source_lost:
            self._set(STOPPED)
        return self.status

    def swap_model(self, predict: Predictor, model_id: str, threshold: Optional[float],
                   review_threshold: Optional[float] = None) -> None:
        """Change model and/or working point between parts (see engineer.StationChanges: unlocked, logged)."""
        with self._model_lock:
            self.predict, self.model_id, self.threshold = predict, model_id, threshold
            self.review_threshold = review_threshold

    def _poll_source(self) -> Optional[list]:
        """The source's new parts; on SourceLost: ALARM, wait (growing back-off), reconnect, None."""
        try:
            parts = self.source.poll()
        except SourceLost as exc:
            self._source_lost = True
            self._set(ALARM, f"source lost: {exc}")
            self.cancel.wait(self._retry_s)
            self._retry_s = min(self._retry_s * 2, self.retry_max_s)
            try:
                if not self.cancel.cancelled:
                    self.source.reconnect()
            except SourceLost as again:
                self._set(ALARM, f"source lost: {again}")
            return None
        if self._source_lost:
            self._source_lost, self._retry_s = False, self.retry_initial_s
            self.status.counters["reconnects"] += 1
        return parts

    def request_trigger(self) -> None:
        """A software trigger (key or button): `serve_triggers` judges the next part, once per request."""
        with self._trigger_guard:
            self._soft_triggers += 1

    def serve_triggers(self, poll_s: float = 0.02) -> StationStatus:
        """Trigger mode: one part per trigger (PLC via `judge_one`, software via `request_trigger`) until stopped."""
        self._set(WAITING)
        while not self.cancel.wait(poll_s):
            with self._trigger_guard:
                wanted = self._soft_triggers > 0
                self._soft_triggers = max(0, self._soft_triggers - 1)
            if wanted:
                self.judge_one()
        if self.status.state != ALARM:
            self._set(STOPPED)
        return self.status

    def judge_one(self, timeout_s: float = 5.0) -> dict:
        """Trigger mode (PLC handshake): judge the next part to arrive; an ERROR payload if none comes."""
        with self._judge_lock:
            return self._judge_next(timeout_s)

    def _judge_next(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while not self._pending and time.monotonic() < deadline and not self.cancel.cancelled:
            parts = self._poll_source()  # a lost camera: ALARM, back-off, reconnect, as in free run
            self._pending.extend(parts or [])
            if not self._pending:
                time.sleep(0.02)
        if not self._pending:
            reason = self.status.reason if self.status.state == ALARM else "no part arrived"
            return {"part_id": "", "verdict": "ERROR", "score": None, "error": reason, "time": time.time()}
        part = self._pending.pop(0)
        self._set(RUNNING)
        try:
            with self._model_lock:
                result = next(inspect_files([part.path], self.predict))[0]
                payload = self._record(part, result)
            self._notify()
        except (OSError, InspectorError) as exc:
            self._set(ALARM, f"cannot record: {exc}")
            return {"part_id": part.part_id, "verdict": "ERROR", "score": None, "error": str(exc), "time": time.time()}
        self._set(WAITING)
        return payload

    def _record(self, part, result: InspectionResult) -> dict:
        """Log (ERROR rows too, with their reason), queue for publishing, then move the file out:
        a restart never judges twice."""
        ok = result.verdict != "ERROR"
        image_path = self.source.destination(part, ok) if hasattr(self.source, "destination") else part.path
        note = "; ".join(text for text in (result.error, f"operator: {self.status.operator}") if text)
        row_id = self.log.record(None, self.class_name, self.model_id, result.score, self.threshold,
                                 result.verdict, str(image_path), review_threshold=self.review_threshold, note=note)
        payload = {"part_id": part.part_id, "verdict": result.verdict, "score": result.score,
                   "threshold": self.threshold, "review_threshold": self.review_threshold,
                   "class": self.class_name, "model_id": self.model_id,
                   "operator": self.status.operator, "log_id": row_id, "error": result.error,
                   "image_path": str(image_path), "time": time.time()}
        self.outbox.put(f"{self.topic_prefix}/{self.class_name}", json.dumps(payload))
        if hasattr(self.source, "destination"):
            self.source.finish(part, ok=ok, target=image_path)
        else:
            self.source.finish(part, ok=ok)
        self.status.counters[result.verdict] += 1
        self.status.counters["total"] += 1
        if self.on_result is not None:
            self.on_result(payload, result)
        return payload
