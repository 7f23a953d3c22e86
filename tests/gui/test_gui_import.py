"""Import keeps what it imports (issue 15): defect types, masks, original names; labels on any test image."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import _part


@pytest.fixture
def masked_category(tmp_path):
    """MVTec-style: train/good, test/good, test/blob and test/scratch with ground_truth masks, names 000..."""
    from inspector.io.images import save_image

    root = tmp_path / "data" / "disc"
    rng = np.random.default_rng(1)
    for folder, count, defect in (("train/good", 4, False), ("test/good", 2, False), ("test/blob", 2, True),
                                  ("test/scratch", 2, True)):
        for index in range(count):
            save_image(root / folder / f"{index:03d}.png", _part(rng, 48, defect))
            if defect:
                mask = np.zeros((48, 48), np.uint8)
                mask[10:20, 10:20] = 255
                save_image(root / "ground_truth" / folder.split("/")[1] / f"{index:03d}_mask.png", mask)
    return root


def _import(window, qtbot, folder):
    window.acquire_page.import_dataset(folder)
    qtbot.waitUntil(lambda: not window.acquire_page.importing, timeout=30_000)
    return window.session.part


def test_dataset_import_keeps_defect_types_masks_and_original_names(window, qtbot, tmp_path, masked_category):
    assert window.create_project(tmp_path / "project", "Import")
    window.session.add_class("disc")
    part = _import(window, qtbot, masked_category)
    test = {r.original_name: r for r in part.images if r.role == "test"}
    assert set(test) == {f"test/{d}/{i:03d}.png" for d in ("good", "blob", "scratch") for i in range(2)}
    assert {r.defect_type for r in test.values()} == {None, "blob", "scratch"}
    assert test["test/blob/001.png"].filename == "blob_001.png"  # not 001-3.png
    assert test["test/good/000.png"].label == "good" and test["test/good/000.png"].mask is None
    assert not any("-" in r.filename for r in part.images)
    project = window.session.project
    from inspector.store.image_import import mask_path

    for record in test.values():
        if record.label == "defect":
            path = mask_path(project, part, record)
            assert path is not None and path.is_file()
            from inspector.io.images import load_mask

            assert load_mask(path).sum() == 100
    # The gallery caption names the defect type.
    captions = [e.caption for e in window.acquire_page.gallery.entries()]
    assert any("(scratch)" in c for c in captions)
    # And it survives a reopen.
    from inspector.store.project import Project

    reopened = Project.open(project.root).classes["disc"]
    assert {r.original_name: r.defect_type for r in reopened.images} == {r.original_name: r.defect_type
                                                                         for r in part.images}


def test_any_test_image_can_be_labelled_from_the_gallery(window, qtbot, tmp_path, masked_category):
    assert window.create_project(tmp_path / "project", "Labels")
    window.session.add_class("disc")
    page = window.acquire_page
    loose = sorted((masked_category / "test" / "blob").glob("*.png"))
    plain = tmp_path / "loose"
    plain.mkdir()
    for index, path in enumerate(loose):  # outside an MVTec tree: no label from the folders
        (plain / f"part{index}.png").write_bytes(path.read_bytes())
    page.import_paths([plain], "test")
    qtbot.waitUntil(lambda: not page.importing, timeout=30_000)
    part = window.session.part
    assert [r.label for r in part.images] == [None, None]
    first = part.images[0].id
    page.gallery.select_keys([first])
    menu = page.label_menu.build()
    texts = [a.text() for a in menu.actions()]
    assert "Good" in texts and "Defective, new type..." in texts
    page.label_menu.ask_type = lambda _parent, _known: "dent"
    next(a for a in menu.actions() if a.text() == "Defective, new type...").trigger()
    assert part.image(first).label == "defect" and part.image(first).defect_type == "dent"
    page.gallery.select_keys([part.images[1].id])
    menu = page.label_menu.build()
    assert "Defective: dent" in [a.text() for a in menu.actions()]  # known types are offered
    next(a for a in menu.actions() if a.text() == "Good").trigger()
    assert part.images[1].label == "good" and part.images[1].defect_type is None
    from inspector.store.project import Project

    reopened = Project.open(window.session.project.root).classes["disc"]
    assert [(r.label, r.defect_type) for r in reopened.images] == [("defect", "dent"), ("good", None)]


def test_a_version_1_project_opens_and_is_upgraded(tmp_path):
    from inspector.io.images import save_image
    from inspector.store.project import Project
    from inspector.store.schema import SCHEMA_VERSION

    project = Project.create(tmp_path / "old", "Old")
    project.add_class("disc")
    save_image(tmp_path / "a.png", _part(np.random.default_rng(2), 32, False))
    project.import_images("disc", [tmp_path / "a.png"], "test", label="defect")
    image_id = project.classes["disc"].images[0].id
    project.set_review_decisions("disc", {image_id: "remove"})
    path = tmp_path / "old" / "project.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 1  # as 0.1.0 wrote it: none of the new fields
    for record in data["classes"]["disc"]["images"]:
        for key in ("defect_type", "mask", "original_name"):
            record.pop(key)
    path.write_text(json.dumps(data))
    reopened = Project.open(tmp_path / "old")
    assert [p for p in reopened.problems if "upgraded from version 1 to 2" not in p] == []
    assert (tmp_path / "old" / "project.v1.json.bak").is_file()  # the old file is kept
    record = reopened.classes["disc"].images[0]
    assert (record.label, record.defect_type, record.mask) == ("defect", None, None)
    assert reopened.classes["disc"].review_decisions == {image_id: "remove"}
    reopened.set_label("disc", image_id, "good")  # the next save writes the new version
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION == 2
    data["schema_version"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match="newer Inspector"):
        Project.open(tmp_path / "old")
