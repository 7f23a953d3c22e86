"""`inspector run` as a subprocess: real mosquitto, a hot folder, SIGTERM -> clean stop, exit 0."""
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua import Client
from station_helpers import free_port, start_subscriber

from inspector.cli.main import main
from inspector.store.log import InspectionLog
from inspector.store.project import Project

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_station(*args: str) -> Iterator[subprocess.Popen]:
    """`inspector run ARGS` as a subprocess (stderr captured); killed on the way out if still running."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from inspector.cli.main import main; sys.exit(main())",
                             "run", *args], env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop_station(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Send `sig` (what a service manager or Ctrl+C sends) and return the exit code and stderr."""
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    return rc, proc.stderr.read()


def _wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


async def _opcua_counters(port):
    async with Client(f"opc.tcp://127.0.0.1:{port}/inspector/") as client:
        idx = await client.get_namespace_index("urn:inspector:station")
        station = await client.nodes.objects.get_child([f"{idx}:Station"])
        total = await (await station.get_child([f"{idx}:Counters", f"{idx}:total"])).read_value()
        errors = await (await station.get_child([f"{idx}:Counters", f"{idx}:ERROR"])).read_value()
        operator = await (await station.get_child([f"{idx}:Operator"])).read_value()
        return total, errors, operator


def test_run_judges_publishes_and_stops_cleanly_on_sigterm(broker, synthetic_category, tmp_path):
    project = Project.create(tmp_path / "proj", "line 1")
    project.add_class("widget")
    model_id, model_dir = project.new_model_dir("widget")
    assert main(["fit", str(synthetic_category), "--out", str(model_dir), "--detector", "knn",
                 "--image-size", "64", "--quiet"]) == 0
    project.set_active_model("widget", model_id)
    project.save()
    project.close()
    hot = tmp_path / "hot"
    hot.mkdir()

    messages, status = [], []
    sub = start_subscriber(broker.port, "line1/#", "run-test-sub",
                           lambda topic, payload: (status if topic == "line1/station/status" else messages).append(payload))
    opcua_port = free_port()
    with running_station(str(tmp_path / "proj"), "--class", "widget", "--source", f"hotfolder:{hot}",
                         "--output", f"mqtt://127.0.0.1:{broker.port}/line1",
                         "--output", f"opcua://127.0.0.1:{opcua_port}", "--operator", "alice") as proc:
        for name in ("000.png", "001.png"):
            shutil.copy(synthetic_category / "test" / "good" / name, hot / f"good-{name}")
            shutil.copy(synthetic_category / "test" / "stain" / name, hot / f"stain-{name}")
        (hot / "broken.png").write_bytes(b"not an image")
        assert _wait(lambda: len(messages) >= 5), f"only {len(messages)} message(s)"
        assert asyncio.run(_opcua_counters(opcua_port)) == (5, 1, "alice")
        rc, err = stop_station(proc)
    assert rc == 0, err
    assert "WAITING FOR PART" in err and "Stopped:" in err
    by_part = {m["part_id"]: m for m in messages}
    assert set(by_part) == {"good-000", "good-001", "stain-000", "stain-001", "broken"}
    assert by_part["broken"]["verdict"] == "ERROR"
    assert by_part["stain-000"]["verdict"] == "FAIL" and by_part["stain-001"]["verdict"] == "FAIL"
    fitted_id = json.loads((model_dir / "model.json").read_text())["model_id"]
    assert all(m["operator"] == "alice" and m["model_id"] == fitted_id for m in messages)
    assert _wait(lambda: status and status[-1]["state"] == "STOPPED", 10)
    with InspectionLog(tmp_path / "proj" / "inspections.sqlite") as log:
        assert log.count() == 5 and log.counts()["ERROR"] == 1  # the unreadable part is logged as ERROR
        error_row = [row for row in log.query() if row["verdict"] == "ERROR"][0]
        assert error_row["score"] is None and "unreadable" in error_row["note"]
    assert sorted(p.name for p in (hot / "done").iterdir()) == sorted(
        ["good-000.png", "good-001.png", "stain-000.png", "stain-001.png"])
    assert [p.name for p in (hot / "error").iterdir()] == ["broken.png"]
    sub.loop_stop()


def _fitted_project(synthetic_category, tmp_path):
    project = Project.create(tmp_path / "proj", "line 1")
    project.add_class("widget")
    model_id, model_dir = project.new_model_dir("widget")
    assert main(["fit", str(synthetic_category), "--out", str(model_dir), "--detector", "knn",
                 "--image-size", "64", "--quiet"]) == 0
    project.close()
    return tmp_path / "proj", model_dir


def test_run_from_the_genicam_viky_producer_until_sigterm(broker, synthetic_category, tmp_path):
    genicam = pytest.importorskip("genicam")  # the optional 'camera' extra (CI installs it)
    cti = Path(genicam.__file__).parent / "viky.cti"
    project, _ = _fitted_project(synthetic_category, tmp_path)  # no active model: the newest one is used
    messages = []
    sub = start_subscriber(broker.port, "inspector/parts/#", "run-cam-sub", lambda topic, payload: messages.append(payload))
    try:
        with running_station(str(project), "--class", "widget", "--source", f"genicam:{cti}",
                             "--output", f"mqtt://127.0.0.1:{broker.port}", "--operator", "bo") as proc:
            assert _wait(lambda: len(messages) >= 3), f"only {len(messages)} message(s)"
            rc, err = stop_station(proc, signal.SIGINT)
    finally:
        sub.loop_stop()
    assert rc == 0, err
    assert all(m["verdict"] in ("PASS", "REVIEW", "FAIL") and m["operator"] == "bo" for m in messages)
    assert len({m["part_id"] for m in messages}) == len(messages)
    assert len(list((project / ".station" / "frames" / "done").iterdir())) >= len(messages)


def test_bad_run_arguments_are_one_line_errors(synthetic_category, tmp_path, capsys):
    project, model_dir = _fitted_project(synthetic_category, tmp_path)
    base = ["run", str(project), "--class", "widget", "--operator", "x"]
    assert main(base + ["--source", "ftp:somewhere"]) == 1
    assert "bad --source" in capsys.readouterr().err
    assert main(base + ["--source", f"hotfolder:{tmp_path}", "--output", "http://x:1"]) == 1
    assert "bad --output" in capsys.readouterr().err
    assert main(base + ["--source", f"hotfolder:{tmp_path / 'missing'}"]) == 1
    assert "hot folder not found" in capsys.readouterr().err
    assert main(base + ["--source", f"hotfolder:{tmp_path}", "--trigger", "plc"]) == 1
    assert "needs an opcua://" in capsys.readouterr().err
    assert main(base + ["--source", f"hotfolder:{tmp_path}", "--model", str(tmp_path)]) == 1
    assert "not a model folder" in capsys.readouterr().err
    shutil.rmtree(model_dir)
    assert main(base + ["--source", f"hotfolder:{tmp_path}"]) == 1
    assert "has no model yet" in capsys.readouterr().err


async def _plc_cycle(port):
    """One PLC handshake: Trigger -> wait Done -> read the verdict -> reset Trigger -> wait Done cleared."""
    async with Client(f"opc.tcp://127.0.0.1:{port}/inspector/") as client:
        idx = await client.get_namespace_index("urn:inspector:station")
        station = await client.nodes.objects.get_child([f"{idx}:Station"])
        node = lambda *path: station.get_child([f"{idx}:{p}" for p in path])  # noqa: E731
        trigger, done = await node("Handshake", "Trigger"), await node("Handshake", "Done")
        await trigger.write_value(True)
        for _ in range(600):
            if await done.read_value():
                break
            await asyncio.sleep(0.05)
        verdict = await (await node("LastResult", "Verdict")).read_value()
        part_id = await (await node("LastResult", "PartId")).read_value()
        await trigger.write_value(False)
        for _ in range(200):
            if not await done.read_value():
                return part_id, verdict
            await asyncio.sleep(0.05)
        return part_id, "Done never cleared"


def test_run_in_plc_trigger_mode_judges_one_part_per_trigger(synthetic_category, tmp_path):
    project, _ = _fitted_project(synthetic_category, tmp_path)
    hot = tmp_path / "hot"
    hot.mkdir()
    port = free_port()
    with running_station(str(project), "--class", "widget", "--source", f"hotfolder:{hot}",
                         "--output", f"opcua://127.0.0.1:{port}", "--trigger", "plc", "--operator", "pat") as proc:
        shutil.copy(synthetic_category / "test" / "stain" / "000.png", hot / "s0.png")
        shutil.copy(synthetic_category / "test" / "good" / "000.png", hot / "g0.png")
        time.sleep(0.5)  # let both files settle in the hot folder
        assert _wait(lambda: _port_open(port), 60), "OPC UA server did not come up"
        cycles = [asyncio.run(_plc_cycle(port)) for _ in range(2)]
        rc, err = stop_station(proc)
    assert rc == 0, err
    assert cycles[0] == ("g0", "PASS") and cycles[1] == ("s0", "FAIL")  # name order, one part per trigger
    assert sorted(p.name for p in (hot / "done").iterdir()) == ["g0.png", "s0.png"]


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False
