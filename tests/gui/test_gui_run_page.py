"""Run page: a real station loop on a hot folder, a tiny fitted model, results via Qt signals."""
import asyncio
import importlib.util
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.cli.main import main
from inspector.inspection import Prediction
from inspector.pipeline import InspectionModel
from inspector.store.log import InspectionLog
from inspector.threshold import Threshold

_helpers_spec = importlib.util.spec_from_file_location("station_helpers",
                                                       Path(__file__).parents[1] / "station" / "station_helpers.py")
station_helpers = importlib.util.module_from_spec(_helpers_spec)
_helpers_spec.loader.exec_module(station_helpers)


class BrightnessModel:
    """A real predictor signature with a trivial score (mean brightness), FAIL at 128."""

    model_id = "m1"

    def __init__(self, fail: float = 128.0) -> None:
        self.threshold = Threshold(fail=fail)

    def predict(self, images):
        return [Prediction(float(i.mean()), None, self.threshold.verdict(float(i.mean()))) for i in images]


def _broker(tmp_path):
    if not Path(station_helpers.MOSQUITTO).exists():
        pytest.skip("mosquitto not installed")
    broker = station_helpers.Broker(tmp_path)
    broker.start()
    return broker


def _mqtt(page, port: int, prefix: str) -> None:
    panel = page.setup_panel
    panel.mqtt_on.setChecked(True)
    panel.mqtt_host.setText("127.0.0.1")
    panel.mqtt_port.setValue(port)
    panel.mqtt_topic.setText(prefix)


def _opcua(page) -> int:
    port = station_helpers.free_port()
    panel = page.setup_panel
    panel.opcua_on.setChecked(True)
    panel.opcua_host.setText("127.0.0.1")
    panel.opcua_port.setValue(port)
    return port


async def _opc_node(client, *path):
    idx = await client.get_namespace_index("urn:inspector:station")
    return await client.nodes.objects.get_child([f"{idx}:Station"] + [f"{idx}:{p}" for p in path])


@pytest.fixture(scope="module")
def fitted_model(tmp_path_factory, synthetic_category):
    model_dir = tmp_path_factory.mktemp("run-model") / "model"
    assert main(["fit", str(synthetic_category), "--out", str(model_dir), "--detector", "padim",
                 "--image-size", "64", "--quiet"]) == 0
    return InspectionModel.load(model_dir)


def test_run_page_judges_three_parts_and_shows_states(qapp, qtbot, tmp_path, synthetic_category, fitted_model):
    from inspector.gui.pages.run import RunPage

    model = fitted_model
    log = InspectionLog(tmp_path / "log.db")
    hot = tmp_path / "hot"
    hot.mkdir()
    page = RunPage()
    qtbot.addWidget(page)
    try:
        _drive(page, qtbot, model, log, hot, tmp_path, synthetic_category)
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
        log.close()


def _drive(page, qtbot, model, log, hot, tmp_path, synthetic_category):
    page.configure(model, "disc", log, tmp_path / "station")
    page.folder_edit.setText(str(hot))
    assert not page.start(operator="  ")  # no operator: no run
    assert page.state == "ALARM" and page.task is None
    assert page.start(operator="alice")
    qtbot.waitUntil(lambda: page.state == "WAITING FOR PART", timeout=10_000)
    assert page.stop_button.isEnabled() and not page.start_button.isEnabled()
    for index, source in enumerate(sorted((synthetic_category / "test" / "good").glob("*.png"))):
        shutil.copy(source, hot / f"part-{index}.png")
    qtbot.waitUntil(lambda: page.counters.counts["parts"] == 3, timeout=30_000)
    assert page.verdict.verdict in ("PASS", "REVIEW", "FAIL")
    assert page.verdict.text() == page.verdict.verdict
    assert page.counters.values["parts"].text() == "3"
    assert len(page.strip.verdicts) == 3 and len(page.chart.scores) == 3
    assert "part-" in page.part_label.text()
    assert page.heatmap.has_map
    from inspector.io.images import load_image

    last_part = load_image(hot / "done" / "part-2.png")  # the display shows the part that was judged last
    assert (page.heatmap.base.image == last_part).all()
    assert log.count() == 3
    page.toggle_pause()
    qtbot.waitUntil(lambda: page.state == "PAUSED", timeout=10_000)
    assert page.pause_button.text() == "Resume"
    page.toggle_pause()
    qtbot.waitUntil(lambda: page.state == "WAITING FOR PART", timeout=10_000)
    page.stop()
    qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
    assert page.state == "STOPPED" and page.start_button.isEnabled()
    seen = page.states_seen
    assert seen.index("RUNNING") < seen.index("PAUSED") < len(seen) - 1 and seen[-1] == "STOPPED"
    assert len(list((hot / "done").iterdir())) == 3
    page.counters.reset()
    assert page.counters.values["parts"].text() == "0" and page.counters.values["yield"].text() == "—"


def test_run_page_is_a_tab_and_refuses_without_a_model(window, qtbot, tmp_path):
    page = window.run_page
    assert window.tabs.indexOf(page) >= 0
    page.folder_edit.setText(str(tmp_path))
    assert not page.start(operator="bob")  # no project open: a clear ALARM, no run
    assert page.state == "ALARM" and "open a project" in page.state_label.text()
    assert page.task is None


def test_closing_the_task_stops_the_loop(qapp, qtbot, tmp_path):
    """Window shutdown cancels Tasks; the station loop must end on that, not only on Stop."""
    from inspector.gui.pages.run import RunPage
    from inspector.gui.workers import running_tasks

    page = RunPage()
    qtbot.addWidget(page)
    log = InspectionLog(tmp_path / "log.db")
    page.configure(BrightnessModel(), "disc", log, tmp_path / "station")
    page.folder_edit.setText(str(tmp_path))
    assert page.start(operator="carol")
    qtbot.waitUntil(lambda: page.state == "WAITING FOR PART", timeout=10_000)
    for task in running_tasks():
        task.cancel()
    qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
    assert page.state == "STOPPED"
    log.close()


def test_run_page_publishes_results_to_a_real_broker(qapp, qtbot, tmp_path):

    from inspector.gui.pages.run import RunPage
    from inspector.io.images import save_image

    broker = _broker(tmp_path)
    received = []
    sub = station_helpers.start_subscriber(broker.port, "inspector/parts/#", "gui-sub",
                                            lambda topic, payload: received.append(payload))
    log = InspectionLog(tmp_path / "log.db")
    page = RunPage()
    qtbot.addWidget(page)
    try:
        page.configure(BrightnessModel(), "disc", log, tmp_path / "station")
        page.folder_edit.setText(str(tmp_path))
        _mqtt(page, broker.port, "inspector")
        assert page.start(operator="dana")
        save_image(tmp_path / "part-7.png", np.full((8, 8, 3), 200, np.uint8))
        qtbot.waitUntil(lambda: len(received) == 1, timeout=15_000)
        assert received[0]["part_id"] == "part-7" and received[0]["verdict"] == "FAIL"
        assert received[0]["operator"] == "dana"
        assert received[0]["image_path"] == str(tmp_path / "done" / "part-7.png")
        qtbot.waitUntil(lambda: page.verdict.verdict == "FAIL", timeout=5_000)  # the queued signal may come later
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
        sub.loop_stop()
        broker.stop()
        log.close()
    assert page.mqtt is None


def test_run_page_streams_the_virtual_genicam_camera_to_mqtt_and_opcua(qapp, qtbot, tmp_path, fitted_model):
    """Real harvesters + the genicam wheel's viky.cti, a real mosquitto broker, an asyncua client."""
    pytest.importorskip("harvesters")  # the optional 'camera' extra
    from asyncua import Client

    from inspector.gui.pages.run import RunPage
    from inspector.gui.widgets.run_setup import GENICAM

    broker = _broker(tmp_path)
    received = []
    sub = station_helpers.start_subscriber(broker.port, "line7/parts/#", "gui-genicam-sub",
                                            lambda topic, payload: received.append((topic, payload)))
    log = InspectionLog(tmp_path / "log.db")
    page = RunPage()
    qtbot.addWidget(page)
    panel = page.setup_panel
    try:
        page.configure(fitted_model, "disc", log, tmp_path / "station")
        panel.set_source_kind(GENICAM)
        if not panel.producer.currentData():
            pytest.skip("genicam wheel without viky.cti")
        assert Path(panel.producer.currentData()).name == "viky.cti"
        assert panel.device.count() == 3 and "Viky" in panel.device.itemText(1)  # listed on choosing GenICam
        panel.device.setCurrentIndex(1)
        _mqtt(page, broker.port, "line7")
        opc_port = _opcua(page)
        assert panel.opcua_endpoint.text() == f"opc.tcp://127.0.0.1:{opc_port}/inspector/"
        assert page.start(operator="erin")
        assert not panel.isEnabled()  # no source or output changes while running
        qtbot.waitUntil(lambda: len(received) >= 3, timeout=60_000)
        qtbot.waitUntil(lambda: page.results_shown >= 3, timeout=10_000)

        async def read_opcua():
            async with Client(f"opc.tcp://127.0.0.1:{opc_port}/inspector/") as client:
                values = {}
                for path in (("Operator",), ("State",), ("LastResult", "PartId"), ("LastResult", "Verdict"),
                             ("LastResult", "Score"), ("Counters", "total")):
                    values["/".join(path)] = await (await _opc_node(client, *path)).read_value()
                return values
        opc = asyncio.run(read_opcua())
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=20_000)
        sub.loop_stop()
        broker.stop()
    topics = {topic for topic, _ in received}
    payloads = [payload for _, payload in received]
    assert topics == {"line7/parts/disc"}
    assert len({p["part_id"] for p in payloads}) == len(payloads)  # one message per frame
    for payload in payloads:
        assert payload["operator"] == "erin" and payload["model_id"] == fitted_model.model_id
        assert payload["verdict"] in ("PASS", "REVIEW", "FAIL") and math.isfinite(payload["score"])
        assert payload["threshold"] == fitted_model.threshold.fail
        assert Path(payload["image_path"]).is_file() and Path(payload["image_path"]).parent.name == "done"
    assert opc["Operator"] == "erin" and opc["Counters/total"] >= 3
    assert opc["LastResult/PartId"] in {p["part_id"] for p in payloads}
    by_id = {p["part_id"]: p for p in payloads}
    assert opc["LastResult/Verdict"] == by_id[opc["LastResult/PartId"]]["verdict"]
    from inspector.io.images import load_image

    frame = load_image(payloads[0]["image_path"])
    assert frame.shape == (400, 400, 3)  # Viky's frames, spooled as the part's image
    assert page.heatmap.has_map and page.verdict.verdict in ("PASS", "REVIEW", "FAIL")
    rows = log.query()
    assert len(rows) >= 3 and all("operator: erin" in row["note"] for row in rows)
    log.close()


def test_run_page_software_and_opcua_triggers_judge_one_part_each(qapp, qtbot, tmp_path):
    from asyncua import Client

    from inspector.gui.pages.run import RunPage
    from inspector.gui.widgets.run_setup import OPCUA
    from inspector.io.images import save_image

    hot = tmp_path / "hot"
    hot.mkdir()
    for index, value in enumerate((200, 10, 220)):
        save_image(hot / f"p{index}.png", np.full((8, 8, 3), value, np.uint8))
    log = InspectionLog(tmp_path / "log.db")
    page = RunPage()
    qtbot.addWidget(page)
    page.configure(BrightnessModel(), "disc", log, tmp_path / "station")
    page.folder_edit.setText(str(hot))
    page.setup_panel.set_trigger(OPCUA)
    with pytest.raises(Exception):
        page.setup_panel.setup()  # an OPC UA trigger without the server: refused with a clear reason
    assert not page.start(operator="fay") and "OPC UA server" in page.state_label.text()
    opc_port = _opcua(page)
    try:
        assert page.start(operator="fay")
        assert page.trigger_button.isEnabled()
        time.sleep(0.5)
        assert page.results_shown == 0  # nothing judged without a trigger
        page.show()
        page.activateWindow()
        qtbot.waitUntil(page.isActiveWindow, timeout=5_000)
        qtbot.keyClick(page.state_label, " ")  # the software trigger key (Space), anywhere on the page
        qtbot.waitUntil(lambda: page.results_shown == 1, timeout=10_000)
        assert page.strip.verdicts == ["FAIL"] and (hot / "done" / "p0.png").exists()

        async def plc():
            async with Client(f"opc.tcp://127.0.0.1:{opc_port}/inspector/") as client:
                trigger, done = await _opc_node(client, "Handshake", "Trigger"), await _opc_node(client, "Handshake",
                                                                                               "Done")
                await trigger.write_value(True)
                deadline = time.monotonic() + 15
                while not await done.read_value() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                part = await (await _opc_node(client, "LastResult", "PartId")).read_value()
                await trigger.write_value(False)
                return part
        assert asyncio.run(plc()) == "p1"
        qtbot.waitUntil(lambda: page.results_shown == 2, timeout=10_000)
        assert page.strip.verdicts == ["FAIL", "PASS"] and (hot / "p2.png").exists()  # p2 waits for its trigger
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=20_000)
        log.close()


def test_working_point_change_while_running_needs_the_engineer_and_is_logged(qapp, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from inspector.gui.pages.run import RunPage
    from inspector.gui.widgets import run_engineer
    from inspector.io.images import save_image
    from inspector.station.engineer import has_pin

    hot = tmp_path / "hot"
    hot.mkdir()
    station = tmp_path / "station"
    log = InspectionLog(tmp_path / "log.db")
    page = RunPage()
    qtbot.addWidget(page)
    page.configure(BrightnessModel(), "disc", log, station)
    page.folder_edit.setText(str(hot))
    try:
        assert page.start(operator="gus")
        save_image(hot / "a.png", np.full((8, 8, 3), 200, np.uint8))
        qtbot.waitUntil(lambda: page.results_shown == 1, timeout=10_000)
        assert page.verdict.verdict == "FAIL"
        assert "Locked while running" in page.working_point.lock_label.text()
        page.working_point.set_values(250.0, None)
        page.working_point.apply_button.click()  # the operator tries: refused, nothing changes
        assert page.loop.threshold == 128.0 and "unlock required" in page.working_point.change_label.text()
        assert page.working_point.values()[0] == 128.0  # the box shows the working point in force

        def fill(dialog, name, pin, confirm):
            dialog.name.setText(name)
            dialog.pin.setText(pin)
            dialog.confirm.setText(confirm)
            return QDialog.DialogCode.Accepted
        answers = iter([("hal", "2468", "2469"), ("hal", "2468", "2468"), ("hal", "0000", ""), ("hal", "2468", "")])
        monkeypatch.setattr(run_engineer.EngineerDialog, "exec", lambda self: fill(self, *next(answers)))
        assert not page.unlock() and not has_pin(station)  # first PIN typed differently twice: not set
        assert page.unlock() and has_pin(station)  # the first engineer sets the PIN (stored as scrypt hash)
        page.lock()
        assert not page.unlock() and "wrong engineer PIN" in page.working_point.change_label.text()
        before = time.time()
        assert page.unlock() and "Unlocked by hal" in page.working_point.lock_label.text()
        page.working_point.set_values(250.0, 150.0)
        page.working_point.apply_button.click()
        assert (page.loop.threshold, page.loop.review_threshold) == (250.0, 150.0)
        assert "set by hal" in page.working_point.change_label.text()
        rows = page.changelog.rows()
        assert [(r["who"], r["what"], r["old"], r["new"]) for r in rows] == [
            ("hal", "working_point", {"fail": 128.0, "review": None}, {"fail": 250.0, "review": 150.0})]
        assert rows[0]["time"] >= before
        assert page.chart.fail_line.value() == 250.0
        save_image(hot / "b.png", np.full((8, 8, 3), 200, np.uint8))  # the same part, the new working point
        qtbot.waitUntil(lambda: page.results_shown == 2, timeout=10_000)
        assert page.verdict.verdict == "REVIEW"
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=20_000)
    assert page.engineer is None  # an unlock ends with the run
    judged = sorted(log.query(), key=lambda row: row["id"])
    assert [(row["verdict"], row["threshold"]) for row in judged] == [("FAIL", 128.0), ("REVIEW", 250.0)]
    page.changelog.close()
    log.close()


def test_an_unreadable_frame_is_an_error_and_the_line_goes_on(qapp, qtbot, tmp_path, fitted_model):
    from inspector.gui.pages.run import RunPage

    hot = tmp_path / "hot"
    hot.mkdir()
    log = InspectionLog(tmp_path / "log.db")
    page = RunPage()
    qtbot.addWidget(page)
    page.configure(fitted_model, "disc", log, tmp_path / "station")
    page.folder_edit.setText(str(hot))
    try:
        assert page.start(operator="ivy")
        (hot / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
        qtbot.waitUntil(lambda: page.results_shown == 1, timeout=20_000)
        assert page.verdict.verdict == "ERROR" and page.verdict.text() == "ERROR"
        assert page.counters.values["ERROR"].text() == "1" and page.counters.values["PASS"].text() == "0"
        assert page.strip.verdicts == ["ERROR"] and page.chart.scores == []
        assert (hot / "error" / "broken.png").exists()
        assert page.state != "ALARM"  # a bad frame is a result, not a fault of the line
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=20_000)
    row = log.query()[0]
    assert row["verdict"] == "ERROR" and row["score"] is None and "operator: ivy" in row["note"]
    log.close()


def test_a_vanishing_camera_shows_alarm_and_is_retried_with_back_off(qapp, qtbot, tmp_path, monkeypatch):
    from inspector.gui.pages.run import RunPage
    from inspector.io.images import save_image
    from inspector.station import sources
    from inspector.station.frame_sources import SourceLost
    from inspector.station.hotfolder import Part

    class Camera:  # unplugged after two frames, back after three failed reconnects
        def __init__(self):
            self.frames, self.down, self.reconnects = 0, 3, []

        def poll(self):
            if self.frames >= 2 and self.down > 0:
                raise SourceLost("cable unplugged")
            self.frames += 1
            path = tmp_path / f"f{self.frames}.png"
            save_image(path, np.full((8, 8, 3), 10, np.uint8))
            time.sleep(0.05)
            return [Part(f"f{self.frames}", path)]

        def reconnect(self):
            self.reconnects.append(time.monotonic())
            self.down -= 1
            if self.down > 0:
                raise SourceLost("still unplugged")

        def finish(self, part, ok=True):
            pass

        def close(self):
            pass

    camera = Camera()
    monkeypatch.setattr(sources, "open_source", lambda *args, **kwargs: camera)
    log = InspectionLog(tmp_path / "log.db")
    page = RunPage()
    qtbot.addWidget(page)
    page.configure(BrightnessModel(), "disc", log, tmp_path / "station")
    page.folder_edit.setText(str(tmp_path))
    try:
        assert page.start(operator="jo")
        page.loop.retry_initial_s = page.loop._retry_s = 0.1
        qtbot.waitUntil(lambda: page.state == "ALARM", timeout=10_000)
        assert "source lost: " in page.state_label.text() and "unplugged" in page.state_label.text()
        qtbot.waitUntil(lambda: page.results_shown >= 4, timeout=20_000)  # back and judging again
        assert page.state in ("RUNNING", "WAITING FOR PART")
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=20_000)
        log.close()
    gaps = np.diff(camera.reconnects)
    assert len(camera.reconnects) == 3 and gaps[1] > gaps[0] * 1.5  # a growing back-off
