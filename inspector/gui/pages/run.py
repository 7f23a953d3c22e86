"""Run mode: the station loop (inspector.station.runloop) on a line screen.

The loop runs in a worker thread (inspector.gui.workers.Task); its status and results cross to the
GUI thread as queued Qt signals of a bridge object living in the GUI thread. The page shows the
current part with its heatmap, a verdict readable from 2 m, shift counters, the last results, a
control chart and the line state. The operator's name is asked at Start.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QPushButton, QVBoxLayout,
                               QWidget)

from inspector.gui.widgets.heatmap_view import HeatmapView
from inspector.gui.widgets.run_widgets import ControlChart, ResultStrip, ShiftCounters, VerdictLabel
from inspector.gui.workers import Task
from inspector.types import InspectorError


class _Bridge(QObject):
    """Created in the GUI thread: signals emitted from the loop's thread are delivered queued."""

    status = Signal(object)  # (state, reason)
    result = Signal(object)  # payload dict + "image"/"map" of the part


class _EitherCancel:
    """The loop's cancel token, also set by the Task's (window close and shutdown cancel Tasks)."""

    def __init__(self, loop_token: Any, task_token: Any) -> None:
        self.loop_token, self.task_token = loop_token, task_token

    def cancel(self) -> None:
        self.loop_token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.loop_token.cancelled or self.task_token.cancelled

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s` in short slices, so either token wakes it."""
        import time

        deadline = time.monotonic() + timeout_s
        while not self.cancelled and time.monotonic() < deadline:
            self.loop_token.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.cancelled


class RunPage(QWidget):
    title = "Run"

    def __init__(self, ctx: Any = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model: Any = None
        self.class_name = ""
        self.log: Any = None
        self.station_dir: Optional[Path] = None
        self.loop: Any = None
        self.task: Optional[Task] = None
        self._from_ctx = False
        self.mqtt: Any = None
        self.operator = ""
        self.state = "STOPPED"
        self.states_seen: list[str] = []
        self.bridge = _Bridge(self)
        self.bridge.status.connect(self._on_status)
        self.bridge.result.connect(self._on_result)

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("hot folder: parts arrive here as image files")
        self.mqtt_edit = QLineEdit()
        self.mqtt_edit.setPlaceholderText("MQTT broker host:port (optional)")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        controls = QHBoxLayout()
        for widget in (QLabel("Source:"), self.folder_edit, browse, self.mqtt_edit, self.start_button, self.pause_button,
                       self.stop_button):
            controls.addWidget(widget)
        self.state_label = QLabel()
        self.heatmap = HeatmapView()
        self.verdict = VerdictLabel()
        self.part_label = QLabel("no part yet")
        self.part_label.setStyleSheet("QLabel { font-size: 20px; }")
        self.counters = ShiftCounters()
        self.strip = ResultStrip()
        self.chart = ControlChart()
        right = QVBoxLayout()
        right.addWidget(self.verdict)
        right.addWidget(self.part_label)
        right.addWidget(self.counters)
        right.addWidget(self.strip)
        right.addWidget(self.chart, 1)
        body = QHBoxLayout()
        body.addWidget(self.heatmap, 1)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.state_label)
        layout.addLayout(body, 1)
        self._show_state("STOPPED", "")

    # -- set-up ---------------------------------------------------------------------------------
    def configure(self, model: Any, class_name: str, log: Any, station_dir: Path) -> None:
        """The model that judges, the log rows go to and where the outbox lives."""
        self.model, self.class_name, self.log, self.station_dir = model, class_name, log, Path(station_dir)
        threshold = model.threshold
        self.chart.set_lines(threshold.fail, getattr(threshold, "review", None))
        from inspector.visualize import threshold_levels

        low, high = threshold_levels(threshold)
        self.heatmap.set_levels(low, high, threshold.fail)

    def _from_context(self) -> None:
        """Without an explicit configure(): the open project's current class and its model."""
        session = getattr(self.ctx, "session", None)
        project = getattr(session, "project", None)
        model = getattr(session, "model", None)
        if project is None or not session.class_name or model is None:
            raise InspectorError("open a project, choose a class and fit or activate its model before a run")
        self.configure(model, session.class_name, session.log, project.root / ".station")
        self._from_ctx = True

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Hot folder")
        if folder:
            self.folder_edit.setText(folder)

    # -- control ----------------------------------------------------------------------------------
    def start(self, operator: Optional[str] = None) -> bool:
        if self.task is not None:
            return False
        if operator is None:
            operator, ok = QInputDialog.getText(self, "Start run", "Operator name:")
            if not ok:
                return False
        if not operator.strip():
            self._show_state("ALARM", "an operator name is needed to start")
            return False
        from inspector.station.hotfolder import HotFolder
        from inspector.station.outbox import Outbox
        from inspector.station.runloop import RunLoop

        try:
            if self.model is None or self._from_ctx:
                self._from_context()
            source = HotFolder(self.folder_edit.text().strip() or ".", settle_s=0.1)
            self.station_dir.mkdir(parents=True, exist_ok=True)
            outbox = Outbox(self.station_dir / "outbox.sqlite")
            self.mqtt = self._mqtt_output(outbox)
        except InspectorError as exc:
            self._show_state("ALARM", str(exc))
            return False
        self.operator = operator.strip()
        loop = RunLoop(source, self.model.predict, self.log, outbox, self.class_name, self.model.model_id,
                       self.model.threshold.fail, self.operator,
                       on_status=self._status_from_loop)
        loop.on_result = lambda payload, result: self.bridge.result.emit(
            dict(payload, image=result.image, map=result.anomaly_map))
        self.loop = loop
        self._stop_flag = False
        self.task = Task(lambda reporter: loop.run(), "station-run")
        loop.cancel = _EitherCancel(loop.cancel, self.task.token)
        self.task.finished.connect(self._on_finished)
        self.task.start()
        return True

    def _mqtt_output(self, outbox: Any) -> Any:
        """The outbox's publisher when a broker is named (results stay queued until it answers)."""
        spec = self.mqtt_edit.text().strip()
        if not spec:
            return None
        host, _, port = spec.rpartition(":") if ":" in spec else (spec, "", "1883")
        if not port.isdigit():
            raise InspectorError(f"MQTT broker must be host:port, got {spec!r}")
        from inspector.station.mqtt_output import MqttOutput

        output = MqttOutput(outbox, host, int(port), client_id=f"inspector-gui-{self.class_name}",
                            status_topic="inspector/station/status")
        output.start()
        return output

    def _status_from_loop(self, status: Any) -> None:
        """Called in the loop's thread: to the broker directly, to the page as a queued signal."""
        if self.mqtt is not None:
            self.mqtt.publish_status(status.to_json())
        self.bridge.status.emit((status.state, status.reason))

    def toggle_pause(self) -> None:
        if self.loop is None:
            return
        if self.state == "PAUSED":
            self.loop.resume()
        else:
            self.loop.pause()

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()

    def _on_finished(self) -> None:
        if self.mqtt is not None:
            self.mqtt.stop()
            self.mqtt = None
        self.task = None
        self.loop = None
        self._refresh_buttons()

    # -- display ----------------------------------------------------------------------------------
    def _on_status(self, state_reason: tuple) -> None:
        self._show_state(*state_reason)

    def _show_state(self, state: str, reason: str) -> None:
        self.state = state
        if not self.states_seen or self.states_seen[-1] != state:
            self.states_seen.append(state)
        text = state + (f": {reason}" if reason else "")
        colour = {"RUNNING": "#1e8e3e", "PAUSED": "#f9ab00", "ALARM": "#d93025"}.get(state, "#3c4043")
        self.state_label.setText(text + (f"   operator: {self.operator}" if self.operator else ""))
        self.state_label.setStyleSheet(f"QLabel {{ font-size: 24px; font-weight: bold; color: {colour}; }}")
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        running = self.task is not None
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Resume" if self.state == "PAUSED" else "Pause")

    def _on_result(self, payload: dict) -> None:
        import time

        verdict = payload["verdict"]
        self.verdict.set_verdict(verdict)
        stamp = time.strftime("%H:%M:%S", time.localtime(payload.get("time", time.time())))
        score = payload.get("score")
        self.part_label.setText(f"part {payload['part_id']}   {stamp}" + ("" if score is None else f"   score {score:.3g}"))
        self.counters.add(verdict)
        self.strip.add(verdict, payload["part_id"])
        self.chart.add(score)
        if payload.get("image") is not None and verdict != "ERROR":
            self.heatmap.set_image(payload["image"])
            self.heatmap.set_map(payload.get("map"), "this model gives no anomaly map")
