"""Station latency: a part arriving -> its result published, parts per minute, and the run view's repaint rate.

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python benchmarks/station_latency.py [--data PATH] [--detector padim patchcore]

For each detector: fits a model on the first `--train` good images of the category (CLI `fit`),
then, in this one process and run:
- backbone: the model's own feature extraction for one image (`InspectionModel.features`,
  preprocessing + frozen backbone forward), median over `--alone` images; also `predict` alone;
- latency: the station RunLoop (hot folder settle 0 s, SQLite log + outbox, MQTT QoS 1 to a real
  mosquitto) judges parts dropped one at a time (atomic rename, spaced `--gap-s` apart); each is
  timed from its rename to the subscriber receiving its message (median, p99), as a ratio to the
  backbone and as overhead over it in ms;
- sustained: `--burst` parts dropped at once, parts per minute until the last message arrives, and
  as a ratio to the backbone's own rate (60 s / backbone time);
- run view: the app's Run page (offscreen Qt) inspects a stream of parts (hot folder, MQTT on) while
  a 60 Hz timer asks it to repaint; paint events of its verdict label per second are the frames/s
  the GUI thread delivers while the worker inspects, next to the results shown per second.
Timings are compared only as ratios inside this run. Figures only: nothing asserts on timings.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "station"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from station_helpers import Broker, start_subscriber  # noqa: E402

from inspector.cli.main import main as cli  # noqa: E402
from inspector.io.images import load_image  # noqa: E402
from inspector.pipeline import InspectionModel  # noqa: E402
from inspector.station.hotfolder import HotFolder  # noqa: E402
from inspector.station.mqtt_output import MqttOutput  # noqa: E402
from inspector.station.outbox import Outbox  # noqa: E402
from inspector.station.runloop import RunLoop  # noqa: E402
from inspector.store.log import InspectionLog  # noqa: E402


def _fit(data: Path, work: Path, detector: str, train: int, image_size: int) -> InspectionModel:
    subset = work / f"train-{detector}" / "train" / "good"
    subset.mkdir(parents=True)
    for path in sorted((data / "train" / "good").glob("*.png"))[:train]:
        os.symlink(path, subset / path.name)
    model_dir = work / f"model-{detector}"
    assert cli(["fit", str(subset.parents[1]), "--out", str(model_dir), "--detector", detector,
                "--image-size", str(image_size), "--quiet"]) == 0
    return InspectionModel.load(model_dir)


def _median_ms(fn, images: list[np.ndarray]) -> float:
    fn([images[0]])  # warm-up
    times = []
    for image in images:
        start = time.perf_counter()
        fn([image])
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


class _Drop:
    """Copies test images into a staging folder, then renames them into the hot folder (atomic arrival)."""

    def __init__(self, work: Path, tests: list[Path], hot: Path) -> None:
        self.staging, self.tests, self.hot, self.count = work / "staging", tests, hot, 0
        self.staging.mkdir(exist_ok=True)

    def one(self, tag: str) -> tuple[str, float]:
        source = self.tests[self.count % len(self.tests)]
        part_id = f"{tag}-{self.count:05d}"
        self.count += 1
        shutil.copy(source, self.staging / f"{part_id}.png")
        sent = time.perf_counter()
        os.replace(self.staging / f"{part_id}.png", self.hot / f"{part_id}.png")
        return part_id, sent


def _station(model, work: Path, detector: str, port: int, tests: list[Path], args) -> dict:
    received: dict[str, float] = {}
    sub = start_subscriber(port, "bench/parts/#", f"sub-{detector}",
                           lambda topic, payload: received.setdefault(payload["part_id"], time.perf_counter()))
    hot = work / f"hot-{detector}"
    hot.mkdir()
    box = Outbox(work / f"outbox-{detector}.db")
    out = MqttOutput(box, "127.0.0.1", port, client_id=f"bench-{detector}")
    out.start()
    log = InspectionLog(work / f"log-{detector}.db")
    loop = RunLoop(HotFolder(hot, settle_s=0.0), model.predict, log, box, "bench", model.model_id,
                   model.threshold.fail, "bench", topic_prefix="bench/parts")
    worker = threading.Thread(target=loop.run, kwargs={"idle_sleep_s": 0.005})
    worker.start()
    drop = _Drop(work, tests, hot)

    def wait_for(ids, timeout=120.0):
        deadline = time.monotonic() + timeout
        while any(i not in received for i in ids) and time.monotonic() < deadline:
            time.sleep(0.001)
    try:
        warm, _ = drop.one("warm")
        wait_for([warm])
        latencies = []
        for _ in range(args.parts):
            part_id, sent = drop.one("lat")
            wait_for([part_id])
            if part_id in received:
                latencies.append((received[part_id] - sent) * 1000)
            time.sleep(args.gap_s)
        burst = [drop.one("burst") for _ in range(args.burst)]
        wait_for([part_id for part_id, _ in burst], timeout=600)
        done = [received[p] for p, _ in burst if p in received]
        span = max(done) - burst[0][1]
        per_minute = 60.0 * len(done) / span
    finally:
        loop.stop()
        worker.join(60)
        out.stop()
        sub.loop_stop()
        log.close()
    return {"latency_ms": np.array(latencies), "per_minute": per_minute, "burst_received": len(done)}


def _repaint_rate(model, work: Path, port: int, tests: list[Path], seconds: float, tag: str) -> dict:
    """The Run page inspecting a steady stream; a 60 Hz timer requests repaints; count the paints."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    from inspector.gui.app import ensure_application
    from inspector.gui.pages.run import RunPage

    app = ensure_application([])
    page = RunPage()
    page.resize(1440, 860)
    page.show()
    hot = work / f"hot-gui-{tag}"
    hot.mkdir()
    log = InspectionLog(work / f"log-gui-{tag}.db")
    page.configure(model, "bench", log, work / f"station-gui-{tag}")
    page.folder_edit.setText(str(hot))
    panel = page.setup_panel
    panel.mqtt_on.setChecked(True)
    panel.mqtt_host.setText("127.0.0.1")
    panel.mqtt_port.setValue(port)

    class Counter(QObject):
        paints = 0

        def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint:
                Counter.paints += 1
            return False
    counter = Counter()
    page.verdict.installEventFilter(counter)
    timer = QTimer()
    timer.timeout.connect(page.verdict.update)
    assert page.start(operator="bench")
    drop = _Drop(work, tests, hot)
    for _ in range(4):
        drop.one("gui")
    deadline = time.monotonic() + 120
    while page.results_shown < 2 and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    timer.start(1000 // 60)
    Counter.paints, shown0, start = 0, page.results_shown, time.monotonic()
    while time.monotonic() - start < seconds:
        if len(list(hot.glob("*.png"))) < 3:  # keep the line busy: parts are always waiting
            drop.one("gui")
        app.processEvents()
        time.sleep(0.002)
    elapsed = time.monotonic() - start
    paints, shown = Counter.paints, page.results_shown - shown0
    timer.stop()
    page.stop()
    while page.task is not None:
        app.processEvents()
        time.sleep(0.01)
    log.close()
    page.close()
    return {"fps": paints / elapsed, "results_per_s": shown / elapsed, "seconds": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/mvtec_ad/bottle"))
    parser.add_argument("--detector", nargs="+", default=["padim", "patchcore"])
    parser.add_argument("--train", type=int, default=40, help="good training images for the fit")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--alone", type=int, default=15, help="images timed alone for the backbone")
    parser.add_argument("--parts", type=int, default=30, help="parts timed one at a time")
    parser.add_argument("--gap-s", type=float, default=0.3, help="pause between the timed parts")
    parser.add_argument("--burst", type=int, default=40, help="parts dropped at once for parts/minute")
    parser.add_argument("--gui-seconds", type=float, default=15.0)
    args = parser.parse_args()
    data = Path(args.data)
    work = Path(tempfile.mkdtemp(prefix="station-latency-"))
    broker = Broker(work)
    broker.start()
    rows = []
    try:
        tests = sorted((data / "test").rglob("*.png"))
        alone_images = [load_image(p) for p in tests[: args.alone]]
        for detector in args.detector:
            model = _fit(data, work, detector, args.train, args.image_size)
            backbone_ms = _median_ms(model.features, alone_images)
            predict_ms = _median_ms(model.predict, alone_images)
            station = _station(model, work, detector, broker.port, tests, args)
            gui = _repaint_rate(model, work, broker.port, tests, args.gui_seconds, detector)
            rows.append((detector, backbone_ms, predict_ms, station, gui))
            print(json.dumps({"detector": detector, "backbone_ms": round(backbone_ms, 1)}), flush=True)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ndata {data}  train {args.train} good images  image size {args.image_size}  "
          f"timed parts {args.parts} (gap {args.gap_s} s)  burst {args.burst}")
    print("latency: hot-folder rename -> MQTT message received by a subscriber (QoS 1, via mosquitto); "
          "backbone: model.features for one image (preprocess + forward)")
    header = (f"{'detector':10} {'backbone':>9} {'predict':>8} {'lat med':>8} {'lat p99':>8} {'med/bb':>7} "
              f"{'p99/bb':>7} {'over bb':>8} {'over pred':>9} {'parts/min':>9} {'vs bb rate':>10} {'view fps':>8} {'results/s':>9}")
    print(header)
    for detector, backbone_ms, predict_ms, station, gui in rows:
        lat = station["latency_ms"]
        median, p99 = float(np.median(lat)), float(np.percentile(lat, 99))
        bb_rate = 60000.0 / backbone_ms
        print(f"{detector:10} {backbone_ms:7.1f}ms {predict_ms:6.1f}ms {median:6.1f}ms {p99:6.1f}ms "
              f"{median / backbone_ms:6.2f}x {p99 / backbone_ms:6.2f}x {median - backbone_ms:6.1f}ms {median - predict_ms:7.1f}ms "
              f"{station['per_minute']:9.0f} {station['per_minute'] / bb_rate:9.2f}x {gui['fps']:8.1f} "
              f"{gui['results_per_s']:9.2f}")
    print("over bb = median latency - backbone (detector scoring + everything the station adds); aim < 25 ms")
    print("over pred = median latency - predict alone: what the station itself adds (PNG decode, hot-folder poll, "
          "SQLite log + outbox with fsync, file move, MQTT QoS 1 round trip)")
    print("view fps = paint events of the Run page's verdict per second while it inspects a steady stream, with "
          "repaints requested at 60 Hz (aim >= 10); results/s = parts shown per second meanwhile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
