"""Name -> detector class registry; detectors register themselves on import."""
from __future__ import annotations

import importlib
from typing import Any, TypeVar

from inspector.types import InspectorError

_REGISTRY: dict[str, type] = {}
# Modules that define detectors; imported lazily so that `create_detector` sees them all.
_DETECTOR_MODULES = (
    "inspector.detectors.knn",
    "inspector.detectors.mahalanobis",
    "inspector.detectors.padim",
    "inspector.detectors.patchcore",
    "inspector.detectors.simplenet",
    "inspector.detectors.classic",
)

#: The detector a new model uses unless told otherwise (CLI, Fit page, self-test, demo): PaDiM ranked
#: best on both development sets at the automatic geometry (docs/benchmarks/all_detectors.md).
DEFAULT_DETECTOR = "padim"

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make a detector available by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _import_all() -> None:
    for module in _DETECTOR_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency inside the module
                raise


def available_detectors() -> dict[str, type]:
    _import_all()
    return dict(_REGISTRY)


def create_detector(name: str, **params: Any):
    registry = available_detectors()
    if name not in registry:
        raise InspectorError(f"Unknown detector '{name}'. Available: {', '.join(sorted(registry))}.")
    try:
        return registry[name](**params)
    except TypeError as exc:
        raise InspectorError(f"Invalid parameters for detector '{name}': {exc}") from exc
