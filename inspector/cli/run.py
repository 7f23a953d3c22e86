"""`inspector run`: a headless station. Judge parts from a source, log them, publish them, stop cleanly.

SIGINT/SIGTERM finish the part in hand, flush the outbox to the broker (bounded wait) and publish a
retained STOPPED status, so a PLC or MES never sees a station that vanished mid-part.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from inspector.types import InspectorError


def add_parser(verbs: argparse._SubParsersAction) -> None:
    run = verbs.add_parser("run", help="run a station headless: source -> model -> log + MQTT/OPC UA outputs")
    run.add_argument("project", help="project folder")
    run.add_argument("--class", dest="class_name", required=True, help="part class whose model judges the parts")
    run.add_argument("--source", required=True, help="hotfolder:DIR | genicam[:CTI] | camera:N")
    run.add_argument("--output", action="append", default=[], help="mqtt://HOST:PORT[/prefix] or opcua://HOST:PORT "
                     "(repeatable)")
    run.add_argument("--device", type=int, default=0, help="GenICam device index on the producer (default 0)")
    run.add_argument("--operator", required=True, help="operator name recorded with every part")
    run.add_argument("--model", default=None, help="model folder to use instead of the class's current model")
    run.add_argument("--trigger", choices=["free", "plc"], default="free",
                     help="free: judge every part as it arrives; plc: one part per OPC UA Handshake/Trigger")
    run.add_argument("--flush-timeout", type=float, default=10.0, help="seconds to wait for the broker on stop")
    run.set_defaults(handler=cmd_run)


def resolve_model_dir(project, class_name: str, model: Optional[str]) -> Path:
    """--model if given, else the class's active model, else its newest intact model."""
    if model:
        path = Path(model)
        if not ((path / "model.json").is_file() or (path / "manifest.json").is_file()):
            raise InspectorError(f"not a model folder (no model.json) nor an export (no manifest.json): {path}")
        return path
    part = project._class(class_name)
    if part.active_model_id:
        return project.model_path(class_name, part.active_model_id)
    intact = [info for info in project.list_models(class_name) if info.ok]
    if not intact:
        raise InspectorError(f"class '{class_name}' has no model yet: fit one first or pass --model")
    return intact[-1].path


def parse_output(spec: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, prefix) from mqtt://HOST:PORT[/prefix] or opcua://HOST:PORT."""
    url = urlparse(spec)
    if url.scheme not in ("mqtt", "opcua") or not url.hostname:
        raise InspectorError(f"bad --output '{spec}': use mqtt://HOST:PORT[/prefix] or opcua://HOST:PORT")
    try:
        port = url.port or (1883 if url.scheme == "mqtt" else 4840)
    except ValueError:
        raise InspectorError(f"bad port in --output '{spec}'") from None
    return url.scheme, url.hostname, port, url.path.strip("/") or "inspector"


def open_source(spec: str, spool_dir: Path, device_index: int = 0):
    """The part source named by --source (see inspector.station.sources, shared with the app)."""
    from inspector.station.sources import open_source as _open

    return _open(spec, spool_dir, device_index)


class StatusLine:
    """One status line on stderr, rewritten in place on a terminal, one line per change otherwise."""

    def __init__(self, every_s: float = 10.0) -> None:
        self._tty = sys.stderr.isatty()
        self._every_s, self._last_state, self._last_time = every_s, None, 0.0

    def show(self, status) -> None:
        now = time.monotonic()
        if not self._tty and status.state == self._last_state and now - self._last_time < self._every_s:
            return  # a log file gets state changes and a counter line every `every_s`, not one per batch
        self._last_state, self._last_time = status.state, now
        counts = " ".join(f"{k}={v}" for k, v in sorted(status.counters.items()))
        text = f"[{time.strftime('%H:%M:%S')}] {status.state}{' (' + status.reason + ')' if status.reason else ''}  {counts}"
        print(("\r" + text.ljust(79)) if self._tty else text, file=sys.stderr, end="" if self._tty else "\n",
              flush=True)



def cmd_run(args: argparse.Namespace) -> int:
    from inspector.export_runtime import load_inspection_model
    from inspector.station.outbox import Outbox
    from inspector.station.runloop import ALARM, RunLoop
    from inspector.store.project import Project

    outputs = [parse_output(spec) for spec in args.output]
    schemes = [scheme for scheme, *_ in outputs]
    if args.trigger == "plc" and "opcua" not in schemes:
        raise InspectorError("--trigger plc needs an opcua:// output (the PLC writes Handshake/Trigger there)")
    if schemes.count("mqtt") > 1:
        raise InspectorError("only one mqtt:// output per station (they share one outbox)")
    project = Project.open(args.project)
    model_dir = resolve_model_dir(project, args.class_name, args.model)
    model = load_inspection_model(model_dir, getattr(args, "runtime", None))  # an export: no torch needed
    part = project._class(args.class_name)
    if part.fail_threshold is not None or part.review_threshold is not None:
        model.threshold = model.threshold.with_values(part.fail_threshold or model.threshold.fail,
                                                      part.review_threshold)
    station_dir = project.root / ".station"
    station_dir.mkdir(exist_ok=True)
    source = open_source(args.source, station_dir / "frames", args.device)
    outbox = Outbox(station_dir / "outbox.sqlite")
    line = StatusLine()
    mqtt_outputs, opcua_outputs = [], []
    prefix = "inspector"
    for scheme, host, port, path_prefix in outputs:
        if scheme == "mqtt":
            from inspector.station.mqtt_output import MqttOutput

            prefix = path_prefix
            mqtt_outputs.append(MqttOutput(outbox, host, port, client_id=f"inspector-{args.class_name}",
                                           status_topic=f"{prefix}/station/status"))
        else:
            from inspector.station.opcua_server import OpcUaServer

            opcua_outputs.append(OpcUaServer(host, port))

    def on_status(status) -> None:
        line.show(status)
        for out in mqtt_outputs:
            out.publish_status(status.to_json())
        for server in opcua_outputs:
            server.publish_status(status)

    loop = RunLoop(source, model.predict, project.log, outbox, args.class_name, model.model_id,
                   model.threshold.fail, args.operator, topic_prefix=f"{prefix}/parts", on_status=on_status,
                   review_threshold=model.threshold.review)
    for server in opcua_outputs:
        if args.trigger == "plc":
            server.on_trigger = loop.judge_one
        server.start()
    loop.on_result = lambda payload, _result: [server.publish_result(payload) for server in opcua_outputs]
    for out in mqtt_outputs:
        out.start()
    stop_requested = []

    def request_stop(signum, _frame) -> None:
        stop_requested.append(signum)
        loop.stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"Station '{args.class_name}' running model {model.model_id} for {args.operator}; Ctrl+C to stop",
          file=sys.stderr)
    try:
        status = loop.serve_triggers() if args.trigger == "plc" else loop.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        deadline = time.monotonic() + args.flush_timeout
        while mqtt_outputs and len(outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        for out in mqtt_outputs:
            out.publish_status(loop.status.to_json())
            time.sleep(0.2)  # QoS 1 retained status goes out before we disconnect
            out.stop()
        for server in opcua_outputs:
            server.publish_status(loop.status)
            server.stop()
        left = len(outbox)
        outbox.close()
        project.close()
        if hasattr(source, "close"):
            source.close()
    print(file=sys.stderr)
    print(f"Stopped: {dict(status.counters)}" + (f"; {left} message(s) still queued for the broker" if left else ""),
          file=sys.stderr)
    return 3 if status.state == ALARM else 0
