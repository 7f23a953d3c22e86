"""The model folders of a class: models/<class folder>/<model id>/, listed, made and deleted.

Listing reads only each folder's model.json (never any pickle, never the arrays): damaged ones
are listed with their `problem`. Full verification (every file's SHA-256) happens when a model
is loaded (`inspector.store.model_manifest`). Deleting goes through a tombstone
(`atomic.delete_directory`), so an interrupted deletion is finished, never undone.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from inspector.store.atomic import delete_directory, read_json
from inspector.store.names import file_name_problem
from inspector.store.records import ModelInfo
from inspector.types import InspectorError

MODEL_FILE = "model.json"


def inspect_model_dir(path: Path) -> ModelInfo:
    """Read a model folder's model.json; report what is wrong with it."""
    info = ModelInfo(id=path.name, path=path)
    meta_path = path / MODEL_FILE
    if not meta_path.exists():
        info.problem = f"model {path.name} has no {MODEL_FILE} ({path}); it cannot be used."
        return info
    try:
        meta = read_json(meta_path)
        if not isinstance(meta, dict):
            raise InspectorError(f"Damaged file (not a JSON object): {meta_path}")
        info.meta = meta
    except InspectorError as exc:
        info.problem = f"model {path.name} is damaged: {exc}"
    return info


def list_model_dirs(base: Path) -> list[ModelInfo]:
    """The model folders under `base`, oldest first (ids start with their time); leftovers skipped."""
    if not base.is_dir():
        return []
    return [inspect_model_dir(entry) for entry in sorted(base.iterdir())
            if not entry.name.startswith(".") and entry.is_dir()]


def new_model_id(base: Path) -> str:
    """A fresh model id, unused under `base`."""
    while True:
        model_id = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        if not (base / model_id).exists():
            return model_id


def model_dir(base: Path, model_id: str, class_name: str) -> Path:
    """The folder of an existing model; the id is checked so that it cannot leave `base`."""
    if not isinstance(model_id, str) or file_name_problem(model_id) or model_id.startswith("."):
        raise InspectorError(f"Class '{class_name}' has no model '{model_id}'.")
    path = base / model_id
    if not path.is_dir():
        raise InspectorError(f"Class '{class_name}' has no model '{model_id}'.")
    return path


def delete_model_dir(path: Path) -> None:
    """Remove a model folder atomically (tombstone first); InspectorError if it cannot be renamed."""
    delete_directory(path)
