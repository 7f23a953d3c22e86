"""Test helpers for the station: a real mosquitto broker on a free local port, a subscriber to it,
and a brightness predictor with the real predictor signature.

A plain module (not the conftest), so other test folders can load it too (tests/gui does).
"""
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from inspector.inspection import Prediction

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A local TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_subscriber(port: int, topic: str, client_id: str,
                     on_payload: Callable[[str, Any], None]) -> mqtt.Client:
    """A running paho client on the local broker, subscribed to `topic` (QoS 1), that hands every
    message to `on_payload(topic, decoded JSON)`; call `loop_stop()` on it when done."""
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    sub.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
    sub.on_message = lambda c, u, m: on_payload(m.topic, json.loads(m.payload))
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    if not subscribed.wait(20):  # messages sent before the SUBACK would never reach this subscriber
        raise RuntimeError("the broker never acknowledged the subscription")
    return sub


class Broker:
    """mosquitto on a free local port, anonymous, started and stopped by the caller."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        # Persistence, as a line's broker runs: a persistent subscriber's session and its queued QoS 1
        # messages survive a restart, so a subscriber that reconnects late still gets every message.
        # Run as root (as CI does), mosquitto drops privileges to user "mosquitto", which cannot write
        # its database into pytest's 0700 temporary folder: the session would silently not persist.
        stay_as = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                               f"persistence true\npersistence_location {workdir}/\n{stay_as}")
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
            if not (self.config.parent / "mosquitto.db").exists():
                raise RuntimeError("mosquitto did not save its persistence database on stop")


def brightness_predictor(fail_at: float = 128.0):
    """A predictor with the real signature whose score is the image's mean brightness."""
    def predict(images):
        return [Prediction(float(image.mean()), None, "FAIL" if image.mean() >= fail_at else "PASS") for image in images]
    return predict
