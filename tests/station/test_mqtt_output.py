"""Outbox messages reach a real broker in order, also across a broker restart."""
import threading
import time

import paho.mqtt.client as mqtt

from inspector.station.mqtt_output import MqttOutput
from inspector.station.outbox import Outbox


def _subscriber(port, received):
    """A persistent-session subscriber; returns once the broker has acknowledged its subscription."""
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub", clean_session=False)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("parts/#", qos=1)
    client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
    client.on_message = lambda c, u, m: received.append(m.payload.decode())
    client.reconnect_delay_set(0.1, 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.wait(20), "the broker never acknowledged the subscription"
    return client


def _wait(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    return condition()


def test_outbox_delivered_in_order_across_broker_restart(broker, tmp_path):
    received: list[str] = []
    sub = _subscriber(broker.port, received)
    box = Outbox(tmp_path / "outbox.db")
    out = MqttOutput(box, "127.0.0.1", broker.port)
    out.start()
    for i in range(20):
        box.put("parts/p", f"{i}")
    assert _wait(out.drained)
    broker.stop()
    for i in range(20, 40):
        box.put("parts/p", f"{i}")
    time.sleep(0.5)
    assert len(box) == 20  # nothing dropped while the broker is down
    broker.start()
    assert _wait(lambda: len(set(received)) == 40)
    out.stop()
    sub.loop_stop()
    assert len(box) == 0
    first_seen = list(dict.fromkeys(received))
    assert first_seen == [str(i) for i in range(40)]
