"""An exported model's manifest.json: written by `inspector export`, checked on every load.

An export folder is copied to stations by hand, so it is untrusted input, held to the rules of a
model folder (store/model_manifest.py), with the same building blocks:

- manifest.json is a bounded, regular JSON file with exactly the keys written here, each of its
  type and range, and a checksum of its own content (`content_checksum`);
- it lists every other file of the folder with its size and SHA-256; only regular files inside
  the folder are read (`model_files`: no symlinks in or out, no devices, no FIFOs), and a file
  that is not listed is refused;
- the inner model folder's own model.json manifest is verified too (`verify_manifest`).

Importing this module never imports torch: the station's torch-free path uses it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from inspector.store.atomic import json_default, write_json_atomic
from inspector.store.model_checks import (
    SHA256_HEX,
    check_regular,
    is_count,
    read_json_bounded,
)
from inspector.store.model_manifest import build_manifest, content_checksum, verify_manifest
from inspector.types import InspectorError

EXPORT_FORMAT = "inspector-onnx-export"
#: 1: no file list (refused now: re-export); 2: files + checksum, SimpleNet head graph.
EXPORT_VERSION = 2
MANIFEST_FILE = "manifest.json"
MODEL_FOLDER = "model"
BACKBONE_FILE = "backbone.onnx"
HEAD_FILE = "head.onnx"
MANIFEST_KEYS = frozenset({"format", "version", "model", "model_id", "detector", "features", "weights_sha256",
                           "backbone_graph", "head_graph", "files", "checksum"})
FEATURE_KEYS = frozenset({"backbone", "image_size", "weights_file", "preprocessing"})
GRAPH_KEYS = frozenset({"file", "sha256", "layers", "input", "outputs"})
#: Backbone stages a graph may name (timm EfficientNet / ResNet have at most 7).
MAX_STAGE = 16


def _fail(where: Path, key: str, value: Any, wanted: str) -> InspectorError:
    return InspectorError(f"{where}: '{key}' must be {wanted}, got {json.dumps(value, default=str)[:60]}.")


def _keys(where: Path, what: str, data: Any, keys: frozenset[str]) -> dict:
    if not isinstance(data, dict):
        raise InspectorError(f"{where}: '{what}' must be a JSON object.")
    missing, unknown = sorted(keys - set(data)), sorted(set(data) - keys)
    if missing:
        raise InspectorError(f"{where}: '{what}' lacks the key '{missing[0]}'.")
    if unknown:
        raise InspectorError(f"{where}: '{what}' has an unknown key '{unknown[0]}'.")
    return data


def _file_name(where: Path, key: str, value: Any) -> str:
    if not (isinstance(value, str) and value and "/" not in value and "\\" not in value and value not in (".", "..")
            and not value.startswith(".")):
        raise _fail(where, key, value, "a file name inside the export folder")
    return value


BACKBONE_INPUT = "images: float32 (N, 3, H, W) in [0, 1]"
HEAD_INPUT = "patches: float32 (M, D), standardised patch features"


def graph_outputs(key: str, layers: list[int]) -> list[str]:
    """The output names a graph of `layers` has: `stage{i}` per stage, or SimpleNet's `logits`."""
    return [f"stage{layer}" for layer in layers] if key == "backbone_graph" else ["logits"]


def _check_graph(where: Path, key: str, graph: Any, default_file: str) -> dict:
    g = _keys(where, key, graph, GRAPH_KEYS)
    _file_name(where, f"{key}.file", g["file"])
    if g["file"] != default_file:
        raise _fail(where, f"{key}.file", g["file"], f"'{default_file}'")
    if not (isinstance(g["sha256"], str) and SHA256_HEX.match(g["sha256"])):
        raise _fail(where, f"{key}.sha256", g["sha256"], "a SHA-256 digest")
    layers = g["layers"]
    if not (isinstance(layers, list) and layers and all(is_count(v) and v <= MAX_STAGE for v in layers)
            and layers == sorted(set(layers))):
        raise _fail(where, f"{key}.layers", layers, "a sorted list of backbone stages")
    if g["outputs"] != graph_outputs(key, layers):
        raise _fail(where, f"{key}.outputs", g["outputs"], f"{graph_outputs(key, layers)}")
    wanted = BACKBONE_INPUT if key == "backbone_graph" else HEAD_INPUT
    if g["input"] != wanted:
        raise _fail(where, f"{key}.input", g["input"], f"'{wanted}'")
    return g


def check_manifest(folder: Path, manifest: Any) -> dict:
    """Keys, types and ranges of manifest.json (not yet its files). Returns it."""
    where = folder / MANIFEST_FILE
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise InspectorError(f"{where} is not an Inspector ONNX export.")
    version = manifest.get("version")
    if not is_count(version):
        raise _fail(where, "version", version, "an export format version")
    if version > EXPORT_VERSION:
        raise InspectorError(f"{folder} was exported by a newer Inspector (export format {version}).")
    if version < EXPORT_VERSION:
        raise InspectorError(f"{folder} is an export of format {version}, without a list of checked files; "
                             "export the model again with `inspector export`.")
    m = _keys(where, "manifest.json", manifest, MANIFEST_KEYS)
    if m["model"] != MODEL_FOLDER:
        raise _fail(where, "model", m["model"], f"'{MODEL_FOLDER}'")
    for key in ("model_id", "detector"):
        if not (isinstance(m[key], str) and m[key]):
            raise _fail(where, key, m[key], "a non-empty string")
    if not (isinstance(m["weights_sha256"], str) and SHA256_HEX.match(m["weights_sha256"])):
        raise _fail(where, "weights_sha256", m["weights_sha256"], "a SHA-256 digest")
    f = _keys(where, "features", m["features"], FEATURE_KEYS)
    if not (isinstance(f["backbone"], str) and f["backbone"]):
        raise _fail(where, "features.backbone", f["backbone"], "a name")
    if not (is_count(f["image_size"]) and 32 <= f["image_size"] <= 1024):
        raise _fail(where, "features.image_size", f["image_size"], "a whole number of pixels in [32, 1024]")
    if not (f["weights_file"] is None or isinstance(f["weights_file"], str)):
        raise _fail(where, "features.weights_file", f["weights_file"], "a string or null")
    if not isinstance(f["preprocessing"], dict):
        raise _fail(where, "features.preprocessing", f["preprocessing"], "an object")
    _check_graph(where, "backbone_graph", m["backbone_graph"], BACKBONE_FILE)
    if m["head_graph"] is not None:
        _check_graph(where, "head_graph", m["head_graph"], HEAD_FILE)
    if not (isinstance(m["checksum"], str) and SHA256_HEX.match(m["checksum"])):
        raise _fail(where, "checksum", m["checksum"], "a SHA-256 digest")
    return m


def file_list(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {size, sha256}} of every file of a freshly written export, manifest.json left out."""
    return build_manifest(folder, leave_out=frozenset({MANIFEST_FILE}))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json last, with the list of the folder's files and its own checksum."""
    body = dict(manifest, format=EXPORT_FORMAT, version=EXPORT_VERSION, model=MODEL_FOLDER, files=file_list(folder))
    body.pop("checksum", None)
    body["checksum"] = content_checksum(json.loads(json.dumps(body, default=json_default)))
    write_json_atomic(folder / MANIFEST_FILE, body)


def verify_files(folder: Path, listing: Any) -> dict[str, Path]:
    """Every listed file is there with its size and SHA-256, and nothing else is. Returns the paths."""
    return verify_manifest(folder, listing, listed_in=MANIFEST_FILE, kind="export", written="exported")


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The checked manifest of an export folder after verifying every file it lists (one-line errors)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InspectorError(f"Export folder not found: {folder}")
    where = folder / MANIFEST_FILE
    manifest = check_manifest(folder, read_json_bounded(where))
    if manifest["checksum"] != content_checksum(manifest):
        raise InspectorError(f"Damaged export file {where}: its content does not match its checksum.")
    verify_files(folder, manifest["files"])
    for key, name in (("backbone_graph", BACKBONE_FILE), ("head_graph", HEAD_FILE)):
        graph = manifest[key]
        if graph is not None and manifest["files"].get(name, {}).get("sha256") != graph["sha256"]:
            raise InspectorError(f"Damaged export {folder}: {name} does not match its fingerprint in {where}.")
    return manifest


def read_graph(folder: Path, manifest: dict[str, Any], key: str) -> bytes:
    """The bytes of a graph named in a verified manifest, checked against its SHA-256 once more."""
    entry = manifest[key]
    path = folder / entry["file"]
    size = check_regular(path, "export file")
    with open(path, "rb") as handle:
        data = handle.read(size + 1)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise InspectorError(f"Damaged export file {path}: it does not match its fingerprint in manifest.json.")
    return data


def is_export(folder: str | Path) -> bool:
    """Whether `folder` holds a manifest.json claiming to be an export (checked fully on load)."""
    manifest = Path(folder) / MANIFEST_FILE
    try:
        if not manifest.is_file() or manifest.stat().st_size > 1 << 26:
            return False
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == EXPORT_FORMAT
    except (OSError, ValueError, AttributeError):
        return False
