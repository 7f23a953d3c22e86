"""MQTT output: per-part JSON at QoS 1 from the durable outbox, plus a retained status topic.

Messages are taken from the outbox in order and dropped from it only after the broker's PUBACK,
so a broker that is down or restarted mid-run loses nothing and sees the parts in order.
"""
from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from inspector.station.outbox import Outbox


class MqttOutput:
    """Deliver the outbox to an MQTT broker in a background thread; reconnects by itself."""

    def __init__(self, outbox: Outbox, host: str, port: int = 1883, client_id: str = "inspector-station",
                 status_topic: str = "inspector/station/status") -> None:
        self.outbox = outbox
        self.status_topic = status_topic
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=2)
        self._client.will_set(status_topic, '{"state": "OFFLINE"}', qos=1, retain=True)
        self._stop = threading.Event()
        self._host, self._port = host, port
        self._thread = threading.Thread(target=self._deliver, name="mqtt-outbox", daemon=True)

    def start(self) -> None:
        self._client.connect_async(self._host, self._port, keepalive=10)
        self._client.loop_start()
        self._thread.start()

    def publish_status(self, status_json: str) -> None:
        """Retained station status (state, reason, counters); latest value wins."""
        self._client.publish(self.status_topic, status_json, qos=1, retain=True)

    def _deliver(self) -> None:
        while not self._stop.is_set():
            if not self._client.is_connected():
                self._stop.wait(0.1)
                continue
            batch = self.outbox.pending(50)
            if not batch:
                self._stop.wait(0.05)
                continue
            for message_id, topic, payload in batch:
                info = self._client.publish(topic, payload, qos=1)
                try:
                    info.wait_for_publish(timeout=5)
                except (RuntimeError, ValueError):
                    break
                if not info.is_published():
                    break  # broker gone: retry this message, in order, after reconnect
                self.outbox.ack(message_id)

    def drained(self) -> bool:
        return len(self.outbox) == 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.loop_stop()
        self._client.disconnect()
