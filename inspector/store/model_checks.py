"""What a model.json and a detector.json may say: key sets, types, ranges, and sizes backed by bytes.

Called by `model_manifest.read_model_json` for every model, with or without checksums, so that a
hand-edited (re-sealed) model is held to the same rules as one damaged on disk. The key sets are
those the writers produce (FitSettings, Threshold, Detector.save): a missing key is damage, never
a silent default, and an unknown key is refused.
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Optional

from inspector.store.atomic import describe_os_error
from inspector.store.binary_formats import check_faiss, check_npz, check_safetensors
from inspector.types import InspectorError

MODEL_FORMAT = "inspector-model"
DETECTOR_DIR = "detector"
MODEL_FILE = "model.json"
#: Version 2 = with manifest. Version 1 (0.1.0) models load with a warning.
MANIFEST_VERSION = 2
LEGACY_VERSION = 1
#: model.json holds the calibration scores and training names: generous, but bounded.
MAX_JSON_BYTES = 64 << 20
#: Input sizes a model may declare (the extractor allocates image_size^2 per image).
IMAGE_SIZE_RANGE = (16, 2048)
SHA256_HEX = __import__("re").compile(r"^[0-9a-f]{64}$")


def check_regular(path: Path, what: str, limit: Optional[int] = None) -> int:
    """The size of a regular file (lstat: a symlink is refused); InspectorError naming it otherwise."""
    try:
        info = os.lstat(path)
    except FileNotFoundError as exc:
        raise InspectorError(f"Missing {what}: {path}") from exc
    except (OSError, ValueError) as exc:
        raise InspectorError(f"Cannot read {what} {path}: {describe_os_error(exc)}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise InspectorError(f"Refused {what} {path}: it is not a regular file.")
    if limit is not None and info.st_size > limit:
        raise InspectorError(f"Refused {what} {path}: {info.st_size} bytes is more than a model file holds.")
    return info.st_size


def read_json_bounded(path: Path) -> Any:
    """A model's JSON file: a regular file of bounded size, valid UTF-8 JSON."""
    size = check_regular(path, "model file", MAX_JSON_BYTES)
    try:
        with open(path, "rb") as handle:
            data = handle.read(size + 1)
    except OSError as exc:
        raise InspectorError(f"Cannot read {path}: {describe_os_error(exc)}") from exc
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InspectorError(f"Damaged model file {path}: not valid JSON ({exc}).") from exc


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _expect(where: Path, key: str, value: Any, ok: bool, wanted: str) -> None:
    if not ok:
        raise InspectorError(f"{where}: '{key}' must be {wanted}, got {json.dumps(value, default=str)[:60]}.")


def _exact_keys(where: Path, what: str, data: Any, required: set[str], optional: frozenset[str] = frozenset()) -> dict:
    if not isinstance(data, dict):
        raise InspectorError(f"{where}: '{what}' must be a JSON object.")
    missing = sorted(required - set(data))
    unknown = sorted(set(data) - required - optional)
    if missing:
        raise InspectorError(f"{where}: '{what}' lacks the key '{missing[0]}'.")
    if unknown:
        raise InspectorError(f"{where}: '{what}' has an unknown key '{unknown[0]}'.")
    return data


#: The keys every format-2 model.json has; fields added to FitSettings / Threshold later are
#: optional (older files lack them), so a missing key among these is damage, never a default.
SETTINGS_KEYS = frozenset({"backbone", "image_size", "detector", "detector_params", "policy", "aug_factor",
                           "refine_ratio", "refine_detector", "calibration", "calibration_parameter", "seed",
                           "device", "weights_file", "preprocessing"})
THRESHOLD_KEYS = frozenset({"fail", "review", "method", "parameter", "nominal_scores"})


def check_settings(where: Path, settings: Any, legacy: bool) -> None:
    """Types and ranges of the fit settings; no key missing, none that FitSettings does not know."""
    from inspector.pipeline import FitSettings

    known = frozenset(FitSettings.__dataclass_fields__)
    required = SETTINGS_KEYS - {"preprocessing"} if legacy else SETTINGS_KEYS
    _exact_keys(where, "settings", settings, set(required), known - required)
    s = settings
    _expect(where, "settings.backbone", s["backbone"], isinstance(s["backbone"], str) and bool(s["backbone"]), "a name")
    low, high = IMAGE_SIZE_RANGE
    _expect(where, "settings.image_size", s["image_size"], is_count(s["image_size"]) and low <= s["image_size"] <= high,
            f"a whole number of pixels in [{low}, {high}]")
    for key in ("detector", "calibration", "device"):
        _expect(where, f"settings.{key}", s[key], isinstance(s[key], str), "a string")
    for key in ("detector_params",):
        _expect(where, f"settings.{key}", s[key], isinstance(s[key], dict), "an object")
    for key in ("policy", "preprocessing"):
        _expect(where, f"settings.{key}", s.get(key), s.get(key) is None or isinstance(s.get(key), dict), "an object")
    for key in ("refine_detector", "weights_file"):
        _expect(where, f"settings.{key}", s[key], s[key] is None or isinstance(s[key], str), "a string or null")
    for key in ("aug_factor", "seed"):
        _expect(where, f"settings.{key}", s[key], is_count(s[key]), "a whole number >= 0")
    for key in ("refine_ratio", "calibration_parameter"):
        _expect(where, f"settings.{key}", s[key], _is_finite(s[key]), "a finite number")


def check_threshold(where: Path, threshold: Any) -> None:
    """The stored working point: the key set Threshold writes, finite numbers, review <= fail.

    Threshold.LEGACY_KEYS (`defect_scores`, `f1_threshold`: written by earlier versions, never
    filled by a fit) are accepted and ignored, so that models saved before still load.
    """
    from inspector.threshold import LEGACY_KEYS, Threshold

    known = frozenset(Threshold(1.0).to_json()) | LEGACY_KEYS
    t = _exact_keys(where, "threshold", threshold, set(THRESHOLD_KEYS), known - THRESHOLD_KEYS)
    _expect(where, "threshold.fail", t["fail"], _is_finite(t["fail"]), "a finite number")
    _expect(where, "threshold.review", t["review"], t["review"] is None or _is_finite(t["review"]),
            "a finite number or null")
    if t["review"] is not None and t["review"] > t["fail"]:
        raise InspectorError(f"{where}: the REVIEW threshold {t['review']} is above the FAIL threshold {t['fail']}.")
    scores = t["nominal_scores"]
    _expect(where, "threshold.nominal_scores", "[...]", isinstance(scores, list) and all(_is_number(v) for v in scores),
            "a list of numbers")
    _expect(where, "threshold.method", t["method"], isinstance(t["method"], str), "a string")
    _expect(where, "threshold.parameter", t["parameter"], _is_finite(t["parameter"]), "a finite number")


def check_backbone(where: Path, settings: dict, info: dict) -> None:
    """A known backbone or the user's explicit weights file (a regular file); fingerprint required."""
    from inspector.features.backbones import BACKBONES

    fingerprint = info.get("weights_sha256")
    if not (isinstance(fingerprint, str) and SHA256_HEX.match(fingerprint)):
        raise InspectorError(f"{where}: the fingerprint of the backbone weights (info.weights_sha256) is missing "
                             "or invalid, so the weights cannot be checked; refit the model.")
    weights = settings.get("weights_file")
    if weights:
        path = Path(weights)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError as exc:
            raise InspectorError(f"The backbone weights file {path} named in {where} is missing; put it back "
                                 "or refit the model.") from exc
        except (OSError, ValueError) as exc:
            raise InspectorError(f"Cannot read the backbone weights file {path} named in {where}: "
                                 f"{describe_os_error(exc)}") from exc
        if not stat.S_ISREG(mode):
            raise InspectorError(f"Refused the backbone weights file {path} named in {where}: it is not a regular file.")
    elif settings["backbone"] not in BACKBONES:
        raise InspectorError(f"{where}: backbone '{settings['backbone']}' is not a known one "
                             f"({', '.join(BACKBONES)}) and no weights file is given.")


def check_model_meta(folder: Path, meta: Any) -> tuple[dict, bool]:
    """Format, version and types of model.json. Returns (meta, legacy)."""
    where = folder / MODEL_FILE
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise InspectorError(f"{where} is not an Inspector model.")
    version = meta.get("version")
    _expect(where, "version", version, is_count(version) and version >= LEGACY_VERSION, "a format version")
    if version > MANIFEST_VERSION:
        raise InspectorError(f"{folder} was saved by a newer Inspector (model format {version}).")
    legacy = version == LEGACY_VERSION
    keys = {"format", "version", "model_id", "inspector_version", "settings", "threshold", "info"}
    _exact_keys(where, "model.json", meta, keys if legacy else keys | {"files", "checksum"})
    _expect(where, "model_id", meta["model_id"], isinstance(meta["model_id"], str) and bool(meta["model_id"]), "a string")
    _expect(where, "inspector_version", meta["inspector_version"], isinstance(meta["inspector_version"], str), "a string")
    _expect(where, "info", meta["info"], isinstance(meta["info"], dict), "an object")
    check_settings(where, meta["settings"], legacy)
    check_threshold(where, meta["threshold"])
    check_backbone(where, meta["settings"], meta["info"])
    return meta, legacy



# -- the detector's files -------------------------------------------------------------------
DETECTOR_KEYS = {"format", "version", "detector", "params", "state", "arrays"}


def check_detector_files(folder: Path, settings: dict, legacy: bool = False) -> None:
    """detector.json's types and key set, then every binary file's headers against its bytes."""
    from inspector.detectors.registry import available_detectors

    detector_dir = folder / DETECTOR_DIR
    where = detector_dir / "detector.json"
    meta = _exact_keys(where, "detector.json", read_json_bounded(where), DETECTOR_KEYS)
    _expect(where, "version", meta["version"], is_count(meta["version"]), "a format version")
    name = meta["detector"]
    registry = available_detectors()
    _expect(where, "detector", name, isinstance(name, str) and name in registry, "a known detector")
    if name != settings["detector"]:
        raise InspectorError(f"{where} holds a {name} detector; model.json says {settings['detector']}.")
    expected_params = frozenset(registry[name]._param_names())
    if legacy:  # 0.1.0 wrote the parameters it had; later ones take their defaults, as 0.1.0 did
        _exact_keys(where, "params", meta["params"], set(), expected_params)
    else:
        _exact_keys(where, "params", meta["params"], set(expected_params))
    state = meta["state"]
    _expect(where, "state", "...", isinstance(state, dict), "an object")
    arrays = meta["arrays"]
    _expect(where, "arrays", "{...}", isinstance(arrays, dict) and all(
        isinstance(v, list) and all(is_count(d) for d in v) for v in arrays.values()), "an object of shapes")
    check_npz(detector_dir / "detector.npz", arrays)
    expected = _input_size(settings)
    if "input_size" in state and expected is not None and state["input_size"] != expected:
        raise InspectorError(f"{where}: the detector was fitted at input size {state['input_size']}, "
                             f"model.json's settings give {expected[0]}x{expected[1]}.")
    grid = state.get("grid")
    if grid is not None:
        _expect(where, "state.grid", grid, isinstance(grid, list) and len(grid) in (2, 3) and all(
            is_count(v) and 0 < v <= 1 << 16 for v in grid), "a list of 2 or 3 sizes")
    index_file = state.get("index_file")
    if index_file is not None:
        _check_index_file(detector_dir, where, index_file, state)
    weights_file = state.get("weights_file")
    if weights_file is not None:
        _check_weights_file(detector_dir, where, weights_file, state)


def _input_size(settings: dict) -> Optional[list[int]]:
    """The backbone input (height, width) the settings give, or None when they do not fix one."""
    from inspector.features.preprocess import input_geometry

    try:
        return [int(v) for v in input_geometry(settings.get("preprocessing"), settings["image_size"])]
    except InspectorError:
        return None


def _named_file(detector_dir: Path, where: Path, name: Any, key: str) -> tuple[Path, bytes]:
    _expect(where, f"state.{key}", name, isinstance(name, str) and "/" not in name and "\\" not in name
            and name not in ("", ".", ".."), "a file name")
    path = detector_dir / name
    size = check_regular(path, "model file")
    try:
        return path, path.read_bytes()[:size]
    except OSError as exc:
        raise InspectorError(f"Cannot read {path}: {describe_os_error(exc)}") from exc


def _check_index_file(detector_dir: Path, where: Path, name: Any, state: dict) -> None:
    """PatchCore's faiss index: the stored bank size and dimension must be the file's."""
    path, data = _named_file(detector_dir, where, name, "index_file")
    bank = state.get("bank_size")
    _expect(where, "state.bank_size", bank, is_count(bank), "a whole number")
    dim = state["grid"][2] if isinstance(state.get("grid"), list) and len(state["grid"]) == 3 else None
    check_faiss(path, data, dim, bank)


def _check_weights_file(detector_dir: Path, where: Path, name: Any, state: dict) -> None:
    """SimpleNet's safetensors: float tensors only, and the sizes in JSON backed by the file."""
    path, data = _named_file(detector_dir, where, name, "weights_file")
    shapes = check_safetensors(path, data)
    hidden = state.get("hidden")
    _expect(where, "state.hidden", hidden, hidden is None or (is_count(hidden) and hidden > 0), "a whole number > 0")
    dim = state["grid"][2] if isinstance(state.get("grid"), list) and len(state["grid"]) == 3 else None
    if hidden is not None and dim is not None:
        stored = sum(math.prod(s) for s in shapes.values())
        if dim * dim + dim * hidden > stored:
            raise InspectorError(f"{where}: a network of width {dim} and hidden size {hidden} is larger than "
                                 f"the {stored} weights stored in {path}.")
