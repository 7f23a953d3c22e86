"""OPC UA output with a real asyncua client: nodes, last result, counters and the PLC handshake."""
import asyncio
import datetime
import math
import socket
import time
from collections import Counter

import numpy as np
from asyncua import Client
from PIL import Image
from station_helpers import brightness_predictor

from inspector.station.hotfolder import HotFolder
from inspector.station.opcua_server import OpcUaServer
from inspector.station.outbox import Outbox
from inspector.station.runloop import RunLoop, StationStatus
from inspector.store.log import InspectionLog


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_predict = brightness_predictor(128.0)


async def _node(client, *path):
    idx = await client.get_namespace_index("urn:inspector:station")
    return await client.nodes.objects.get_child([f"{idx}:Station"] + [f"{idx}:{p}" for p in path])


async def _until(node, value, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await node.read_value() == value:
            return True
        await asyncio.sleep(0.02)
    return False


def test_status_counters_and_result_nodes():
    port = _free_port()
    server = OpcUaServer("127.0.0.1", port)
    server.start()
    try:
        status = StationStatus(state="RUNNING", operator="bob", counters=Counter(total=3, PASS=2, FAIL=1))
        server.publish_status(status)
        server.publish_result({"part_id": "p-17", "verdict": "FAIL", "score": 2.5, "time": 1_700_000_000.0})

        async def check():
            async with Client(f"opc.tcp://127.0.0.1:{port}/inspector/") as client:
                assert await _until(await _node(client, "LastResult", "PartId"), "p-17")
                assert await (await _node(client, "State")).read_value() == "RUNNING"
                assert await (await _node(client, "Operator")).read_value() == "bob"
                assert await (await _node(client, "Counters", "FAIL")).read_value() == 1
                assert await (await _node(client, "Counters", "total")).read_value() == 3
                assert await (await _node(client, "LastResult", "Verdict")).read_value() == "FAIL"
                assert await (await _node(client, "LastResult", "Score")).read_value() == 2.5
                when = await (await _node(client, "LastResult", "Time")).read_value()
                when = when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)  # asyncua: naive UTC
                assert abs(when.timestamp() - 1_700_000_000.0) < 1
        asyncio.run(check())
    finally:
        server.stop()


def test_plc_handshake_judges_one_part_per_trigger(tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(hot / "part-A.png")
    Image.fromarray(np.full((8, 8, 3), 10, np.uint8)).save(hot / "part-B.png")
    log, box = InspectionLog(tmp_path / "log.db"), Outbox(tmp_path / "outbox.db")
    loop = RunLoop(HotFolder(hot, settle_s=0.0), _predict, log, box, "c", "m1", 128.0, "eve")
    port = _free_port()
    server = OpcUaServer("127.0.0.1", port, on_trigger=lambda: loop.judge_one(timeout_s=1.0))
    server.start()
    try:
        async def plc():
            async with Client(f"opc.tcp://127.0.0.1:{port}/inspector/") as client:
                trigger = await _node(client, "Handshake", "Trigger")
                busy, done = await _node(client, "Handshake", "Busy"), await _node(client, "Handshake", "Done")
                verdicts = []
                for _ in range(2):
                    assert await done.read_value() is False
                    await trigger.write_value(True)
                    assert await _until(done, True), "station never set Done"
                    assert await busy.read_value() is False
                    verdicts.append((await (await _node(client, "LastResult", "PartId")).read_value(),
                                     await (await _node(client, "LastResult", "Verdict")).read_value()))
                    await trigger.write_value(False)
                    assert await _until(done, False), "Done not cleared after Trigger reset"
                await trigger.write_value(True)  # no part left: fail closed
                assert await _until(done, True, timeout=15)
                verdicts.append(await (await _node(client, "LastResult", "Verdict")).read_value())
                score = await (await _node(client, "LastResult", "Score")).read_value()
                return verdicts, score
        verdicts, score = asyncio.run(plc())
    finally:
        server.stop()
    assert verdicts[:2] == [("part-A", "FAIL"), ("part-B", "PASS")]
    assert verdicts[2] == "ERROR" and math.isnan(score)
    assert log.count() == 2 and len(box) == 2


def test_publishing_only_schedules_and_never_waits_for_the_server():
    server = OpcUaServer("127.0.0.1", _free_port())
    server.start()
    try:
        started = time.monotonic()
        for i in range(2000):
            server.publish_result({"part_id": f"p{i}", "verdict": "PASS", "score": 0.1})
        assert time.monotonic() - started < 2.0  # scheduling only; the writes happen on the server's loop
    finally:
        server.stop()


def test_counters_reach_status_listeners_after_every_batch_while_running(tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    for i in range(20):
        Image.fromarray(np.full((8, 8, 3), 10, np.uint8)).save(hot / f"p{i:02d}.png")
    seen = []
    loop = RunLoop(HotFolder(hot, settle_s=0.0), _predict, InspectionLog(tmp_path / "log.db"),
                   Outbox(tmp_path / "box.db"), "c", "m", 128.0, "op",
                   on_status=lambda s: seen.append((s.state, s.counters["total"])))
    loop.run(max_parts=20)
    assert [total for state, total in seen if state == "RUNNING"] == [0, 8, 16, 20]  # not only on state changes
