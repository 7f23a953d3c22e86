"""Soak: 1,000 parts through a hot folder while the broker is stopped and restarted mid-run."""
import json
import threading
import time

import numpy as np
import paho.mqtt.client as mqtt
from PIL import Image
from station_helpers import brightness_predictor

from inspector.station.hotfolder import HotFolder
from inspector.station.mqtt_output import MqttOutput
from inspector.station.outbox import Outbox
from inspector.station.runloop import RunLoop
from inspector.store.log import InspectionLog

N = 1000


_predict = brightness_predictor(128.0)


def test_thousand_parts_none_lost_across_broker_restart(broker, tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    tiny = np.zeros((8, 8, 3), np.uint8)
    for i in range(N):
        Image.fromarray(tiny + (i % 256)).save(hot / f"part-{i:04d}.png")
    received = set()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-sub", clean_session=False)
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("inspector/parts/#", qos=1)
    sub.on_message = lambda c, u, m: received.add(json.loads(m.payload)["part_id"])
    sub.reconnect_delay_set(0.1, 1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    time.sleep(0.3)
    log = InspectionLog(tmp_path / "log.db")
    box = Outbox(tmp_path / "outbox.db")
    out = MqttOutput(box, "127.0.0.1", broker.port)
    out.start()
    loop = RunLoop(HotFolder(hot, settle_s=0.0), _predict, log, box, "bottle", "m1", 128.0, "alice")
    worker = threading.Thread(target=loop.run, kwargs={"max_parts": N})
    worker.start()
    while loop.status.counters["total"] < N // 3:
        time.sleep(0.01)
    broker.stop()
    time.sleep(1.0)
    broker.start()
    worker.join(timeout=120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(received) < N:
        time.sleep(0.1)
    out.stop()
    sub.loop_stop()
    assert log.count() == N
    assert len(received) == N
    assert len(box) == 0
    assert len(list((hot / "done").iterdir())) == N


def test_unwritable_log_raises_alarm_and_keeps_the_part(tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(hot / "p1.png")
    log = InspectionLog(tmp_path / "log.db")
    log.close()
    box = Outbox(tmp_path / "outbox.db")
    loop = RunLoop(HotFolder(hot, settle_s=0.0), _predict, log, box, "bottle", "m1", 128.0, "bob")
    status = loop.run()
    assert status.state == "ALARM" and status.reason
    assert (hot / "p1.png").exists() and len(box) == 0
