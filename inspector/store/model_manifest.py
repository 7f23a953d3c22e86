"""A saved model is a manifest: model.json lists every file of the folder with its size and SHA-256.

Models are copied between machines by hand and judge parts for hours with nobody watching, so
a model folder is untrusted input. Loading (`read_model_json`) refuses, with one line naming
the file, anything that is not exactly what was saved:

- model.json carries a checksum of its own content and the size + SHA-256 of every other file;
  one flipped bit anywhere is caught before any array is read;
- only regular files inside the folder are read: no symlinks (in or out), devices or FIFOs;
- the JSON is type-checked key by key (`model_checks`: the key sets are those the writers
  produce), so a missing key, an unknown key or a string where a number belongs is a clean error;
- declared shapes and dtypes are checked against the bytes on disk before anything is
  allocated (`binary_formats`), and sizes stored in JSON must be backed by those bytes;
- the backbone must be a known one, or the user's explicit weights file (a regular file), and
  the weights fingerprint is always required.

`read_model` / `load_detector` are the only ways a saved detector is built: `Detector` itself
has no public loader, so no caller can skip these checks.

Models saved by 0.1.0 (format version 1) have no manifest. They are still accepted, after every
check that does not need checksums, with a warning that says to re-save them
(`upgrade_model_folder`): refusing them would stop a running line at the first update.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from inspector.store.atomic import describe_os_error, json_default, write_json_atomic
from inspector.store.model_checks import (
    DETECTOR_DIR,
    LEGACY_VERSION,
    MANIFEST_VERSION,
    MODEL_FILE,
    SHA256_HEX,
    check_detector_files,
    check_model_meta,
    check_regular,
    is_count,
    read_json_bounded,
)
from inspector.types import Cancelled, InspectorError

_LOG = logging.getLogger(__name__)

#: Files that operating systems drop into folders copied by hand; never read, so ignored.
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", "ehthumbs.db"})


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


def build_manifest(folder: Path, leave_out: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} of every file of a freshly written model (or export) folder,
    except those in `leave_out` (the manifest that will hold the list)."""
    manifest = {}
    for relative, path in model_files(folder).items():
        if relative not in leave_out:
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


def verify_manifest(folder: Path, manifest: Any, listed_in: str = MODEL_FILE, kind: str = "model",
                    written: str = "saved") -> dict[str, Path]:
    """Every listed file exists with its size and SHA-256, and every file present is listed.

    Also checks an export folder (`listed_in` its manifest.json, `kind` "export", `written`
    "exported"), so the two manifests are verified the same way. Returns the listed paths.
    """
    where = folder / listed_in
    if not isinstance(manifest, dict) or not manifest:
        raise InspectorError(f"{where}: the list of {kind} files is missing or invalid.")
    present = {relative: path for relative, path in model_files(folder).items() if relative != listed_in}
    for relative, entry in manifest.items():
        if not (isinstance(relative, str) and isinstance(entry, dict) and set(entry) == {"size", "sha256"}
                and is_count(entry["size"]) and isinstance(entry["sha256"], str) and SHA256_HEX.match(entry["sha256"])):
            raise InspectorError(f"{where}: the entry for '{relative}' in the list of {kind} files is invalid.")
        if relative not in present:
            raise InspectorError(f"Missing {kind} file: {folder / relative} (listed in {where}).")
        path = present[relative]
        size = check_regular(path, f"{kind} file")
        if size != entry["size"]:
            raise InspectorError(f"Damaged {kind} file {path}: {size} bytes, {entry['size']} were {written}.")
        if _sha256_file(path, size) != entry["sha256"]:
            raise InspectorError(f"Damaged {kind} file {path}: its SHA-256 checksum does not match the {written} one.")
    unlisted = sorted(set(present) - set(manifest))
    if unlisted:
        refused = "model folder" if kind == "model" else kind
        raise InspectorError(f"Refused {refused} {folder}: {folder / unlisted[0]} is not one of its files "
                             f"(not listed in {where}).")
    return {relative: present[relative] for relative in manifest}


# -- loading ----------------------------------------------------------------------------------
def read_model_json(folder: str | os.PathLike) -> tuple[dict[str, Any], bool]:
    """The checked model.json of a model folder, after verifying every file. Returns (meta, legacy).

    Raises InspectorError (one line, naming the file) for anything damaged, edited or unsafe.
    """
    folder = Path(folder)
    try:
        if not folder.is_dir():
            raise InspectorError(f"Model folder not found: {folder}")
        meta = read_json_bounded(folder / MODEL_FILE)
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
        check_detector_files(folder, meta["settings"], legacy)
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


def read_model(folder: str | os.PathLike) -> tuple[dict[str, Any], bool, Any]:
    """A model folder verified (`read_model_json`), then its detector built. Returns (meta, legacy, detector).

    The only code that builds a saved detector (`Detector._load_unchecked`): nothing is read
    into a detector before every file of the folder has passed the checks.
    """
    from inspector.detectors.base import Detector

    folder = Path(folder)
    meta, legacy = read_model_json(folder)
    with loading(folder):
        return meta, legacy, Detector._load_unchecked(folder / DETECTOR_DIR)


def load_detector(folder: str | os.PathLike) -> Any:
    """The checked way to load a saved detector on its own: `folder` is a model folder or its
    `detector/` folder. A detector folder outside a model folder has no manifest to be verified
    against, so it is refused."""
    folder = Path(folder)
    model = folder.parent if folder.name == DETECTOR_DIR and not (folder / MODEL_FILE).exists() else folder
    if not (model / MODEL_FILE).is_file():
        raise InspectorError(f"Refused detector {folder}: it is not part of a saved model (no {MODEL_FILE} "
                             "lists and checksums its files); load the model folder it was saved in.")
    return read_model(model)[2]


def reseal_model_folder(folder: str | os.PathLike) -> None:
    """Record the folder's current files in its model.json, as if just saved.

    For deliberate edits only (tests, the fuzz harness's forged cases): it makes damage
    undetectable by checksum, so that the checks behind the checksums can be exercised.
    """
    folder = Path(folder)
    meta = read_json_bounded(folder / MODEL_FILE)
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


__all__ = ["LEGACY_VERSION", "MANIFEST_VERSION", "MODEL_FILE", "build_manifest", "content_checksum", "load_detector",
           "loading", "model_files", "read_model", "read_model_json", "reseal_model_folder", "upgrade_model_folder", "verify_manifest",
           "write_model_json"]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
