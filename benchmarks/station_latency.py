"""Station latency: a part's file arriving in the hot folder -> its result received over MQTT.

    .venv/bin/python benchmarks/station_latency.py [--data PATH] [--parts N] [--detector padim]

Fits a small model on the category's train/good images (CLI `fit`), starts a real mosquitto
broker, runs the station RunLoop (hot folder, settle 0 s, outbox, MQTT publisher) in a thread,
then drops test images one at a time (atomic rename, spaced apart so they queue nowhere) and
times each from its rename to the subscriber receiving its message. Prints median and p99, and
the ratio to the model's own scoring time for one image (InspectionModel.predict, measured
alone), so the station's overhead is visible. Figures only: nothing asserts on timings.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector.cli.main import main as cli  # noqa: E402
from inspector.io.images import load_image  # noqa: E402
from inspector.pipeline import InspectionModel  # noqa: E402
from inspector.station.hotfolder import HotFolder  # noqa: E402
from inspector.station.mqtt_output import MqttOutput  # noqa: E402
from inspector.station.outbox import Outbox  # noqa: E402
from inspector.station.runloop import RunLoop  # noqa: E402
from inspector.store.log import InspectionLog  # noqa: E402


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([mosquitto, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/mvtec_ad/bottle"))
    parser.add_argument("--parts", type=int, default=30)
    parser.add_argument("--detector", default="padim")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--gap-s", type=float, default=0.5, help="pause between parts")
    args = parser.parse_args()
    import paho.mqtt.client as mqtt

    work = Path(tempfile.mkdtemp(prefix="station-latency-"))
    broker = None
    try:
        model_dir = work / "model"
        assert cli(["fit", args.data, "--out", str(model_dir), "--detector", args.detector,
                    "--image-size", str(args.image_size), "--quiet"]) == 0
        model = InspectionModel.load(model_dir)
        tests = sorted(Path(args.data, "test").rglob("*.png"))[: args.parts]
        alone = []
        for path in tests[:10]:
            image = load_image(path)
            start = time.perf_counter()
            model.predict([image])
            alone.append(time.perf_counter() - start)
        broker, port = start_broker(work)
        received: dict[str, float] = {}
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="latency-sub")
        sub.on_connect = lambda c, u, f, rc, p: c.subscribe("inspector/parts/#", qos=1)
        sub.on_message = lambda c, u, m: received.setdefault(json.loads(m.payload)["part_id"], time.perf_counter())
        sub.connect("127.0.0.1", port)
        sub.loop_start()
        hot, staging = work / "hot", work / "staging"
        hot.mkdir()
        staging.mkdir()
        box = Outbox(work / "outbox.db")
        out = MqttOutput(box, "127.0.0.1", port)
        out.start()
        log = InspectionLog(work / "log.db")

        loop = RunLoop(HotFolder(hot, settle_s=0.0), model.predict, log, box, "bench", model.model_id,
                       model.threshold.fail, "bench", topic_prefix="inspector/parts")
        worker = threading.Thread(target=loop.run, kwargs={"idle_sleep_s": 0.01})
        worker.start()
        time.sleep(0.5)
        sent: dict[str, float] = {}
        for index, path in enumerate(tests):
            part_id = f"part-{index:04d}"
            shutil.copy(path, staging / f"{part_id}.png")
            sent[part_id] = time.perf_counter()
            os.replace(staging / f"{part_id}.png", hot / f"{part_id}.png")
            deadline = time.monotonic() + 30
            while part_id not in received and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(args.gap_s)
        loop.stop()
        worker.join(30)
        out.stop()
        sub.loop_stop()
        log.close()
        latencies = np.array([received[k] - sent[k] for k in sent if k in received]) * 1000
        alone_ms = np.median(alone) * 1000
        print(f"data {args.data}  detector {args.detector}  image size {args.image_size}  parts {len(sent)}"
              f"  received {len(latencies)}")
        print(f"model.predict, one image alone: median {alone_ms:.1f} ms")
        print(f"file arrival -> MQTT received: median {np.median(latencies):.1f} ms, "
              f"p99 {np.percentile(latencies, 99):.1f} ms, max {latencies.max():.1f} ms")
        print(f"ratio to predict alone: median {np.median(latencies) / alone_ms:.2f}x, "
              f"p99 {np.percentile(latencies, 99) / alone_ms:.2f}x")
        print("(includes hot-folder polling at 10 ms, PNG decode, log + outbox writes, file move, MQTT QoS 1 round trip)")
        return 0
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
