"""AugmentationPolicy: Table 4 presets, JSON round trip, validation, load_policy."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from inspector.augment.policy import (
    MVTEC_PRESETS,
    POLICY_SCHEMA_VERSION,
    PRESETS,
    AugmentationPolicy,
    Range,
    Translate,
    export_presets,
    load_policy,
    save_policy,
)
from inspector.types import InspectorError

MVTEC = ["carpet", "tile", "leather", "grid", "wood", "capsule", "cable", "pill", "transistor", "metal_nut",
         "toothbrush", "screw", "hazelnut", "zipper", "bottle"]


def test_presets_cover_the_15_mvtec_categories_and_generic_ones():
    assert sorted(MVTEC_PRESETS) == sorted(MVTEC)
    for name in ("texture", "object", "none"):
        assert name in PRESETS
    assert PRESETS["none"].is_identity
    assert not PRESETS["texture"].is_identity


def test_table4_rows():
    bottle = PRESETS["bottle"]
    assert (bottle.flip_horizontal, bottle.flip_vertical, bottle.rotate90) == (False, False, True)
    assert bottle.translate == Translate(5, 5)
    assert bottle.rotate == Range(-10, 10)
    assert bottle.zoom is None
    zipper = PRESETS["zipper"]
    assert zipper.translate == Translate(30, 0) and zipper.flip_horizontal and not zipper.flip_vertical
    hazelnut = PRESETS["hazelnut"]
    assert hazelnut.rotate == Range(-20, 20) and hazelnut.zoom == Range(0.98, 1.02) and hazelnut.rotate90
    for policy in MVTEC_PRESETS.values():
        assert policy.add == Range(-10, 10) and policy.multiply == Range(0.9, 1.1)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name, tmp_path):
    policy = PRESETS[name]
    data = json.loads(json.dumps(policy.to_json()))
    assert data["version"] == POLICY_SCHEMA_VERSION
    back = AugmentationPolicy.from_json(data)
    assert back == policy and back.name == policy.name
    assert back.fingerprint() == policy.fingerprint()
    save_policy(tmp_path / f"{name}.json", policy)
    assert load_policy(str(tmp_path / f"{name}.json")) == policy


def test_json_marks_off_knobs_as_null():
    data = PRESETS["bottle"].to_json()
    assert data["zoom"] is None and data["flip_horizontal"] is False
    assert data["translate"] == {"x": 5, "y": 5} and data["rotate"] == [-10.0, 10.0]


def test_fingerprint_ignores_name_but_not_knobs():
    bottle = PRESETS["bottle"]
    assert bottle.renamed("other").fingerprint() == bottle.fingerprint()
    assert replace(bottle, rotate=Range(-5, 5)).fingerprint() != bottle.fingerprint()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rotate": [10, -10]}, "rotate: low"),
        ({"rotate": [-200, 10]}, "rotate must stay within"),
        ({"zoom": [0, 1.1]}, "zoom must stay within"),
        ({"add": [-300, 10]}, "add must stay within"),
        ({"multiply": [-0.5, 1.0]}, "multiply must stay within"),
        ({"translate": {"x": -1, "y": 2}}, "translate x"),
        ({"translate": {"x": 1.5, "y": 2}}, "whole number"),
        ({"translate": {"x": 1}}, "translate must be"),
        ({"rotate": [1, 2, 3]}, "pair"),
        ({"rotate": ["a", 2]}, "must be a number"),
        ({"flip_horizontal": "yes"}, "true or false"),
        ({"rotation": [1, 2]}, "Unknown augmentation setting"),
        ({"version": POLICY_SCHEMA_VERSION + 1}, "Update Inspector"),
        ({"format": "something-else"}, "Not an augmentation policy"),
    ],
)
def test_validation_errors_name_the_problem(change, message):
    data = {**PRESETS["bottle"].to_json(), **change}
    with pytest.raises(InspectorError, match=message):
        AugmentationPolicy.from_json(data)


def test_validate_on_constructed_policy():
    with pytest.raises(InspectorError, match="zoom: low"):
        AugmentationPolicy(zoom=Range(1.2, 1.1)).validate()
    with pytest.raises(InspectorError, match="translate y"):
        AugmentationPolicy(translate=Translate(1, -2)).validate()
    assert AugmentationPolicy(rotate=Range(-3, 3)).validate().rotate == Range(-3, 3)


def test_minimal_json_defaults_to_off():
    policy = AugmentationPolicy.from_json({"rotate": [-5, 5]})
    assert policy.rotate == Range(-5, 5) and not policy.flip_horizontal and policy.translate is None


def test_describe():
    assert PRESETS["none"].describe() == "no augmentation"
    text = PRESETS["screw"].describe()
    for part in ("horizontal flip", "vertical flip", "±10 px", "rotate -10..10°", "90° rotations", "zoom 0.98..1.02",
                 "add -10..10", "multiply 0.9..1.1"):
        assert part in text


def test_load_policy_by_name_alias_and_errors(tmp_path):
    assert load_policy("metal nut") is PRESETS["metal_nut"]
    assert load_policy("Metal-Nut") is PRESETS["metal_nut"]
    assert load_policy("texture") is PRESETS["texture"]
    with pytest.raises(InspectorError, match="Unknown augmentation policy 'bottel'"):
        load_policy("bottel")
    with pytest.raises(InspectorError, match="not found"):
        load_policy(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InspectorError, match="not valid JSON"):
        load_policy(str(bad))
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"zoom": [2, 1]}), encoding="utf-8")
    with pytest.raises(InspectorError, match=r"invalid\.json.*zoom"):
        load_policy(str(invalid))


def test_file_without_name_takes_file_stem(tmp_path):
    path = tmp_path / "my_part.json"
    path.write_text(json.dumps({"flip_horizontal": True}), encoding="utf-8")
    policy = load_policy(path)
    assert policy.name == "my_part" and policy.flip_horizontal


def test_save_policy_refuses_invalid_and_is_atomic(tmp_path):
    target = tmp_path / "p.json"
    save_policy(target, PRESETS["tile"])
    with pytest.raises(InspectorError):
        save_policy(target, AugmentationPolicy(add=Range(5, -5)))
    assert load_policy(target) == PRESETS["tile"]  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_export_presets(tmp_path):
    paths = export_presets(tmp_path)
    assert len(paths) == len(PRESETS)
    assert load_policy(tmp_path / "bottle.json") == PRESETS["bottle"]


def test_shipped_policy_files_match_the_presets():
    folder = Path(__file__).resolve().parents[2] / "resources" / "policies"
    if not folder.is_dir():
        pytest.skip("resources/policies not shipped")
    files = sorted(folder.glob("*.json"))
    assert {f.stem for f in files} == set(PRESETS)
    for path in files:
        assert load_policy(path) == PRESETS[path.stem], f"{path} is out of date: run export_presets()"


# -- schema 2: border fill and seed travel with the policy ---------------------------------------
def test_version_1_policy_loads_with_defaults_and_keeps_its_fingerprint():
    """A policy saved by 0.1.0 (no border, no seed) reads as reflect / seed 0 and keys the same caches."""
    old = {"format": "inspector-augmentation-policy", "version": 1, "name": "bottle", "flip_horizontal": False,
           "flip_vertical": False, "translate": {"x": 5, "y": 5}, "rotate": [-10.0, 10.0], "rotate90": True,
           "zoom": None, "add": [-10.0, 10.0], "multiply": [0.9, 1.1]}
    policy = AugmentationPolicy.from_json(old)
    assert (policy.border, policy.border_value, policy.seed) == ("reflect", 0, 0)
    assert policy == PRESETS["bottle"]
    # The fingerprint 0.1.0 computed: sha256 of the Table 4 knobs only.
    import hashlib

    knobs = {k: v for k, v in old.items() if k not in ("format", "version", "name")}
    assert policy.fingerprint() == hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:12]


def test_border_and_seed_round_trip_and_change_equality_and_fingerprint(tmp_path):
    base = PRESETS["object"]
    edited = replace(base, border="constant", border_value=128, seed=42)
    data = json.loads(json.dumps(edited.to_json()))
    assert data["border"] == "constant" and data["border_value"] == 128 and data["seed"] == 42
    back = AugmentationPolicy.from_json(data)
    assert back == edited and back != base
    assert back.fingerprint() != base.fingerprint()
    assert replace(base, seed=1).fingerprint() != base.fingerprint()
    assert replace(base, seed=7).same_knobs(base) and not edited.same_knobs(base)
    save_policy(tmp_path / "p.json", edited)
    assert load_policy(tmp_path / "p.json") == edited
    assert "border constant 128" in edited.describe()


@pytest.mark.parametrize("change, message", [
    ({"border": "mirror"}, "border must be one of"),
    ({"border_value": 300}, "border_value"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_border_or_seed_is_refused(change, message):
    data = {**PRESETS["object"].to_json(), **change}
    with pytest.raises(InspectorError, match=message):
        AugmentationPolicy.from_json(data)


# -- the project keeps the seed, border, factor and named presets -------------------------------
def _project(tmp_path):
    from inspector.store.project import Project

    project = Project.create(tmp_path / "proj", "P")
    project.add_class("bottle")
    return project


def test_seed_border_factor_and_named_presets_survive_reopening_the_project(tmp_path):
    from inspector.store.project import Project

    project = _project(tmp_path)
    policy = replace(PRESETS["object"], seed=1234, border="edge", name="rim-safe")
    project.save_policy("bottle", policy.to_json())
    project.set_aug_factor("bottle", 8)
    project.save_policy_preset("Rim safe", replace(policy, border="constant", border_value=90).to_json())
    project.save_policy_preset("wide shift", replace(policy, translate=Translate(40, 0)).to_json())
    project.close()

    again = Project.open(tmp_path / "proj")
    stored = AugmentationPolicy.from_json(again.classes["bottle"].policy)
    assert stored == policy and stored.seed == 1234 and stored.border == "edge"
    assert again.classes["bottle"].aug_factor == 8
    presets = again.policy_presets()
    assert list(presets) == ["Rim safe", "wide shift"]
    rim = AugmentationPolicy.from_json(presets["Rim safe"])
    assert rim.name == "Rim safe" and rim.border == "constant" and rim.border_value == 90 and rim.seed == 1234
    assert AugmentationPolicy.from_json(presets["wide shift"]).translate == Translate(40, 0)
    # Case-insensitive names: saving "rim SAFE" replaces the preset, deleting removes it.
    again.save_policy_preset("rim SAFE", policy.to_json())
    assert list(again.policy_presets()) == ["rim SAFE", "wide shift"]
    again.delete_policy_preset("Rim safe")
    assert list(again.policy_presets()) == ["wide shift"]
    again.close()


def test_preset_names_are_checked_and_damaged_preset_files_are_reported(tmp_path):
    project = _project(tmp_path)
    with pytest.raises(InspectorError, match="built-in"):
        project.save_policy_preset("Metal nut", PRESETS["object"].to_json())
    with pytest.raises(InspectorError):
        project.save_policy_preset("   ", PRESETS["object"].to_json())
    folder = project.root / "policies" / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.json").write_text("{not json")
    project.save_policy_preset("good one", PRESETS["object"].to_json())
    assert list(project.policy_presets()) == ["good one"]
    assert any("broken.json" in problem for problem in project.problems)
    with pytest.raises(InspectorError, match="factor"):
        project.set_aug_factor("bottle", -1)
    project.close()


def test_old_project_policy_without_new_fields_loads_with_defaults(tmp_path):
    """A 0.1.0 project: policies/<class>.json at version 1 and no presets folder."""
    from inspector.store.project import Project

    project = _project(tmp_path)
    folder = project.classes["bottle"].folder
    project.close()
    old = {"format": "inspector-augmentation-policy", "version": 1, "name": "custom", "flip_horizontal": True,
           "flip_vertical": False, "translate": {"x": 3, "y": 4}, "rotate": None, "rotate90": False, "zoom": None,
           "add": None, "multiply": [0.8, 1.2]}
    (tmp_path / "proj" / "policies" / f"{folder}.json").write_text(json.dumps(old))
    again = Project.open(tmp_path / "proj")
    policy = AugmentationPolicy.from_json(again.classes["bottle"].policy)
    assert (policy.border, policy.border_value, policy.seed) == ("reflect", 0, 0)
    assert policy.translate == Translate(3, 4) and policy.multiply == Range(0.8, 1.2)
    assert again.policy_presets() == {}
    again.close()
