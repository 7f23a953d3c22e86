"""`Project`'s model folders: new, list, activate, delete (through `store.model_folders`).

The methods run inside `Project`'s one change / back up / save / undo transaction
(`_changing`, `_lock`, `_check_writable`, `_class`); they live here so project.py keeps to
the transaction, classes and images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from inspector.store.atomic import describe_os_error
from inspector.store.model_folders import delete_model_dir, inspect_model_dir, list_model_dirs, model_dir, new_model_id
from inspector.store.records import ModelInfo, PartClass
from inspector.store.schema import MODELS_DIR
from inspector.types import InspectorError


class ModelMethods:
    """Mixed into `Project` (see the module docstring)."""

    # -- models -------------------------------------------------------------------------------
    def models_dir(self, class_name: Union[str, PartClass]) -> Path:
        part = class_name if isinstance(class_name, PartClass) else self._class(class_name)
        return self.root / MODELS_DIR / part.folder

    def new_model_dir(self, class_name: str) -> tuple[str, Path]:
        """A fresh model id and the folder to save it in (not created: save through atomic_directory)."""
        self._check_writable()
        base = self.models_dir(class_name)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InspectorError(f"Cannot write into {base}: {describe_os_error(exc)}") from exc
        model_id = new_model_id(base)
        return model_id, base / model_id

    def list_models(self, class_name: str) -> list[ModelInfo]:
        """The class's model folders, oldest first; damaged ones carry a `problem`."""
        return list_model_dirs(self.models_dir(class_name))

    def model_path(self, class_name: str, model_id: str) -> Path:
        return model_dir(self.models_dir(class_name), model_id, class_name)

    def set_active_model(self, class_name: str, model_id: Optional[str]) -> None:
        with self._changing():
            part = self._class(class_name)
            if model_id is not None:
                info = inspect_model_dir(self.model_path(class_name, model_id))
                if not info.ok:
                    raise InspectorError(f"Cannot use model {model_id}: {info.problem}")
            part.active_model_id = model_id

    def delete_model(self, class_name: str, model_id: str) -> None:
        """Delete a model folder: renamed to a tombstone first, so it never comes back."""
        with self._lock:
            self._check_writable()
            part = self._class(class_name)
            path = self.model_path(class_name, model_id)
            if part.active_model_id == model_id:
                with self._changing():
                    part.active_model_id = None
            delete_model_dir(path)
