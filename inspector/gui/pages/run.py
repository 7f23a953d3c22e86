"""Run mode: the station loop (inspector.station.runloop) on a line screen.

The loop runs in a worker thread (inspector.gui.workers.Task); its status and results cross to the
GUI thread as queued Qt signals of a bridge object living in the GUI thread. The page shows the
current part with its heatmap, a verdict readable from 2 m, shift counters, the last results, a
control chart and the line state. On the left: where parts come from (hot folder, OpenCV camera,
GenICam camera), where results go (MQTT, OPC UA server), the trigger (free run, software, OPC UA)
and the working point, which only an unlocked engineer may change while running (each change is
logged with who and when). The operator's name is asked at Start and recorded with every result.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QInputDialog, QLabel, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout,
                               QWidget)

from inspector.gui.widgets.heatmap_view import HeatmapView
from inspector.gui.widgets.run_engineer import EngineerDialog, WorkingPointBox
from inspector.gui.widgets.run_setup import FREE, RunSetupPanel
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
        self.opcua: Any = None
        self.source: Any = None
        self.outbox: Any = None
        self.changelog: Any = None
        self.engineer: Any = None
        self.operator = ""
        self.trigger_mode = FREE
        self.state = "STOPPED"
        self.states_seen: list[str] = []
        self.results_shown = 0
        self.bridge = _Bridge(self)
        self.bridge.status.connect(self._on_status)
        self.bridge.result.connect(self._on_result)

        self.setup_panel = RunSetupPanel()
        self.folder_edit = self.setup_panel.folder_edit  # the hot folder (kept for callers of the first page)
        self.working_point = WorkingPointBox()
        self.working_point.apply_requested.connect(lambda fail, review: self.apply_working_point(fail, review))
        self.working_point.model_requested.connect(lambda model_id: self.change_model(model_id))
        self.working_point.unlock_requested.connect(lambda: self.unlock())
        self.working_point.lock_requested.connect(self.lock)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 4, 0)
        side_layout.addWidget(self.setup_panel)
        side_layout.addWidget(self.working_point)
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(320)
        self.side = scroll
        self.setup_button = QPushButton("Set-up")
        self.setup_button.setCheckable(True)
        self.setup_button.setChecked(True)
        self.setup_button.setToolTip("show or hide the source, outputs, trigger and working point (the engineer's "
                                     "unlock is there); on a narrow screen they hide while running")
        self.setup_button.toggled.connect(scroll.setVisible)

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.trigger_button = QPushButton("Trigger (Space)")
        self.trigger_button.setToolTip("software trigger: judge the next part")
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.trigger_button.clicked.connect(self.software_trigger)
        shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.software_trigger)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        controls = QHBoxLayout()
        for widget in (self.setup_button, self.start_button, self.pause_button, self.stop_button,
                       self.trigger_button):
            controls.addWidget(widget)
        controls.addStretch(1)

        self.heatmap = HeatmapView()
        self.verdict = VerdictLabel()
        self.part_label = QLabel("no part yet")
        self.part_label.setWordWrap(True)
        self.part_label.setStyleSheet("QLabel { font-size: 18px; }")
        self.counters = ShiftCounters()
        self.strip = ResultStrip()
        self.chart = ControlChart()
        self.chart.setMinimumHeight(120)  # the page fits 1024 x 700 without scrolling
        for view in (self.heatmap, self.chart):  # they take the room left, never ask for more
            view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        right = QVBoxLayout()
        right.addWidget(self.verdict)
        right.addWidget(self.part_label)
        right.addWidget(self.counters)
        right.addWidget(self.strip)
        right.addWidget(self.chart, 1)
        display = QHBoxLayout()
        display.addWidget(self.heatmap, 5)
        display.addLayout(right, 4)
        main = QVBoxLayout()
        main.addLayout(controls)
        main.addWidget(self.state_label)
        main.addLayout(display, 1)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll)
        layout.addLayout(main, 1)
        self._show_state("STOPPED", "")

    # -- set-up ---------------------------------------------------------------------------------
    def configure(self, model: Any, class_name: str, log: Any, station_dir: Path) -> None:
        """The model that judges, the log rows go to and where the outbox, PIN and change log live."""
        self.model, self.class_name, self.log, self.station_dir = model, class_name, log, Path(station_dir)
        self._show_threshold(model.threshold.fail, getattr(model.threshold, "review", None))
        models = self._class_models()
        self.working_point.set_models(models or [(model.model_id, str(model.model_id))], model.model_id)

    def _show_threshold(self, fail: float, review: Optional[float]) -> None:
        from inspector.visualize import threshold_levels

        self.chart.set_lines(fail, review)
        self.working_point.set_values(fail, review)
        low, high = threshold_levels(self.model.threshold.with_values(fail, review))  # this run's working point
        self.heatmap.set_levels(low, high, fail)

    def _class_models(self) -> list[tuple[str, str]]:
        project = getattr(getattr(self.ctx, "session", None), "project", None)
        if project is None or not self.class_name:
            return []
        return [(info.id, info.id) for info in project.list_models(self.class_name) if info.ok]

    def _from_context(self) -> None:
        """Without an explicit configure(): the open project's current class and its model."""
        session = getattr(self.ctx, "session", None)
        project = getattr(session, "project", None)
        model = getattr(session, "model", None)
        if project is None or not session.class_name or model is None:
            raise InspectorError("open a project, choose a class and fit or activate its model before a run")
        self.configure(model, session.class_name, session.log, project.root / ".station")
        self._from_ctx = True

    # -- control ----------------------------------------------------------------------------------
    def start(self, operator: Optional[str] = None) -> bool:
        """Open the chosen source and outputs, name the operator, run the loop in a worker thread."""
        if self.task is not None:
            return False
        if operator is None:
            operator, ok = QInputDialog.getText(self, "Start run", "Operator on shift:")
            if not ok:
                return False
        if not operator.strip():
            self._show_state("ALARM", "an operator name is needed to start")
            return False
        from inspector.station.engineer import ChangeLog
        from inspector.station.outbox import Outbox
        from inspector.station.runloop import RunLoop
        from inspector.station.sources import open_source

        try:
            setup = self.setup_panel.setup()
            if self.model is None or self._from_ctx:
                self._from_context()
            self.station_dir.mkdir(parents=True, exist_ok=True)
            self.source = open_source(setup.source, self.station_dir / "frames", setup.device_index, settle_s=0.1)
            self.outbox = Outbox(self.station_dir / "outbox.sqlite")
            self.changelog = self.changelog or ChangeLog(self.station_dir / "changes.sqlite")
            prefix = setup.mqtt[2] if setup.mqtt else "inspector"
            self.mqtt = self._mqtt_output(setup.mqtt)
            self.opcua = self._opcua_output(setup.opcua)
        except InspectorError as exc:
            self._close_outputs()
            self._show_state("ALARM", str(exc))
            return False
        self.operator = operator.strip()
        threshold = self.model.threshold
        loop = RunLoop(self.source, self.model.predict, self.log, self.outbox, self.class_name, self.model.model_id,
                       threshold.fail, self.operator, topic_prefix=f"{prefix}/parts",
                       on_status=self._status_from_loop, review_threshold=threshold.review)
        loop.on_result = self._result_from_loop
        if self.opcua is not None and setup.trigger == "opcua":
            self.opcua.on_trigger = loop.judge_one
        self.loop, self.trigger_mode = loop, setup.trigger
        work = loop.run if setup.trigger == FREE else loop.serve_triggers
        self.task = Task(lambda reporter: work(), "station-run")
        loop.cancel = _EitherCancel(loop.cancel, self.task.token)
        self.task.finished.connect(self._on_finished)
        self.setup_panel.setEnabled(False)
        self.task.start()
        if self.width() < 1200:  # a narrow line screen: the part and its verdict get the room while running
            self.setup_button.setChecked(False)
        self._refresh_buttons()
        self._refresh_lock()
        return True

    def _mqtt_output(self, spec: Optional[tuple[str, int, str]]) -> Any:
        """The outbox's publisher when a broker is named (results stay queued until it answers)."""
        if spec is None:
            return None
        from inspector.station.mqtt_output import MqttOutput

        host, port, prefix = spec
        output = MqttOutput(self.outbox, host, port, client_id=f"inspector-gui-{self.class_name}",
                            status_topic=f"{prefix}/station/status")
        output.start()
        return output

    def _opcua_output(self, spec: Optional[tuple[str, int]]) -> Any:
        if spec is None:
            return None
        from inspector.station.opcua_server import OpcUaServer

        server = OpcUaServer(*spec)
        server.start()
        return server

    def _status_from_loop(self, status: Any) -> None:
        """Called in the loop's thread: to the broker and OPC UA directly, to the page as a queued signal."""
        if self.mqtt is not None:
            self.mqtt.publish_status(status.to_json())
        if self.opcua is not None:
            self.opcua.publish_status(status)
        self.bridge.status.emit((status.state, status.reason))

    def _result_from_loop(self, payload: dict, result: Any) -> None:
        if self.opcua is not None:
            self.opcua.publish_result(payload)
        self.bridge.result.emit(dict(payload, image=result.image, map=result.anomaly_map))

    def software_trigger(self) -> bool:
        """Judge the next part (software-trigger and OPC UA modes; in free run every part is judged anyway)."""
        if self.loop is None or self.trigger_mode == FREE:
            return False
        self.loop.request_trigger()
        return True

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
        if self.mqtt is not None and self.loop is not None:
            self.mqtt.publish_status(self.loop.status.to_json())
        if self.opcua is not None and self.loop is not None:
            self.opcua.publish_status(self.loop.status)
        self._close_outputs()
        self.task = None
        self.loop = None
        self.engineer = None  # an unlock lasts one run
        self.setup_panel.setEnabled(True)
        self.setup_button.setChecked(True)
        self._refresh_buttons()
        self._refresh_lock()

    def _close_outputs(self) -> None:
        for name in ("mqtt", "opcua", "source", "outbox"):
            thing = getattr(self, name)
            if thing is not None:
                closer = getattr(thing, "stop", None) or getattr(thing, "close", None)
                if closer is not None:
                    try:
                        closer()
                    except Exception as exc:  # closing must never keep the page from stopping
                        self.part_label.setText(f"closing the {name} failed: {exc}")
                setattr(self, name, None)

    # -- engineer ---------------------------------------------------------------------------------
    def unlock(self, name: Optional[str] = None, pin: Optional[str] = None) -> bool:
        """The engineer's unlock (PIN dialog unless name and PIN are given); a first PIN is set here."""
        from inspector.station import engineer as station_engineer

        if self.station_dir is None:
            self.working_point.show_change("choose the class and its model first")
            return False
        self.station_dir.mkdir(parents=True, exist_ok=True)
        try:
            if name is None or pin is None:
                has_pin = station_engineer.has_pin(self.station_dir)
                dialog = EngineerDialog(has_pin, self)
                if dialog.exec() != QDialog.DialogCode.Accepted:
                    return False
                name, pin = dialog.name.text(), dialog.pin.text()
                if not has_pin:
                    if pin != dialog.confirm.text():
                        raise InspectorError("the two PINs differ")
                    station_engineer.set_pin(self.station_dir, pin)
            self.engineer = station_engineer.unlock(self.station_dir, name, pin)
        except InspectorError as exc:
            self.working_point.show_change(f"Unlock refused: {exc}")
            return False
        self._refresh_lock()
        return True

    def lock(self) -> None:
        self.engineer = None
        self._refresh_lock()

    def _refresh_lock(self) -> None:
        self.working_point.set_lock_state(self.task is not None, self.engineer.name if self.engineer else None)

    def apply_working_point(self, fail: float, review: Optional[float]) -> bool:
        """New FAIL / REVIEW values: free while stopped; while running only unlocked, and logged."""
        if self.model is None:
            self.working_point.show_change("no model to set a working point on")
            return False
        try:
            model = copy.copy(self.model)
            model.threshold = self.model.threshold.with_values(float(fail), review)
            if self.loop is not None:
                from inspector.station.engineer import StationChanges

                StationChanges(self.loop, self.changelog).set_working_point(self.engineer, float(fail),
                                                                            model.predict, review)
        except InspectorError as exc:
            self.working_point.show_change(f"Refused: {exc}")
            self._show_threshold(self.model.threshold.fail, self.model.threshold.review)
            return False
        self.model = model
        self._show_threshold(model.threshold.fail, model.threshold.review)
        values = f"FAIL {fail:.4g}" + (f", REVIEW {review:.4g}" if review is not None else "")
        who = f"by {self.engineer.name} at {time.strftime('%H:%M:%S')}" if self.loop is not None else "for the next run"
        self.working_point.show_change(f"{values} set {who}")
        return True

    def change_model(self, model_id: Optional[str]) -> bool:
        """Judge with another of the class's models: while running only unlocked, and logged."""
        project = getattr(getattr(self.ctx, "session", None), "project", None)
        if project is None or not model_id or self.model is None or model_id == self.model.model_id:
            return False
        from inspector.pipeline import InspectionModel

        try:
            if self.loop is not None and self.engineer is None:
                raise InspectorError("engineer unlock required to change the running line")
            model = InspectionModel.load(project.model_path(self.class_name, model_id))
            if self.loop is not None:
                from inspector.station.engineer import StationChanges

                StationChanges(self.loop, self.changelog).set_model(self.engineer, model.predict, model.model_id,
                                                                    model.threshold.fail, model.threshold.review)
        except InspectorError as exc:
            self.working_point.show_change(f"Refused: {exc}")
            self.working_point.select_model(self.model.model_id)
            return False
        self.model = model
        self._show_threshold(model.threshold.fail, model.threshold.review)
        self.working_point.show_change(f"model {model_id}" + (f" set by {self.engineer.name} at "
                                                              f"{time.strftime('%H:%M:%S')}" if self.loop else ""))
        return True

    # -- display ----------------------------------------------------------------------------------
    def _on_status(self, state_reason: tuple) -> None:
        self._show_state(*state_reason)

    def _show_state(self, state: str, reason: str) -> None:
        self.state = state
        if not self.states_seen or self.states_seen[-1] != state:
            self.states_seen.append(state)
        text = state + (f": {reason}" if reason else "")
        colour = {"RUNNING": "#1e8e3e", "PAUSED": "#f9ab00", "ALARM": "#d93025"}.get(state, "#3c4043")
        self.state_label.setText(text + (f"   ({self.operator})" if self.operator else ""))
        self.state_label.setToolTip(f"operator on shift: {self.operator}" if self.operator else "")
        self.state_label.setStyleSheet(f"QLabel {{ font-size: 22px; font-weight: bold; color: {colour}; }}")
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        running = self.task is not None
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.trigger_button.setEnabled(running and self.trigger_mode != FREE)
        self.pause_button.setText("Resume" if self.state == "PAUSED" else "Pause")

    def _on_result(self, payload: dict) -> None:
        verdict = payload["verdict"]
        self.results_shown += 1
        self.verdict.set_verdict(verdict)
        stamp = time.strftime("%H:%M:%S", time.localtime(payload.get("time", time.time())))
        score = payload.get("score")
        detail = f"   score {score:.3g}" if score is not None else f"   {payload.get('error') or ''}"
        self.part_label.setText(f"part {payload['part_id']}   {stamp}{detail}")
        self.counters.add(verdict)
        self.strip.add(verdict, payload["part_id"])
        self.chart.add(score)
        if payload.get("image") is not None and verdict != "ERROR":
            self.heatmap.set_image(payload["image"])
            self.heatmap.set_map(payload.get("map"), "this model gives no anomaly map")
