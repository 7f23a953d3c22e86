"""OPC UA output: station state, last result, shift counters and a PLC trigger handshake.

The server runs its own asyncio loop in its own thread. The line only schedules writes onto that
loop and never waits for them, so a slow or stuck OPC UA client can never hold up a part.

Handshake (all under Objects/Station/Handshake):
  PLC sets Trigger=True -> station sets Busy=True, Done=False, judges one part (on_trigger),
  writes LastResult, then Busy=False, Done=True. PLC resets Trigger=False -> station clears Done.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import threading
from typing import Any, Callable, Optional

from asyncua import Server, ua

from inspector.types import InspectorError

NAMESPACE = "urn:inspector:station"
COUNTERS = ("total", "PASS", "REVIEW", "FAIL", "ERROR")


class OpcUaServer:
    """An asyncua server on HOST:PORT; `on_trigger()` judges one part and returns its result payload."""

    def __init__(self, host: str = "0.0.0.0", port: int = 4840,
                 on_trigger: Optional[Callable[[], dict]] = None, poll_s: float = 0.02) -> None:
        self.endpoint = f"opc.tcp://{host}:{port}/inspector/"
        self.on_trigger = on_trigger
        self.poll_s = poll_s
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ready = threading.Event()
        self._stopping: Optional[asyncio.Event] = None
        self._error: Optional[BaseException] = None
        self._nodes: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._thread_main, name="opcua-server", daemon=True)
        logging.getLogger("asyncua").setLevel(logging.WARNING)

    # -- called from the line thread: schedule, never wait ----------------------------------
    def start(self, timeout_s: float = 20.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise InspectorError(f"OPC UA server could not start on {self.endpoint}: {self._error or 'timeout'}")

    def publish_status(self, status) -> None:
        values = {"State": status.state, "Reason": status.reason, "Operator": status.operator}
        values.update({f"Counters/{name}": int(status.counters.get(name, 0)) for name in COUNTERS})
        self._schedule(values)

    def publish_result(self, payload: dict) -> None:
        self._schedule(self._result_values(payload))

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    def _schedule(self, values: dict[str, Any]) -> None:
        if self._loop is not None and self._ready.is_set() and not self._loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._write(values), self._loop)
            except RuntimeError:  # loop just closed: the station is stopping
                pass

    # -- the server's own thread -------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported through start(); the line keeps running without OPC UA
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Inspector station")
        idx = await server.register_namespace(NAMESPACE)
        station = await server.nodes.objects.add_object(idx, "Station")
        for name, value in (("State", "STOPPED"), ("Reason", ""), ("Operator", "")):
            self._nodes[name] = await station.add_variable(idx, name, value, ua.VariantType.String)
        last = await station.add_object(idx, "LastResult")
        for name, value, kind in (("PartId", "", ua.VariantType.String), ("Verdict", "", ua.VariantType.String),
                                  ("Score", 0.0, ua.VariantType.Double),
                                  ("Time", _dt.datetime.now(_dt.timezone.utc), ua.VariantType.DateTime)):
            self._nodes[f"LastResult/{name}"] = await last.add_variable(idx, name, value, kind)
        counters = await station.add_object(idx, "Counters")
        for name in COUNTERS:
            self._nodes[f"Counters/{name}"] = await counters.add_variable(idx, name, 0, ua.VariantType.Int64)
        handshake = await station.add_object(idx, "Handshake")
        for name in ("Trigger", "Busy", "Done"):
            self._nodes[f"Handshake/{name}"] = await handshake.add_variable(idx, name, False, ua.VariantType.Boolean)
        await self._nodes["Handshake/Trigger"].set_writable()
        async with server:
            self._ready.set()
            await self._handshake_loop()

    async def _handshake_loop(self) -> None:
        trigger, was_triggered = self._nodes["Handshake/Trigger"], False
        while not self._stopping.is_set():
            triggered = bool(await trigger.read_value())
            if triggered and not was_triggered:
                await self._write({"Handshake/Busy": True, "Handshake/Done": False})
                payload = await self._judge_one()
                await self._write({**self._result_values(payload), "Handshake/Busy": False, "Handshake/Done": True})
            elif not triggered and was_triggered:
                await self._write({"Handshake/Done": False})
            was_triggered = triggered
            try:
                await asyncio.wait_for(self._stopping.wait(), self.poll_s)
            except asyncio.TimeoutError:
                pass

    async def _judge_one(self) -> dict:
        """Judge in a worker thread (the model may take a while); any failure is an ERROR result."""
        if self.on_trigger is None:
            return {"part_id": "", "verdict": "ERROR", "score": None, "error": "no trigger source"}
        try:
            return await asyncio.to_thread(self.on_trigger)
        except Exception as exc:
            return {"part_id": "", "verdict": "ERROR", "score": None, "error": str(exc)}

    @staticmethod
    def _result_values(payload: dict) -> dict[str, Any]:
        score = payload.get("score")
        moment = payload.get("time")
        when = (_dt.datetime.fromtimestamp(moment, _dt.timezone.utc) if isinstance(moment, (int, float))
                else _dt.datetime.now(_dt.timezone.utc))
        return {"LastResult/PartId": str(payload.get("part_id") or ""),
                "LastResult/Verdict": str(payload.get("verdict") or "ERROR"),
                "LastResult/Score": float(score) if score is not None else float("nan"),
                "LastResult/Time": when}

    async def _write(self, values: dict[str, Any]) -> None:
        kinds = {bool: ua.VariantType.Boolean, int: ua.VariantType.Int64, float: ua.VariantType.Double,
                 str: ua.VariantType.String, _dt.datetime: ua.VariantType.DateTime}
        for name, value in values.items():
            await self._nodes[name].write_value(ua.Variant(value, kinds[type(value)]))
