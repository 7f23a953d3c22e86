"""Projects: created, changed and reopened identically; damaged parts reported by name, the rest opens."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspector.store.atomic import atomic_directory, read_json, write_json_atomic
from inspector.store.project import (
    BACKUP_FILE,
    PROJECT_FILE,
    SCHEMA_VERSION,
    ImageRecord,
    PartClass,
    Project,
    config_dir,
    forget_recent,
    load_recent,
    migrate,
    remember_recent,
    safe_folder_name,
)
from inspector.types import CancelToken, Cancelled, InspectorError, Reporter

ROOT = Path(__file__).resolve().parents[2]


def write_png(path: Path, seed: int, size: int = 16) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def sources(tmp_path) -> list[Path]:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return [write_png(folder / f"part {i}.png", i) for i in range(4)]


@pytest.fixture
def project(tmp_path) -> Project:
    with Project.create(tmp_path / "proj", "Line 3") as created:
        yield created


def save_fake_model(project: Project, class_name: str, backbone: str = "efficientnet_lite0") -> str:
    model_id, path = project.new_model_dir(class_name)
    assert not path.exists()  # created only by the atomic save
    with atomic_directory(path) as staging:
        write_json_atomic(staging / "model.json", {"format": "inspector-model", "model_id": model_id,
                                                   "settings": {"backbone": backbone, "image_size": 224,
                                                                "weights_file": None, "detector": "padim"}})
    return model_id


def test_create_refuses_existing_or_busy_folders(tmp_path, project):
    with pytest.raises(InspectorError, match="already holds a project"):
        Project.create(project.root, "again")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InspectorError, match="not empty"):
        Project.create(busy, "x")
    assert read_json(project.root / PROJECT_FILE)["schema_version"] == SCHEMA_VERSION
    for sub in ("images", "models", "policies"):
        assert (project.root / sub).is_dir()


def test_full_round_trip_is_identical(project, sources):
    bottle = project.add_class("bottle")
    records, errors = project.import_images("bottle", sources[:3], role="train")
    assert errors == [] and len(records) == 3 and bottle.images == records
    test_records, _ = project.import_images("bottle", sources[3:], role="test", label="defect")
    captured = project.add_captured_image("bottle", np.full((8, 9, 3), 77, np.uint8), role="test")
    project.add_class("Bügel / Ø 12")
    project.save_policy("bottle", {"ops": [{"name": "rotate", "p": 0.5}], "seed": np.int64(3)})
    project.set_fit_settings("bottle", {"detector": "padim", "refine_ratio": np.float64(0.1)}, aug_factor=4)
    project.set_thresholds("bottle", fail=2.5, review=1.5)
    project.set_review_decisions("bottle", {records[0].id: "remove", records[1].id: "keep"})
    project.delete_image("bottle", records[2].id)
    model_id = save_fake_model(project, "bottle")
    project.set_active_model("bottle", model_id)
    before = project.to_json()

    again = Project.open(project.root)
    assert again.problems == []
    assert again.to_json() == before
    part = again.classes["bottle"]
    assert part.policy == {"ops": [{"name": "rotate", "p": 0.5}], "seed": 3}
    assert part.aug_factor == 4 and part.fit_settings == {"detector": "padim", "refine_ratio": 0.1}
    assert (part.fail_threshold, part.review_threshold) == (2.5, 1.5)
    assert part.active_model_id == model_id and part.image(records[2].id).deleted
    assert part.image(test_records[0].id).label == "defect" and part.image(captured.id).source == "camera"
    assert [r.id for r in part.active_images("train")] == [records[0].id, records[1].id]
    for record in records:
        assert again.image_path("bottle", record).read_bytes() == sources[records.index(record)].read_bytes()


def test_reopens_identically_in_a_new_process(project, sources):
    project.add_class("bottle")
    project.import_images("bottle", sources)
    project.log.record(None, "bottle", "m1", 0.4, 1.0, "PASS", "x.png")
    expected = json.dumps(project.to_json(), sort_keys=True)
    code = ("import json, sys\nfrom inspector.store.project import Project\n"
            "p = Project.open(sys.argv[1])\n"
            "print(json.dumps({'problems': p.problems, 'project': json.dumps(p.to_json(), sort_keys=True),"
            " 'log': len(p.log.query())}))\n")
    result = subprocess.run([sys.executable, "-c", code, str(project.root)], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"problems": [], "project": expected, "log": 1}


def test_import_refuses_bad_files_and_duplicates(project, sources, tmp_path):
    project.add_class("bottle")
    broken = tmp_path / "broken.png"
    broken.write_bytes(sources[0].read_bytes()[:60])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    odd_name = tmp_path / "no_suffix"
    odd_name.write_bytes(sources[1].read_bytes())
    records, errors = project.import_images(
        "bottle", [sources[0], broken, text, tmp_path / "missing.png", sources[0], odd_name])
    assert [r.filename for r in records] == ["part 0.png", "no_suffix.png"]
    assert len(errors) == 4
    assert "broken.png" in errors[0] and "notes.txt" in errors[1] and "missing.png" in errors[2]
    assert "identical to part 0.png" in errors[3]
    # the same name again gets a unique name; the stored bytes are the originals
    other = tmp_path / "other"
    other.mkdir()
    clash = write_png(other / "PART 0.png", 99)
    records, errors = project.import_images("bottle", [clash])
    assert errors == [] and records[0].filename == "PART 0-2.png"
    assert project.image_path("bottle", records[0]).read_bytes() == clash.read_bytes()
    with pytest.raises(InspectorError, match="role"):
        project.import_images("bottle", [clash], role="validation")
    with pytest.raises(InspectorError, match="no class 'nope'"):
        project.import_images("nope", [clash])


def test_cancelled_import_keeps_what_was_imported(project, sources):
    project.add_class("bottle")
    token = CancelToken()
    seen = []

    def on_progress(progress):
        seen.append(progress.done)
        if progress.done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        project.import_images("bottle", sources, reporter=Reporter(on_progress, token))
    reopened = Project.open(project.root)
    # cancelled while the third file was being imported: it is finished, the fourth is not started
    assert len(reopened.classes["bottle"].images) == 3 and reopened.problems == []
    assert len(list((project.root / "images" / "bottle").iterdir())) == 3


def test_roles_labels_delete_restore_purge(project, sources):
    project.add_class("bottle")
    records, _ = project.import_images("bottle", sources)
    ids = [r.id for r in records]
    project.set_role("bottle", ids[:2], "test")
    project.set_label("bottle", ids[0], "good")
    project.delete_image("bottle", [ids[1], ids[3]])
    part = project.classes["bottle"]
    assert [r.id for r in part.active_images("test")] == [ids[0]]
    assert [r.id for r in part.active_images("train")] == [ids[2]]
    project.restore_image("bottle", ids[3])
    assert len(project.image_paths("bottle", "train")) == 2
    with pytest.raises(InspectorError, match="no image with id"):
        project.delete_image("bottle", [ids[0], "unknown"])
    assert not part.image(ids[0]).deleted  # nothing changed: all ids are checked first
    path = project.image_path("bottle", ids[1])
    assert project.purge_deleted("bottle") == 1 and not path.exists()
    assert len(Project.open(project.root).classes["bottle"].images) == 3


def test_review_decisions_and_thresholds_are_validated(project, sources):
    project.add_class("bottle")
    records, _ = project.import_images("bottle", sources[:2])
    with pytest.raises(InspectorError, match="review decision"):
        project.set_review_decisions("bottle", {records[0].id: "maybe"})
    with pytest.raises(InspectorError, match="no image with id"):
        project.set_review_decisions("bottle", {"nope": "keep"})
    with pytest.raises(InspectorError, match="review threshold"):
        project.set_thresholds("bottle", fail=1.0, review=2.0)
    project.set_review_decisions("bottle", {records[0].id: "remove"})
    assert Project.open(project.root).classes["bottle"].review_decisions == {records[0].id: "remove"}


def test_classes_add_rename_remove(project, sources):
    part = project.add_class("Bottle: A/B")
    assert part.folder == "Bottle_ A_B"
    assert project.add_class("bottle: a/b").folder == "bottle_ a_b-2"  # case-insensitive file systems
    with pytest.raises(InspectorError, match="already has a class"):
        project.add_class("Bottle: A/B")
    project.import_images("Bottle: A/B", sources[:1])
    save_fake_model(project, "Bottle: A/B")
    project.rename_class("Bottle: A/B", "Flasche")
    assert list(project.classes) == ["Flasche", "bottle: a/b"] and project.classes["Flasche"].folder == "Bottle_ A_B"
    assert Project.open(project.root).classes["Flasche"].images[0].filename == "part 0.png"
    project.remove_class("Flasche")
    assert not (project.root / "images" / "Bottle_ A_B").exists()
    assert not (project.root / "models" / "Bottle_ A_B").exists()
    assert list(Project.open(project.root).classes) == ["bottle: a/b"]


def test_safe_folder_names():
    assert safe_folder_name("CON") == "_CON" and safe_folder_name("a<b>c?") == "a_b_c_"
    assert safe_folder_name("  ..  ") == "class" and safe_folder_name("Ø 12 mm") == "Ø 12 mm"
    assert len(safe_folder_name("x" * 300)) == 60


def test_models_listing_and_activation(project):
    project.add_class("bottle")
    first = save_fake_model(project, "bottle")
    second = save_fake_model(project, "bottle", backbone="efficientnet_lite2")
    models = project.list_models("bottle")
    assert [m.id for m in models] == sorted([first, second]) and all(m.ok for m in models)
    assert {m.id: m for m in models}[second].meta["settings"]["backbone"] == "efficientnet_lite2"
    with pytest.raises(InspectorError, match="no model"):
        project.set_active_model("bottle", "../../etc")
    project.set_active_model("bottle", first)
    project.delete_model("bottle", first)
    assert project.classes["bottle"].active_model_id is None
    assert [m.id for m in project.list_models("bottle")] == [second]


def test_damaged_model_policy_and_missing_images_are_reported(project, sources):
    project.add_class("bottle")
    records, _ = project.import_images("bottle", sources[:3])
    good = save_fake_model(project, "bottle")
    bad = save_fake_model(project, "bottle")
    project.save_policy("bottle", {"ops": []})
    project.set_active_model("bottle", bad)
    root = project.root
    (root / "models" / "bottle" / bad / "model.json").write_text('{"format": "inspector-mo')  # cut short
    (root / "policies" / "bottle.json").write_text("garbage")
    project.image_path("bottle", records[1]).unlink()
    write_png(root / "images" / "bottle" / "dropped-in.png", 42)

    reopened = Project.open(root)
    text = "\n".join(reopened.problems)
    assert f"model {bad} is damaged" in text and "model.json" in text
    assert "policies/bottle.json" in text.replace(os.sep, "/") and "without its augmentation policy" in text
    assert "1 image file(s) of class 'bottle' are missing (part 1.png)" in text
    assert "not listed in project.json" in text
    part = reopened.classes["bottle"]
    assert part.active_model_id is None and part.policy is None
    assert {m.id: m.ok for m in reopened.list_models("bottle")} == {good: True, bad: False}
    assert len(part.active_images("train")) == 2  # the missing one is left out
    adopted = [r for r in part.images if r.filename == "dropped-in.png"]
    assert len(adopted) == 1 and adopted[0].deleted
    assert part.image(records[1].id).missing


def test_damaged_project_json_falls_back_to_backup(project, sources):
    project.add_class("bottle")
    project.import_images("bottle", sources[:2])
    project.add_class("cable")  # this last change is only in project.json, not in the backup
    (project.root / PROJECT_FILE).write_text('{"schema_version": 1, "name": "Li')
    reopened = Project.open(project.root)
    assert "project.json" in reopened.problems[0] and BACKUP_FILE in reopened.problems[0]
    assert list(reopened.classes) == ["bottle"] and len(reopened.classes["bottle"].images) == 2


def test_project_rebuilt_when_json_and_backup_are_lost(project, sources):
    project.add_class("bottle")
    project.import_images("bottle", sources[:3])
    (project.root / PROJECT_FILE).write_bytes(b"\x00" * 100)
    (project.root / BACKUP_FILE).unlink()
    reopened = Project.open(project.root)
    assert any("rebuilt" in p for p in reopened.problems)
    part = reopened.classes["bottle"]
    assert len(part.images) == 3 and {r.role for r in part.images} == {"test"}
    assert read_json(project.root / PROJECT_FILE)["classes"]["bottle"]["images"]  # the repair was saved


def test_invalid_entries_are_skipped_but_preserved(project, sources):
    project.add_class("bottle")
    project.import_images("bottle", sources[:2])
    data = read_json(project.root / PROJECT_FILE)
    data["classes"]["broken"] = "not an object"
    data["classes"]["bottle"]["images"].append({"id": "x", "filename": "../../escape.png"})
    data["classes"]["bottle"]["fail_threshold"] = "high"
    write_json_atomic(project.root / PROJECT_FILE, data)
    reopened = Project.open(project.root)
    text = "\n".join(reopened.problems)
    assert "class 'broken' is invalid" in text and "image entry #3" in text and "fail_threshold" in text
    assert list(reopened.classes) == ["bottle"] and len(reopened.classes["bottle"].images) == 2
    reopened.save()
    saved = read_json(project.root / PROJECT_FILE)
    assert saved["classes"]["broken"] == "not an object"  # kept for a later repair, not silently lost
    assert saved["classes"]["bottle"]["images"][-1] == {"id": "x", "filename": "../../escape.png"}


def test_newer_or_foreign_project_files_are_refused(tmp_path):
    with pytest.raises(InspectorError, match="newer Inspector"):
        migrate({"schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(InspectorError, match="invalid schema_version"):
        migrate({"schema_version": "one"})
    with pytest.raises(InspectorError, match="invalid schema_version"):  # there never was a version 0
        migrate({"name": "x", "classes": []})
    with pytest.raises(InspectorError, match="not an Inspector project"):
        Project.open(tmp_path)
    with pytest.raises(InspectorError, match="not found"):
        Project.open(tmp_path / "nowhere")


def test_records_parse_strictly():
    record = ImageRecord.from_json({"id": "a", "filename": "x.png"})
    assert record.role == "train" and not record.deleted and record.source == "file"
    for bad in ({"id": "a", "filename": "/etc/passwd"}, {"id": "a", "filename": "C:x.png"},
                {"id": "a", "filename": "x.png", "role": "val"}, {"filename": "x.png"}, [1]):
        with pytest.raises(ValueError):
            ImageRecord.from_json(bad)
    assert PartClass("c").to_json()["images"] == []


def test_damaged_log_is_moved_aside(project):
    (project.root / "inspections.sqlite").write_bytes(b"garbage" * 500)
    reopened = Project.open(project.root)
    row = reopened.log.record(None, "c", None, 1.0, 1.0, "PASS", None)
    assert reopened.log.get(row)["verdict"] == "PASS"
    assert any("inspections.sqlite" in p and "moved" in p for p in reopened.problems)
    assert list(project.root.glob("inspections-damaged-*.sqlite"))
    reopened.close()


def test_open_accepts_the_project_file_itself(project):
    assert Project.open(project.root / PROJECT_FILE).root == project.root


def test_recent_projects(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_CONFIG_DIR", str(tmp_path / "config"))
    assert config_dir() == tmp_path / "config" and load_recent() == []
    roots = []
    for i in range(12):
        roots.append(Project.create(tmp_path / f"p{i}", f"P{i}").root)
        remember_recent(roots[-1])
    remember_recent(roots[3])
    recent = load_recent()
    assert recent[0] == roots[3].resolve() and len(recent) == 10 and roots[0].resolve() not in recent
    forget_recent(roots[3])
    assert roots[3].resolve() not in load_recent()
    (tmp_path / "config" / "recent.json").write_text("{broken")
    assert load_recent() == []  # a damaged settings file never stops the app


def test_default_config_dir(monkeypatch):
    monkeypatch.delenv("INSPECTOR_CONFIG_DIR", raising=False)
    path = config_dir()
    if sys.platform.startswith("win"):
        assert path.name == "Inspector"
    elif sys.platform != "darwin":
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        assert path == Path(base) / "inspector"
