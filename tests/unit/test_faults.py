"""Faults: kill -9 mid-save, malicious pickles, bad model files, cancelled fits, a full disk.

The kill tests run a child process that saves in a loop and kill it (SIGKILL, or
TerminateProcess on Windows) at random moments, several times, then check that the previous
version is intact and loadable.
"""
from __future__ import annotations

import errno
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

from inspector.detectors.base import Detector
from inspector.detectors import registry
from inspector.detectors.registry import available_detectors
from inspector.features.maps import FeatureMaps
from inspector.store.atomic import atomic_directory, read_json, write_json_atomic, write_npz_atomic
from inspector.store.log import InspectionLog
from inspector.store.project import Project
from inspector.types import CancelToken, Cancelled, InspectorError, Reporter, ScoreResult, as_reporter

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


# -- a tiny detector, registered for these tests only ---------------------------------------------
class TinyTestDetector(Detector):
    """Mean feature vector; distance to it is the score. `generation` marks which save wrote it."""

    name = "tiny_test"
    display_name = "Tiny test detector"

    def __init__(self, generation: int = 0, layers: tuple[int, ...] = (0,)) -> None:
        super().__init__(layers)
        self.generation = generation

    def fit(self, features: FeatureMaps, reporter=None) -> "TinyTestDetector":
        self._check_features(features)
        reporter = as_reporter(reporter)
        data = features.levels[self.layers[0]]
        reporter.report("fit", 0, 2, "averaging")
        self.mean_ = data.mean(axis=(0, 2, 3)).astype(np.float32)
        reporter.report("fit", 1, 2, "averaged")
        self.fitted_ = True
        return self

    def score(self, features: FeatureMaps, reporter=None) -> ScoreResult:
        self._check_fitted()
        pooled = features.levels[self.layers[0]].mean(axis=(2, 3))
        return ScoreResult(np.linalg.norm(pooled - self.mean_, axis=1))

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        # a large array whose every value is the generation: a torn write would show mixed values
        return {"generation": self.generation}, {"mean": self.mean_,
                                                 "stamp": np.full(20_000, self.generation, np.int64)}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        mean = arrays["mean"]
        if mean.ndim != 1:
            raise ValueError(f"mean must be a vector, got shape {mean.shape}")
        self.mean_ = mean.astype(np.float32)
        self.stamp_ = arrays["stamp"]


@pytest.fixture(autouse=True)
def tiny_detector_registered(monkeypatch):
    """Registered only while a test of this file runs, so other tests never see it in the list."""
    monkeypatch.setitem(registry._REGISTRY, TinyTestDetector.name, TinyTestDetector)


def tiny_features(n: int = 4, channels: int = 3, seed: int = 0) -> FeatureMaps:
    rng = np.random.default_rng(seed)
    return FeatureMaps({0: rng.normal(size=(n, channels, 2, 2)).astype(np.float32)}, (8, 8))


def save_model(folder: Path, generation: int, reporter: Optional[Reporter] = None) -> None:
    """Save as the pipeline does: one atomic folder holding detector/ and model.json."""
    detector = TinyTestDetector(generation=generation).fit(tiny_features(), reporter)
    with atomic_directory(folder) as staging:
        detector.save(staging / "detector")
        as_reporter(reporter).report("save", 1, 2, "detector written")
        write_json_atomic(staging / "model.json", {"format": "inspector-model", "generation": generation,
                                                   "settings": {"backbone": "efficientnet_lite0", "image_size": 224}})
        as_reporter(reporter).report("save", 2, 2, "model written")  # a cancel here still discards it all


def check_model(folder: Path) -> int:
    """Load a model folder and check that all of its files come from the same save."""
    meta = read_json(folder / "model.json")
    detector = Detector._load_unchecked(folder / "detector")
    assert isinstance(detector, TinyTestDetector)
    assert detector.generation == meta["generation"]
    assert np.all(detector.stamp_ == meta["generation"])
    return int(meta["generation"])


# -- kill -9 ------------------------------------------------------------------------------------------
SAVER = r"""
import sys
sys.path.insert(0, sys.argv[2])
import numpy as np
import test_faults as faults
from inspector.store.atomic import read_json
from inspector.store.project import Project

project = Project.open(sys.argv[1])
model = project.models_dir("bottle") / "current"
generation = read_json(model / "model.json")["generation"]
print("ready", flush=True)
while True:
    generation += 1
    project.classes["bottle"].fit_settings = {"generation": generation, "padding": "x" * 20000}
    project.save()
    project.save_policy("bottle", {"generation": generation, "ops": list(range(500))})
    if generation % 3 == 0:
        project.add_captured_image("bottle", np.full((8, 8, 3), generation % 256, np.uint8))
    faults.save_model(model, generation)
"""


def kill_at_random(script: str, args: list[str], rng: np.random.Generator, low: float, high: float) -> str:
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if line.strip() != "ready":
            process.kill()
            raise AssertionError(f"child did not start: {line!r} {process.stderr.read()[-3000:]}")
        time.sleep(float(rng.uniform(low, high)))
        assert process.poll() is None, process.stderr.read()[-3000:]  # still saving when killed
        process.kill()  # SIGKILL on POSIX, TerminateProcess on Windows: no cleanup runs
    finally:
        process.wait(timeout=30)
    rest = process.stdout.read()
    process.stdout.close()
    process.stderr.close()
    return rest


def test_kill_during_project_and_model_saves_keeps_previous_version(tmp_path):
    project = Project.create(tmp_path / "proj", "Killed")
    project.add_class("bottle")
    save_model(project.models_dir("bottle") / "current", generation=0)
    project.close()
    rng = np.random.default_rng(7)
    generations = []
    for _round in range(4):
        kill_at_random(SAVER, [str(project.root), str(HERE)], rng, 0.05, 0.6)
        reopened = Project.open(project.root)
        unexpected = [p for p in reopened.problems if "not listed in project.json" not in p]
        assert unexpected == [], unexpected  # only a just-captured image may be waiting to be listed
        part = reopened.classes["bottle"]
        assert part.fit_settings is None or part.fit_settings["padding"] == "x" * 20000
        assert part.policy is None or part.policy["ops"] == list(range(500))
        model_dir = reopened.models_dir("bottle") / "current"
        generations.append(check_model(model_dir))  # loadable, and all of one save
        assert [m.id for m in reopened.list_models("bottle")] == ["current"]
        for record in part.active_images():
            assert reopened.image_path("bottle", record).stat().st_size > 0
    assert generations[-1] > 0  # the children really were saving when killed


LOGGER = r"""
import sys
from inspector.store.log import InspectionLog
log = InspectionLog(sys.argv[1])
print("ready", flush=True)
while True:
    row = log.record(None, "bottle", "model-1", 0.5, 1.0, "PASS", "image.png", review_threshold=0.8)
    print(row, flush=True)
"""


def test_log_survives_a_killed_process(tmp_path):
    path = tmp_path / "inspections.sqlite"
    rng = np.random.default_rng(3)
    for _round in range(3):
        printed = kill_at_random(LOGGER, [str(path)], rng, 0.1, 0.4)
        confirmed = [int(line) for line in printed.split() if line.strip().isdigit()]
        with InspectionLog(path) as log:  # quick_check runs on open
            rows = log.query(newest_first=False)
            assert len(rows) >= (max(confirmed) if confirmed else 0)  # every acknowledged row is there
            assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
            assert all(r["verdict"] == "PASS" and r["score"] == 0.5 and r["image_path"] == "image.png" for r in rows)
    assert len(rows) > 0


# -- malicious pickles and bad model files ------------------------------------------------------------
class Marker:
    """Unpickling this creates a file, which would prove that a pickle was executed."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def fitted_detector(name: str) -> Detector:
    """The tiny test detector, or the lead's KNN / Mahalanobis fitted on small pooled features."""
    if name == "tiny_test":
        return TinyTestDetector(generation=1).fit(tiny_features())
    registry = available_detectors()
    if name not in registry:
        pytest.skip(f"detector '{name}' is not available")
    rng = np.random.default_rng(0)
    pooled = FeatureMaps({layer: rng.normal(size=(6, c, 2, 2)).astype(np.float32)
                          for layer, c in ((3, 5), (5, 4), (6, 3))}, (64, 64))
    return registry[name]().fit(pooled)


@pytest.mark.parametrize("name", ["tiny_test", "knn", "mahalanobis"])
def test_pickle_in_detector_npz_is_never_executed(tmp_path, name):
    detector = fitted_detector(name)
    folder = tmp_path / "detector"
    detector.save(folder)
    marker = tmp_path / "EXECUTED"
    meta = read_json(folder / "detector.json")
    arrays = dict(np.load(folder / "detector.npz"))
    first = next(iter(arrays))
    evil = np.empty(arrays[first].shape, dtype=object)
    evil.flat[0] = Marker(marker)
    arrays[first] = evil
    np.savez(folder / "detector.npz", **arrays)  # numpy pickles object arrays when saving
    with pytest.raises(InspectorError, match="pickled Python objects"):
        Detector._load_unchecked(folder)
    (folder / "detector.npz").write_bytes(pickle.dumps(Marker(marker)))  # a bare pickle under the npz name
    with pytest.raises(InspectorError, match="detector.npz"):
        Detector._load_unchecked(folder)
    assert not marker.exists()
    assert meta["detector"] == detector.name


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pth_and_pkl_files_are_never_unpickled(tmp_path):
    marker = tmp_path / "EXECUTED"
    evil = pickle.dumps(Marker(marker))
    # a model folder with stray pickles: listing, opening and checking the project ignore them
    project = Project.create(tmp_path / "proj", "P")
    project.add_class("bottle")
    model_id, path = project.new_model_dir("bottle")
    save_model(path, 1)
    (path / "model.pkl").write_bytes(evil)
    (path / "detector" / "weights.pth").write_bytes(evil)
    reopened = Project.open(project.root)
    assert [m.id for m in reopened.list_models("bottle")] == [model_id]
    reopened.set_active_model("bottle", model_id)
    assert check_model(path) == 1
    # a user-supplied backbone weights file that is a malicious pickle
    from inspector.features.backbones import build_backbone

    weights = tmp_path / "weights.pth"
    weights.write_bytes(evil)
    with pytest.raises(InspectorError, match="weights.pth"):
        build_backbone("efficientnet_lite0", weights)
    assert not marker.exists()


def test_wrong_shapes_and_missing_arrays_are_refused(tmp_path):
    folder = tmp_path / "detector"
    TinyTestDetector(generation=1).fit(tiny_features()).save(folder)
    arrays = dict(np.load(folder / "detector.npz"))
    meta = read_json(folder / "detector.json")

    write_npz_atomic(folder / "detector.npz", {k: v for k, v in arrays.items() if k != "mean"})
    with pytest.raises(InspectorError, match="lacks the array 'mean'"):
        Detector._load_unchecked(folder)

    write_npz_atomic(folder / "detector.npz", {**arrays, "mean": np.zeros(7, np.float32)})
    with pytest.raises(InspectorError, match=r"'mean' has shape \[7\], expected \[3\]"):
        Detector._load_unchecked(folder)

    # shapes consistent with detector.json, but wrong for the detector itself
    write_npz_atomic(folder / "detector.npz", {**arrays, "mean": np.zeros((3, 3), np.float32)})
    write_json_atomic(folder / "detector.json", {**meta, "arrays": {**meta["arrays"], "mean": [3, 3]}})
    with pytest.raises(InspectorError, match="stored detector state is invalid"):
        Detector._load_unchecked(folder)

    (folder / "detector.json").write_text('{"format": "inspector-detector", "vers')
    with pytest.raises(InspectorError, match=r"not valid JSON.*detector\.json"):
        Detector._load_unchecked(folder)


# -- a cancelled fit -----------------------------------------------------------------------------------
def test_cancelled_fit_leaves_no_half_written_model(tmp_path):
    project = Project.create(tmp_path / "proj", "P")
    project.add_class("bottle")
    first_id, first_path = project.new_model_dir("bottle")
    save_model(first_path, generation=1)
    project.set_active_model("bottle", first_id)

    for cancel_at in ("fit", "save"):  # while fitting, and after some files of the model were written
        token = CancelToken()

        def on_progress(progress, stage=cancel_at):
            if progress.stage == stage:
                token.cancel()

        new_id, new_path = project.new_model_dir("bottle")
        with pytest.raises(Cancelled):
            save_model(new_path, generation=2, reporter=Reporter(on_progress, token))
        assert not new_path.exists()
        assert [m.id for m in project.list_models("bottle")] == [first_id]
        assert not [p for p in project.models_dir("bottle").iterdir() if p.name.startswith(".")]
    assert check_model(first_path) == 1
    assert Project.open(project.root).classes["bottle"].active_model_id == first_id


# -- a full disk -----------------------------------------------------------------------------------------
def disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_on_project_save_is_reported(tmp_path):
    project = Project.create(tmp_path / "proj", "P")
    project.add_class("bottle")
    project.set_thresholds("bottle", fail=2.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        with pytest.raises(InspectorError, match=r"project\.json.*disk is full"):
            project.add_class("cable")
        with pytest.raises(InspectorError, match="disk is full"):
            project.set_thresholds("bottle", fail=5.0)
    # the failed changes are undone in memory too: what the app shows is what is on disk
    assert list(project.classes) == ["bottle"] and project.classes["bottle"].fail_threshold == 2.0
    reopened = Project.open(project.root)
    assert list(reopened.classes) == ["bottle"] and reopened.problems == []
    assert not [p for p in project.root.iterdir() if p.name.endswith(".tmp")]


class FillingFile:
    """A file object that accepts `room` bytes, then fails like a full disk would."""

    def __init__(self, handle, room: int) -> None:
        self._handle = handle
        self._room = room

    def write(self, data):
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._handle.close()


def test_disk_filling_up_mid_write_is_reported_and_harmless(tmp_path):
    project = Project.create(tmp_path / "proj", "P")
    project.add_class("bottle")
    sources = []
    for i in range(2):
        sources.append(tmp_path / f"img{i}.png")
        from PIL import Image

        Image.fromarray(np.full((64, 64, 3), i * 50, np.uint8)).save(sources[-1])
    model_dir = project.models_dir("bottle") / "m"
    save_model(model_dir, generation=1)

    real_fdopen = os.fdopen
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdopen", lambda fd, *a, **k: FillingFile(real_fdopen(fd, *a, **k), room=50))
        records, errors = project.import_images("bottle", sources)
        assert records == [] and len(errors) == 2 and all("disk is full" in e for e in errors)
        with pytest.raises(InspectorError, match="disk is full"):
            save_model(model_dir, generation=2)
        with pytest.raises(InspectorError, match="disk is full"):
            write_npz_atomic(tmp_path / "arrays.npz", {"a": np.zeros(1000)})

    assert check_model(model_dir) == 1
    assert not (tmp_path / "arrays.npz").exists()
    reopened = Project.open(project.root)
    assert reopened.problems == [] and reopened.classes["bottle"].images == []
    leftovers = [p for p in project.root.rglob("*") if p.name.startswith(".")]
    assert leftovers == []
