"""Atomic writes: the old file survives any failure, nothing half-written or pickled gets through."""
from __future__ import annotations

import os
import pickle
import stat
import time

import numpy as np
import pytest

from inspector.store.atomic import (
    atomic_directory,
    atomic_open,
    clean_leftovers,
    read_json,
    read_npz,
    recover_directory,
    write_bytes_atomic,
    write_json_atomic,
    write_npz_atomic,
)
from inspector.types import Cancelled, InspectorError


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_json_round_trip_with_numpy_values(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_json_atomic(path, {"x": np.float32(1.5), "n": np.int64(3), "arr": np.arange(3), "path": tmp_path, "é": "ü"})
    assert read_json(path) == {"x": 1.5, "n": 3, "arr": [0, 1, 2], "path": str(tmp_path), "é": "ü"}
    assert leftovers(path.parent) == []


def test_unserialisable_value_writes_nothing(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"v": object()})
    assert read_json(path) == {"v": 1}
    assert leftovers(tmp_path) == []


def test_exception_inside_block_keeps_old_file(tmp_path):
    path = tmp_path / "data.bin"
    write_bytes_atomic(path, b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "wb") as handle:
            handle.write(b"new but incomplete")
            raise RuntimeError("crash")
    assert path.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_read_modes_are_refused(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "x", "r"):
            pass


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_permissions_of_replaced_file_are_kept(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # like any new file, not mkstemp's 0600
    os.chmod(path, 0o640)
    write_json_atomic(path, {"v": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_read_json_reports_damage_and_absence(tmp_path):
    with pytest.raises(InspectorError, match="Missing file"):
        read_json(tmp_path / "none.json")
    (tmp_path / "empty.json").write_bytes(b"")
    with pytest.raises(InspectorError, match=r"empty.*empty\.json"):
        read_json(tmp_path / "empty.json")
    (tmp_path / "half.json").write_text('{"a": [1, 2', encoding="utf-8")
    with pytest.raises(InspectorError, match=r"not valid JSON.*half\.json"):
        read_json(tmp_path / "half.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InspectorError, match="bin.json"):
        read_json(tmp_path / "bin.json")


def test_npz_round_trip_and_object_arrays_refused_on_write(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64)}
    write_npz_atomic(tmp_path / "x.npz", arrays)
    back = read_npz(tmp_path / "x.npz")
    assert set(back) == {"a", "b"} and np.array_equal(back["a"], arrays["a"]) and back["a"].dtype == np.float32
    with pytest.raises(InspectorError, match="Python objects"):
        write_npz_atomic(tmp_path / "y.npz", {"o": np.array([{"k": 1}], dtype=object)})
    assert not (tmp_path / "y.npz").exists()


class _Marker:
    """Unpickling this creates a file: proof that a pickle was executed."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_read_npz_never_unpickles(tmp_path):
    marker = tmp_path / "EXECUTED"
    np.savez(tmp_path / "evil.npz", evil=np.array([_Marker(marker)], dtype=object), ok=np.zeros(2))
    with pytest.raises(InspectorError, match="pickled Python objects"):
        read_npz(tmp_path / "evil.npz")
    (tmp_path / "plain.npz").write_bytes(pickle.dumps(_Marker(marker)))  # a bare pickle named .npz
    with pytest.raises(InspectorError, match="pickled"):
        read_npz(tmp_path / "plain.npz")
    assert not marker.exists()


def test_read_npz_damage(tmp_path):
    with pytest.raises(InspectorError, match="Missing file"):
        read_npz(tmp_path / "none.npz")
    write_npz_atomic(tmp_path / "x.npz", {"a": np.arange(1000.0)})
    data = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InspectorError, match="cut.npz"):
        read_npz(tmp_path / "cut.npz")
    np.save(tmp_path / "single.npy", np.arange(3))
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    with pytest.raises(InspectorError, match="archive of named arrays"):
        read_npz(tmp_path / "single.npz")


def test_atomic_directory_replaces_whole_folder(tmp_path):
    target = tmp_path / "models" / "m1"
    with atomic_directory(target) as staging:
        write_json_atomic(staging / "model.json", {"v": 1})
        (staging / "sub").mkdir()
        (staging / "sub" / "extra.bin").write_bytes(b"x")
    assert read_json(target / "model.json") == {"v": 1}
    with atomic_directory(target) as staging:
        write_json_atomic(staging / "model.json", {"v": 2})
    assert read_json(target / "model.json") == {"v": 2}
    assert not (target / "sub").exists()  # the new version replaced the folder, not merged into it
    assert leftovers(target.parent) == []


def test_cancel_inside_atomic_directory_leaves_old_version(tmp_path):
    target = tmp_path / "m"
    with atomic_directory(target) as staging:
        write_json_atomic(staging / "model.json", {"v": 1})
    with pytest.raises(Cancelled):
        with atomic_directory(target) as staging:
            write_json_atomic(staging / "model.json", {"v": 2})
            raise Cancelled()
    assert read_json(target / "model.json") == {"v": 1}
    assert leftovers(tmp_path) == []


def test_recover_directory_after_crash_between_renames(tmp_path):
    target = tmp_path / "m"
    with atomic_directory(target) as staging:
        write_json_atomic(staging / "model.json", {"v": 1})
    os.replace(target, tmp_path / ".m.old-1234abcd")  # what a kill between the two renames leaves
    assert recover_directory(target) == target
    assert read_json(target / "model.json") == {"v": 1}


def test_clean_leftovers(tmp_path):
    (tmp_path / "keep.json").write_text("{}")
    (tmp_path / ".keep.json.abc123.tmp").write_text("half")
    (tmp_path / ".m.staging-1234abcd").mkdir()
    (tmp_path / ".m.old-1234abcd").mkdir()  # m exists? no: it is restored, not removed
    (tmp_path / ".m.old-1234abcd" / "model.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".x.png.zz.tmp").write_bytes(b"")
    (tmp_path / ".hidden-user-file").write_text("mine")
    removed = clean_leftovers(tmp_path)
    names = sorted(p.name for p in removed)
    assert names == [".keep.json.abc123.tmp", ".m.staging-1234abcd", ".x.png.zz.tmp"]
    assert (tmp_path / "m" / "model.json").exists()  # restored
    assert (tmp_path / ".hidden-user-file").exists() and (tmp_path / "keep.json").exists()


def test_clean_leftovers_spares_young_files(tmp_path):
    young = tmp_path / ".a.json.x.tmp"
    young.write_text("writing")
    assert clean_leftovers(tmp_path, min_age_s=60) == []
    old_time = time.time() - 120
    os.utime(young, (old_time, old_time))
    assert clean_leftovers(tmp_path, min_age_s=60) == [young]
