"""A saved model is a manifest: model.json lists every file of the folder with its size and SHA-256.

Models are copied between machines by hand and judge parts for hours with nobody watching, so
a model folder is untrusted input. Loading (`read_model_json`) refuses, with one line naming
the file, anything that is not exactly what was saved:

- model.json carries a checksum of its own content and the size + SHA-256 of every other file;
  one flipped bit anywhere is caught before any array is read;
- only regular files inside the folder are read: no symlinks (in or out), devices or FIFOs;
- the JSON is type-checked key by key (the key sets are those the writers produce), so a
  missing key, an unknown key or a string where a number belongs is a clean error;
- declared shapes and dtypes are checked against the bytes on disk before anything is
  allocated (`binary_formats`), and sizes stored in JSON must be backed by those bytes;
- the backbone must be a known one, or the user's explicit weights file (a regular file), and
  the weights fingerprint is always required.

Models saved by 0.1.0 (format version 1) have no manifest. They are still accepted, after every
check that does not need checksums, with a warning that says to re-save them
(`upgrade_model_folder`): refusing them would stop a running line at the first update.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from inspector.store.atomic import describe_os_error, json_default, write_json_atomic
from inspector.store.binary_formats import check_faiss, check_npz, check_safetensors
from inspector.types import Cancelled, InspectorError

_LOG = logging.getLogger(__name__)

MODEL_FILE = "model.json"
DETECTOR_DIR = "detector"
MODEL_FORMAT = "inspector-model"
#: Version 2 = with manifest. Version 1 (0.1.0) models load with a warning.
MANIFEST_VERSION = 2
LEGACY_VERSION = 1
#: model.json holds the calibration scores and training names: generous, but bounded.
MAX_JSON_BYTES = 64 << 20
#: Files that operating systems drop into folders copied by hand; never read, so ignored.
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", "ehthumbs.db"})
#: Input sizes a model may declare (the extractor allocates image_size^2 per image).
IMAGE_SIZE_RANGE = (16, 2048)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _sha256_file(path: Path, expected_size: int) -> str:
    """SHA-256 of a regular file, reading at most expected_size + 1 bytes (it cannot grow the read)."""
    digest = hashlib.sha256()
    remaining = expected_size + 1
    with open(path, "rb") as handle:
        while remaining > 0:
            block = handle.read(min(1 << 20, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


def content_checksum(meta: dict[str, Any]) -> str:
    """SHA-256 of model.json's content without its own `checksum` key, in canonical JSON."""
    body = {k: v for k, v in meta.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=json_default)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# -- the folder: regular files only -----------------------------------------------------------
def model_files(folder: Path) -> dict[str, Path]:
    """Every file of a model folder by its relative '/'-path, model.json left out.

    Refuses symlinks (of files or folders), devices, FIFOs and sockets anywhere in the folder:
    only regular files inside it are ever read. Dot-files and OS thumbnails are ignored.
    """
    found: dict[str, Path] = {}
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            raise InspectorError(f"Cannot read the model folder {current}: {describe_os_error(exc)}") from exc
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise InspectorError(f"Refused model file {path}: it is a symbolic link (a model folder holds "
                                     "only its own regular files).")
            if stat.S_ISDIR(mode):
                pending.append(path)
            elif stat.S_ISREG(mode):
                relative = path.relative_to(folder).as_posix()
                if relative != MODEL_FILE:
                    found[relative] = path
            else:
                raise InspectorError(f"Refused model file {path}: it is not a regular file (a device, FIFO or socket).")
    return found


def build_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} of every file of a freshly written model folder."""
    manifest = {}
    for relative, path in model_files(folder).items():
        size = path.stat().st_size
        manifest[relative] = {"size": size, "sha256": _sha256_file(path, size)}
    return manifest


def write_model_json(folder: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write model.json for the files already in `folder`: the manifest, then the content checksum.

    Called last when saving, inside the staging folder of `atomic_directory`.
    """
    folder = Path(folder)
    meta = dict(meta, version=MANIFEST_VERSION, files=build_manifest(folder))
    meta.pop("checksum", None)
    meta["checksum"] = content_checksum(json.loads(json.dumps(meta, default=json_default)))
    write_json_atomic(folder / MODEL_FILE, meta)


def _check_regular(path: Path, what: str, limit: Optional[int] = None) -> int:
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


def verify_manifest(folder: Path, manifest: Any) -> None:
    """Every listed file exists with its size and SHA-256, and every file present is listed."""
    where = folder / MODEL_FILE
    if not isinstance(manifest, dict) or not manifest:
        raise InspectorError(f"{where}: the list of model files is missing or invalid.")
    present = model_files(folder)
    for relative, entry in manifest.items():
        if not (isinstance(relative, str) and isinstance(entry, dict) and set(entry) == {"size", "sha256"}
                and _is_count(entry["size"]) and isinstance(entry["sha256"], str) and _SHA256.match(entry["sha256"])):
            raise InspectorError(f"{where}: the entry for '{relative}' in the list of model files is invalid.")
        if relative not in present:
            raise InspectorError(f"Missing model file: {folder / relative} (listed in {where}).")
        path = present[relative]
        size = _check_regular(path, "model file")
        if size != entry["size"]:
            raise InspectorError(f"Damaged model file {path}: {size} bytes, {entry['size']} were saved.")
        if _sha256_file(path, size) != entry["sha256"]:
            raise InspectorError(f"Damaged model file {path}: its SHA-256 checksum does not match the saved one.")
    unlisted = sorted(set(present) - set(manifest))
    if unlisted:
        raise InspectorError(f"Refused model folder {folder}: {folder / unlisted[0]} is not one of its files "
                             f"(not listed in {where}).")


# -- model.json content ---------------------------------------------------------------------
def _is_count(value: Any) -> bool:
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
THRESHOLD_KEYS = frozenset({"fail", "review", "method", "parameter", "nominal_scores", "defect_scores",
                            "f1_threshold"})


def check_settings(where: Path, settings: Any, legacy: bool) -> None:
    """Types and ranges of the fit settings; no key missing, none that FitSettings does not know."""
    from inspector.pipeline import FitSettings

    known = frozenset(FitSettings.__dataclass_fields__)
    required = SETTINGS_KEYS - {"preprocessing"} if legacy else SETTINGS_KEYS
    _exact_keys(where, "settings", settings, set(required), known - required)
    s = settings
    _expect(where, "settings.backbone", s["backbone"], isinstance(s["backbone"], str) and bool(s["backbone"]), "a name")
    low, high = IMAGE_SIZE_RANGE
    _expect(where, "settings.image_size", s["image_size"], _is_count(s["image_size"]) and low <= s["image_size"] <= high,
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
        _expect(where, f"settings.{key}", s[key], _is_count(s[key]), "a whole number >= 0")
    for key in ("refine_ratio", "calibration_parameter"):
        _expect(where, f"settings.{key}", s[key], _is_finite(s[key]), "a finite number")


def check_threshold(where: Path, threshold: Any) -> None:
    """The stored working point: the key set Threshold writes, finite numbers, review <= fail."""
    from inspector.threshold import Threshold

    known = frozenset(Threshold(1.0).to_json())
    t = _exact_keys(where, "threshold", threshold, set(THRESHOLD_KEYS), known - THRESHOLD_KEYS)
    _expect(where, "threshold.fail", t["fail"], _is_finite(t["fail"]), "a finite number")
    for key in ("review", "f1_threshold"):
        if key in t:
            _expect(where, f"threshold.{key}", t[key], t[key] is None or _is_finite(t[key]), "a finite number or null")
    if t.get("review") is not None and t["review"] > t["fail"]:
        raise InspectorError(f"{where}: the REVIEW threshold {t['review']} is above the FAIL threshold {t['fail']}.")
    for key in ("nominal_scores", "defect_scores"):
        if key in t:
            _expect(where, f"threshold.{key}", "[...]", isinstance(t[key], list) and all(_is_number(v) for v in t[key]),
                    "a list of numbers")
    if "method" in t:
        _expect(where, "threshold.method", t["method"], isinstance(t["method"], str), "a string")
    if "parameter" in t:
        _expect(where, "threshold.parameter", t["parameter"], _is_finite(t["parameter"]), "a finite number")


def check_backbone(where: Path, settings: dict, info: dict) -> None:
    """A known backbone or the user's explicit weights file (a regular file); fingerprint required."""
    from inspector.features.backbones import BACKBONES

    fingerprint = info.get("weights_sha256")
    if not (isinstance(fingerprint, str) and _SHA256.match(fingerprint)):
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
    _expect(where, "version", version, _is_count(version) and version >= LEGACY_VERSION, "a format version")
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


def _read_json_bounded(path: Path) -> Any:
    size = _check_regular(path, "model file", MAX_JSON_BYTES)
    try:
        with open(path, "rb") as handle:
            data = handle.read(size + 1)
    except OSError as exc:
        raise InspectorError(f"Cannot read {path}: {describe_os_error(exc)}") from exc
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InspectorError(f"Damaged model file {path}: not valid JSON ({exc}).") from exc


# -- the detector's files -------------------------------------------------------------------
DETECTOR_KEYS = {"format", "version", "detector", "params", "state", "arrays"}


def check_detector_files(folder: Path, settings: dict) -> None:
    """detector.json's types and key set, then every binary file's headers against its bytes."""
    from inspector.detectors.registry import available_detectors

    detector_dir = folder / DETECTOR_DIR
    where = detector_dir / "detector.json"
    meta = _exact_keys(where, "detector.json", _read_json_bounded(where), DETECTOR_KEYS)
    _expect(where, "version", meta["version"], _is_count(meta["version"]), "a format version")
    name = meta["detector"]
    registry = available_detectors()
    _expect(where, "detector", name, isinstance(name, str) and name in registry, "a known detector")
    if name != settings["detector"]:
        raise InspectorError(f"{where} holds a {name} detector; model.json says {settings['detector']}.")
    expected_params = set(registry[name]._param_names())
    _exact_keys(where, "params", meta["params"], expected_params)
    state = meta["state"]
    _expect(where, "state", "...", isinstance(state, dict), "an object")
    arrays = meta["arrays"]
    _expect(where, "arrays", "{...}", isinstance(arrays, dict) and all(
        isinstance(v, list) and all(_is_count(d) for d in v) for v in arrays.values()), "an object of shapes")
    check_npz(detector_dir / "detector.npz", arrays)
    from inspector.features.preprocess import input_geometry

    height, width = input_geometry(settings.get("preprocessing"), settings["image_size"])
    if "input_size" in state and state["input_size"] != [height, width]:
        raise InspectorError(f"{where}: the detector was fitted at input size {state['input_size']}, "
                             f"model.json says {height}x{width}.")
    grid = state.get("grid")
    if grid is not None:
        _expect(where, "state.grid", grid, isinstance(grid, list) and len(grid) in (2, 3) and all(
            _is_count(v) and 0 < v <= 1 << 16 for v in grid), "a list of 2 or 3 sizes")
    index_file = state.get("index_file")
    if index_file is not None:
        _check_index_file(detector_dir, where, index_file, state)
    weights_file = state.get("weights_file")
    if weights_file is not None:
        _check_weights_file(detector_dir, where, weights_file, state)


def _named_file(detector_dir: Path, where: Path, name: Any, key: str) -> tuple[Path, bytes]:
    _expect(where, f"state.{key}", name, isinstance(name, str) and "/" not in name and "\\" not in name
            and name not in ("", ".", ".."), "a file name")
    path = detector_dir / name
    size = _check_regular(path, "model file")
    try:
        return path, path.read_bytes()[:size]
    except OSError as exc:
        raise InspectorError(f"Cannot read {path}: {describe_os_error(exc)}") from exc


def _check_index_file(detector_dir: Path, where: Path, name: Any, state: dict) -> None:
    """PatchCore's faiss index: the stored bank size and dimension must be the file's."""
    path, data = _named_file(detector_dir, where, name, "index_file")
    bank = state.get("bank_size")
    _expect(where, "state.bank_size", bank, _is_count(bank), "a whole number")
    dim = state["grid"][2] if isinstance(state.get("grid"), list) and len(state["grid"]) == 3 else None
    check_faiss(path, data, dim, bank)


def _check_weights_file(detector_dir: Path, where: Path, name: Any, state: dict) -> None:
    """SimpleNet's safetensors: float tensors only, and the sizes in JSON backed by the file."""
    path, data = _named_file(detector_dir, where, name, "weights_file")
    shapes = check_safetensors(path, data)
    hidden = state.get("hidden")
    _expect(where, "state.hidden", hidden, hidden is None or (_is_count(hidden) and hidden > 0), "a whole number > 0")
    dim = state["grid"][2] if isinstance(state.get("grid"), list) and len(state["grid"]) == 3 else None
    if hidden is not None and dim is not None:
        stored = sum(math.prod(s) for s in shapes.values())
        if dim * dim + dim * hidden > stored:
            raise InspectorError(f"{where}: a network of width {dim} and hidden size {hidden} is larger than "
                                 f"the {stored} weights stored in {path}.")


# -- loading ----------------------------------------------------------------------------------
def read_model_json(folder: str | os.PathLike) -> tuple[dict[str, Any], bool]:
    """The checked model.json of a model folder, after verifying every file. Returns (meta, legacy).

    Raises InspectorError (one line, naming the file) for anything damaged, edited or unsafe.
    """
    folder = Path(folder)
    try:
        if not folder.is_dir():
            raise InspectorError(f"Model folder not found: {folder}")
        meta = _read_json_bounded(folder / MODEL_FILE)
        meta, legacy = check_model_meta(folder, meta)
        if legacy:
            model_files(folder)  # still: regular files only
            _LOG.warning("Model %s was saved by Inspector 0.1.0 without checksums, so damage to its files cannot "
                         "be detected; re-save it to add them (inspector.store.model_manifest.upgrade_model_folder).",
                         folder)
        else:
            if meta["checksum"] != content_checksum(meta):
                raise InspectorError(f"Damaged model file {folder / MODEL_FILE}: its content does not match its checksum.")
            verify_manifest(folder, meta["files"])
        check_detector_files(folder, meta["settings"])
        return meta, legacy
    except (InspectorError, Cancelled):
        raise
    except RecursionError as exc:
        raise InspectorError(f"Damaged model {folder}: nested too deeply.") from exc
    except (OSError, ValueError) as exc:
        raise InspectorError(f"Cannot read the model {folder}: {describe_os_error(exc)}") from exc


@contextmanager
def loading(folder: str | os.PathLike) -> Iterator[None]:
    """Turn any unexpected failure while a checked model is built into one clean line naming it.

    The checks above should leave nothing for this to catch; it is the last line of defence
    against a traceback reaching an operator (and against a half-built model being used).
    """
    try:
        yield
    except (InspectorError, Cancelled, KeyboardInterrupt):
        raise
    except MemoryError as exc:
        raise InspectorError(f"Refused the model {folder}: it asks for more memory than is available.") from exc
    except Exception as exc:  # noqa: BLE001 - a damaged model must never surface as a traceback
        raise InspectorError(f"Damaged model {folder}: {type(exc).__name__}: {exc}") from exc


def reseal_model_folder(folder: str | os.PathLike) -> None:
    """Record the folder's current files in its model.json, as if just saved.

    For deliberate edits only (tests, the fuzz harness's forged cases): it makes damage
    undetectable by checksum, so that the checks behind the checksums can be exercised.
    """
    folder = Path(folder)
    meta = _read_json_bounded(folder / MODEL_FILE)
    if not isinstance(meta, dict):
        raise InspectorError(f"{folder / MODEL_FILE} is not an Inspector model.")
    write_model_json(folder, {k: v for k, v in meta.items() if k not in ("files", "checksum")})


def upgrade_model_folder(folder: str | os.PathLike) -> Path:
    """Re-save a model (e.g. a 0.1.0 one) in place so that it carries a manifest. Returns the folder."""
    from inspector.pipeline import InspectionModel

    model = InspectionModel.load(folder)
    return model.save(folder)


def _main(argv: Optional[list[str]] = None) -> int:
    """`python -m inspector.store.model_manifest upgrade|verify FOLDER...`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m inspector.store.model_manifest")
    parser.add_argument("action", choices=("upgrade", "verify"))
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args(argv)
    status = 0
    for folder in args.folders:
        try:
            if args.action == "upgrade":
                upgrade_model_folder(folder)
            else:
                read_model_json(folder)
            print(f"{folder}: ok")
        except InspectorError as exc:
            print(f"{folder}: {exc}")
            status = 1
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
