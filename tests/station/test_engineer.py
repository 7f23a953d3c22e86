"""Engineer unlock (salted scrypt PIN) and the change record of model / working-point changes."""
import json

import numpy as np
import pytest
from PIL import Image
from station_helpers import brightness_predictor

from inspector.station.engineer import (
    PIN_FILE,
    ChangeLog,
    Engineer,
    StationChanges,
    set_pin,
    unlock,
    verify_pin,
)
from inspector.station.hotfolder import HotFolder
from inspector.station.outbox import Outbox
from inspector.station.runloop import RunLoop
from inspector.store.log import InspectionLog
from inspector.types import InspectorError


def test_pin_is_stored_salted_and_hashed_and_verified(tmp_path):
    set_pin(tmp_path, "4711")
    text = (tmp_path / PIN_FILE).read_text()
    assert "4711" not in text
    stored = json.loads(text)
    assert stored["scheme"] == "scrypt" and len(bytes.fromhex(stored["salt"])) == 16
    assert verify_pin(tmp_path, "4711")
    assert not verify_pin(tmp_path, "4712") and not verify_pin(tmp_path, "")
    other = tmp_path / "other"
    set_pin(other, "4711")
    assert json.loads((other / PIN_FILE).read_text())["hash"] != stored["hash"]  # a fresh salt each time


def test_missing_or_damaged_pin_file_refuses_every_pin(tmp_path):
    assert not verify_pin(tmp_path, "4711")
    (tmp_path / PIN_FILE).write_text("{not json")
    assert not verify_pin(tmp_path, "4711")
    with pytest.raises(InspectorError, match="PIN"):
        unlock(tmp_path, "eng", "4711")
    with pytest.raises(InspectorError, match="at least"):
        set_pin(tmp_path, "12")


_predict_at = brightness_predictor


def test_changes_need_unlock_are_logged_with_who_and_when_and_apply(tmp_path):
    set_pin(tmp_path, "2468")
    hot = tmp_path / "hot"
    hot.mkdir()
    log = InspectionLog(tmp_path / "log.db")
    loop = RunLoop(HotFolder(hot, settle_s=0.0), _predict_at(128.0), log, Outbox(tmp_path / "box.db"),
                   "bottle", "m1", 128.0, "op")
    changes = StationChanges(loop, ChangeLog(tmp_path / "changes.db"))
    with pytest.raises(InspectorError, match="unlock"):
        changes.set_working_point(None, 50.0, _predict_at(50.0))
    with pytest.raises(InspectorError, match="wrong"):
        unlock(tmp_path, "eve", "0000")
    eve = unlock(tmp_path, "eve", "2468")
    assert isinstance(eve, Engineer) and eve.name == "eve"

    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(hot / "a.png")
    loop.run(max_parts=1)
    changes.set_working_point(eve, 50.0, _predict_at(50.0))
    with pytest.raises(InspectorError, match="finite"):
        changes.set_working_point(eve, float("nan"), _predict_at(0))
    with pytest.raises(InspectorError, match="above FAIL"):
        changes.set_working_point(eve, 50.0, _predict_at(50.0), review=60.0)
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(hot / "b.png")
    loop.run(max_parts=1)
    changes.set_model(eve, _predict_at(200.0), "m2", 200.0)
    rows = changes.changes.rows()
    assert [(r["who"], r["what"], r["old"], r["new"]) for r in rows] == [
        ("eve", "working_point", {"fail": 128.0, "review": None}, {"fail": 50.0, "review": None}),
        ("eve", "model", {"model_id": "m1", "threshold": 50.0}, {"model_id": "m2", "threshold": 200.0})]
    assert all(r["time"] >= eve.unlocked_at for r in rows)
    judged = sorted(log.query(), key=lambda row: row["id"])
    assert [(row["verdict"], row["threshold"]) for row in judged] == [("PASS", 128.0), ("FAIL", 50.0)]
    assert loop.status.counters["PASS"] == 1 and loop.status.counters["FAIL"] == 1  # same part, new working point
    assert (loop.model_id, loop.threshold) == ("m2", 200.0)
