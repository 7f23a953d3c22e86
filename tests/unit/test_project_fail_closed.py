"""Project operations are atomic both ways, names are validated once, read-only projects open (issue 17).

Each test reproduces a bug found in 0.1.0 and fails there: a deleted model came back after an
interrupted deletion; two records of one file let `purge_deleted` delete a live image; a NUL
byte passed name validation; a read-only project could not even be viewed.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from inspector.store.atomic import atomic_directory, recover_directory, write_json_atomic
from inspector.store.project import PROJECT_FILE, ImageRecord, Project
from inspector.types import InspectorError


def write_png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def project(tmp_path) -> Iterator[Project]:
    with Project.create(tmp_path / "proj", "Line 3") as created:
        created.add_class("bottle")
        folder = tmp_path / "incoming"
        folder.mkdir()
        created.import_images("bottle", [write_png(folder / f"part {i}.png", i) for i in range(3)])
        yield created


def save_model(project: Project, generation: int = 1, model_id: str | None = None) -> str:
    if model_id is None:
        model_id, path = project.new_model_dir("bottle")
    else:
        path = project.models_dir("bottle") / model_id
    with atomic_directory(path) as staging:
        write_json_atomic(staging / "model.json", {"format": "inspector-model", "model_id": model_id,
                                                   "generation": generation})
    return model_id


def interrupted_rmtree(path, *args, **kwargs):
    """A removal that never gets done (the process is killed, or Windows holds a file open)."""
    if kwargs.get("ignore_errors"):
        return
    raise OSError(errno.EBUSY, "Device or resource busy", str(path))


# -- deletion -----------------------------------------------------------------------------------
def test_an_interrupted_model_deletion_is_finished_on_open_never_undone(project, monkeypatch):
    keep, gone = save_model(project), save_model(project)
    monkeypatch.setattr(shutil, "rmtree", interrupted_rmtree)
    project.delete_model("bottle", gone)
    monkeypatch.undo()
    assert [m.id for m in project.list_models("bottle")] == [keep]
    assert recover_directory(project.models_dir("bottle") / gone).exists() is False  # a later load
    reopened = Project.open(project.root)
    assert [m.id for m in reopened.list_models("bottle")] == [keep]
    assert os.listdir(project.models_dir("bottle")) == [keep]  # the tombstone is finished


def test_a_deleted_model_with_an_old_version_aside_does_not_come_back(project, monkeypatch):
    model_id = save_model(project, 1)
    monkeypatch.setattr(shutil, "rmtree", interrupted_rmtree)
    save_model(project, 2, model_id)  # re-saved; removing the old version aside was interrupted
    project.delete_model("bottle", model_id)
    monkeypatch.undo()
    assert not recover_directory(project.models_dir("bottle") / model_id).exists()
    assert Project.open(project.root).list_models("bottle") == []


def test_deleting_a_symlinked_model_folder_removes_the_link_only(project, tmp_path):
    outside = tmp_path / "shared-models" / "m1"
    outside.mkdir(parents=True)
    (outside / "model.json").write_text(json.dumps({"format": "inspector-model"}))
    (project.models_dir("bottle")).mkdir(parents=True, exist_ok=True)
    (project.models_dir("bottle") / "m1").symlink_to(outside)
    project.delete_model("bottle", "m1")
    assert Project.open(project.root).list_models("bottle") == []
    assert (outside / "model.json").exists()  # what the link pointed at is not the project's to delete


def test_an_interrupted_class_removal_is_finished_on_open(project, monkeypatch):
    save_model(project)
    images = project.class_images_dir("bottle")
    monkeypatch.setattr(shutil, "rmtree", interrupted_rmtree)
    project.remove_class("bottle")
    monkeypatch.undo()
    assert not images.exists()
    reopened = Project.open(project.root)
    assert reopened.classes == {} and reopened.problems == []
    assert os.listdir(project.root / "images") == [] and os.listdir(project.root / "models") == []


# -- duplicate records --------------------------------------------------------------------------
def test_two_records_of_one_file_never_let_purge_delete_the_live_file(project):
    part = project.classes["bottle"]
    live = part.images[0]
    part.images.append(ImageRecord(id="twin", filename=live.filename, deleted=True))
    assert project.purge_deleted("bottle") == 1
    assert project.image_path("bottle", live).exists()


def test_duplicate_records_in_project_json_are_repaired_on_open(project):
    data = json.loads((project.root / PROJECT_FILE).read_text())
    images = data["classes"]["bottle"]["images"]
    first = dict(images[0])
    images.insert(0, {**first, "id": "older-twin", "deleted": True, "label": "good"})
    data["classes"]["bottle"]["review_decisions"] = {"older-twin": "keep"}
    (project.root / PROJECT_FILE).write_text(json.dumps(data))
    reopened = Project.open(project.root)
    assert any("more than one record" in p and first["filename"] in p for p in reopened.problems)
    part = reopened.classes["bottle"]
    kept = [r for r in part.images if r.filename == first["filename"]]
    assert [r.id for r in kept] == [first["id"]] and not kept[0].deleted and kept[0].label == "good"
    assert part.review_decisions == {first["id"]: "keep"}
    assert reopened.purge_deleted("bottle") == 0
    assert reopened.image_path("bottle", kept[0]).exists()
    assert Project.open(project.root).problems == []  # the repair was saved


# -- names --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a\x00b", "line\nbreak", "tab\there", "   ", "\x1b[31mred"])
def test_names_with_control_characters_are_refused_before_anything_is_saved(project, tmp_path, name):
    before = (project.root / PROJECT_FILE).read_bytes()
    with pytest.raises(InspectorError, match="Invalid class name"):
        project.add_class(name)
    with pytest.raises(InspectorError, match="Invalid class name"):
        project.rename_class("bottle", name)
    with pytest.raises(InspectorError, match="Invalid project name"):
        Project.create(tmp_path / "other", name)
    assert (project.root / PROJECT_FILE).read_bytes() == before


def test_a_nul_byte_in_project_json_or_an_import_path_is_a_clean_message(project, tmp_path):
    data = json.loads((project.root / PROJECT_FILE).read_text())
    data["classes"]["bottle"]["images"].append({"id": "evil", "filename": "x\x00.png"})
    data["classes"]["bad\x00class"] = {"folder": "bad", "images": []}
    (project.root / PROJECT_FILE).write_text(json.dumps(data))
    reopened = Project.open(project.root)
    text = "\n".join(reopened.problems)
    assert "image entry #4" in text and "control character" in text and "bad\\x00class" in text
    assert list(reopened.classes) == ["bottle"]
    records, errors = reopened.import_images("bottle", [str(tmp_path / "part\x00.png")])
    assert records == [] and len(errors) == 1 and "cannot be read" in errors[0]


# -- read-only projects -------------------------------------------------------------------------
@contextmanager
def read_only(folder: Path, view: Path) -> Iterator[Path]:
    """`folder` as read-only media: a read-only bind mount when root (chmod does not stop root)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(modes[path] & ~0o222)
        try:
            yield folder
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {mounted.stderr.decode().strip()}")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield view
    finally:
        subprocess.run(["umount", str(view)], capture_output=True)


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_a_read_only_project_opens_read_only_view_inspect_without_logging_export(project, tmp_path):
    model_id = save_model(project)
    project.set_active_model("bottle", model_id)
    project.log.record(None, "bottle", model_id, 0.4, 1.0, "PASS", "a.png")
    project.log.record(None, "bottle", model_id, 2.0, 1.0, "FAIL", "b.png")
    project.close()
    before = _tree(project.root)
    with read_only(project.root, tmp_path / "ro") as root:
        opened = Project.open(root)
        assert opened.read_only and any("read-only" in p for p in opened.problems)
        assert len(opened.classes["bottle"].active_images()) == 3
        assert opened.classes["bottle"].active_model_id == model_id
        assert [r["verdict"] for r in opened.log.query(newest_first=False)] == ["PASS", "FAIL"]
        assert opened.log.record(None, "bottle", model_id, 0.1, 1.0, "PASS", "c.png") is None  # not logged
        assert opened.log.export_csv(tmp_path / "export.csv") == 2
        for change in (lambda: opened.add_class("new"), lambda: opened.set_thresholds("bottle", 2.0),
                       lambda: opened.delete_model("bottle", model_id), lambda: opened.new_model_dir("bottle"),
                       lambda: opened.import_images("bottle", [tmp_path / "incoming" / "part 0.png"]),
                       lambda: opened.log.set_operator_decision(1, "FAIL")):
            with pytest.raises(InspectorError, match="read-only"):
                change()
        opened.close()
    assert _tree(project.root) == before  # nothing was written, not even a leftover sweep


def test_a_read_only_project_without_a_log_views_an_empty_log(project, tmp_path):
    project.close()
    (project.root / "inspections.sqlite").unlink(missing_ok=True)
    with read_only(project.root, tmp_path / "ro") as root:
        opened = Project.open(root)
        assert opened.log.query() == [] and opened.log.count() == 0
        opened.close()
    assert not (project.root / "inspections.sqlite").exists()
