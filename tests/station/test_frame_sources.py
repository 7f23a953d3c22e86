"""GenICam source on the genicam wheel's real viky.cti producer, and source loss -> ALARM + back-off."""
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from station_helpers import brightness_predictor

from inspector.io.images import load_image
from inspector.station.frame_sources import (
    GenicamSource,
    SourceLost,
    rgb_from_components,
)
from inspector.station.hotfolder import Part
from inspector.station.outbox import Outbox
from inspector.station.runloop import ALARM, STOPPED, RunLoop
from inspector.store.log import InspectionLog


def _viky() -> Path:
    genicam = pytest.importorskip("genicam")  # the optional 'camera' extra
    path = Path(genicam.__file__).parent / "viky.cti"
    if not path.is_file():
        pytest.skip("genicam wheel without viky.cti")
    return path


_predict = brightness_predictor(128.0)


def test_rgba8_becomes_rgb_uint8_and_a_wrong_size_is_refused():
    rgba = np.arange(2 * 3 * 4, dtype=np.uint8)
    rgb = rgb_from_components(rgba, 3, 2, 4)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[1, 2].tolist() == rgba.reshape(2, 3, 4)[1, 2, :3].tolist()
    assert rgb_from_components(np.zeros(6, np.uint8), 3, 2, 1).shape == (2, 3, 3)
    with pytest.raises(SourceLost):
        rgb_from_components(rgba[:-1], 3, 2, 4)


def test_genicam_viky_acquires_frames_as_rgb_parts(tmp_path):
    source = GenicamSource(str(_viky()), tmp_path / "spool", fetch_timeout_s=5)
    try:
        parts = []
        while len(parts) < 5:
            parts.extend(source.poll())
    finally:
        source.close()
    assert len({part.part_id for part in parts}) == 5
    frame_ids = [int(part.part_id.rsplit("-", 1)[1]) for part in parts]
    assert frame_ids == sorted(frame_ids) and len(set(frame_ids)) == 5
    image = load_image(parts[0].path)
    assert image.shape == (400, 400, 3) and image.dtype == np.uint8 and image.std() > 0
    done = source.finish(parts[0], ok=True)
    assert done.parent.name == "done" and not parts[0].path.exists()


class FlakySource:
    """Delivers parts, then is 'unplugged' for a while: poll and reconnect raise until it comes back."""

    def __init__(self, folder: Path, down_polls: int) -> None:
        self.folder, self.down_polls = folder, down_polls
        self.frames, self.reconnect_times, self.finished = 0, [], []

    def poll(self):
        if 2 <= self.frames and self.down_polls > 0:
            self.down_polls -= 1
            raise SourceLost("cable unplugged")
        self.frames += 1
        path = self.folder / f"f{self.frames}.png"
        from inspector.io.images import save_image
        save_image(path, np.full((8, 8, 3), 10, np.uint8))
        return [Part(f"f{self.frames}", path)]

    def reconnect(self):
        self.reconnect_times.append(time.monotonic())
        if self.down_polls > 1:
            raise SourceLost("still unplugged")

    def finish(self, part, ok=True):
        self.finished.append(part.part_id)


def test_source_loss_raises_alarm_retries_with_back_off_and_recovers(tmp_path):
    states = []
    source = FlakySource(tmp_path, down_polls=4)
    loop = RunLoop(source, _predict, InspectionLog(tmp_path / "log.db"), Outbox(tmp_path / "box.db"),
                   "c", "m", 128.0, "ann", on_status=lambda s: states.append((s.state, s.reason)))
    loop.retry_initial_s = loop._retry_s = 0.05
    status = loop.run(max_parts=5)
    assert status.state == STOPPED and status.counters["total"] == 5 and status.counters["reconnects"] == 1
    assert any(state == ALARM and "cable unplugged" in reason for state, reason in states)
    gaps = np.diff(source.reconnect_times)
    assert len(source.reconnect_times) == 4 and all(b > a * 1.5 for a, b in zip(gaps, gaps[1:]))  # doubling
    assert source.finished == ["f1", "f2", "f3", "f4", "f5"]


def test_stop_during_source_loss_is_a_clean_stop(tmp_path):
    source = FlakySource(tmp_path, down_polls=10**6)
    loop = RunLoop(source, _predict, InspectionLog(tmp_path / "log.db"), Outbox(tmp_path / "box.db"),
                   "c", "m", 128.0, "ann")
    worker = threading.Thread(target=loop.run)
    worker.start()
    time.sleep(1.0)
    started = time.monotonic()
    loop.stop()
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - started < 1.0  # the back-off wait wakes on stop
    assert loop.status.state == STOPPED
