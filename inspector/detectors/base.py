"""The one detector interface.

**Convention: a higher score means more anomalous**, for every detector, in SROC, thresholds
and plots. Detectors follow scikit-learn's estimator contract: `__init__` only stores keyword
arguments, `fit` validates its input, sets attributes ending in `_` and returns `self`, and
scoring an unfitted detector raises `NotFittedError`.

A fitted detector's state is JSON-able parameters plus named arrays; `save` writes them as
`detector.json` + `detector.npz` (never pickle), and only the verified loader of
`inspector.store.model_manifest` reads them back. Detectors with other state (a faiss index,
torch weights) add files through `_save_extra` / `_load_extra`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np

from inspector.features.maps import FeatureMaps
from inspector.store.atomic import read_json, read_npz, write_json_atomic, write_npz_atomic
from inspector.types import InspectorError, NotFittedError, Reporter, ScoreResult

DETECTOR_FORMAT = "inspector-detector"
DETECTOR_FORMAT_VERSION = 1

# Backbone stages used by default. Gutierrez et al. 2021 take EfficientNet blocks 4, 6 and 7 (1-based);
# in timm's EfficientNet-Lite `model.blocks` (0-based) those are stages 3, 5 and 6
# (strides 16, 32, 32). PatchCore and SimpleNet use the two mid-level stages at strides 8
# and 16 (PatchCore, Roth et al., section 3.1): stages 2 and 4.
POOLED_LAYERS: tuple[int, ...] = (3, 5, 6)
MID_LEVEL_LAYERS: tuple[int, ...] = (2, 4)


class Detector(ABC):
    """Base class of every anomaly detector (higher score = more anomalous)."""

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    #: True when `score` returns per-pixel anomaly maps.
    localizes: ClassVar[bool] = False

    def __init__(self, layers: tuple[int, ...] = POOLED_LAYERS) -> None:
        self.layers = tuple(layers)

    # -- scikit-learn style parameters -------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructors' parameter names, read once, by `param_infos`."""
        from inspector.detectors.params import param_infos

        return [info.name for info in param_infos(cls)]

    def get_params(self) -> dict[str, Any]:
        """JSON-able constructor arguments (tuples become lists)."""
        params = {}
        for name in self._param_names():
            value = getattr(self, name)
            params[name] = list(value) if isinstance(value, tuple) else value
        return params

    #: Parameters that must be whole numbers >= 1 (checked by `validate_params`).
    positive_int_params: ClassVar[tuple[str, ...]] = ()
    #: One line of help per parameter, shown by `describe_params` (GUI forms, CLI errors).
    param_help: ClassVar[dict[str, str]] = {"layers": "backbone stages whose features are used"}

    @classmethod
    def describe_params(cls) -> list[dict[str, Any]]:
        """Name, type, default, minimum and help of every parameter (see detectors/params.py)."""
        from inspector.detectors.params import param_infos

        return [info.__dict__.copy() for info in param_infos(cls)]

    def validate_params(self) -> "Detector":
        """Refuse bad parameter values with one clear line, before any image is loaded: each value
        must have the type of its default (an int where the default is an int, and so on), the
        `positive_int_params` must be >= 1, then the detector's own `_validate_params` runs."""
        from inspector.detectors.params import param_infos

        label = self.display_name or self.name
        for info in param_infos(type(self)):
            if info.default is None:
                continue
            value = getattr(self, info.name, info.default)
            if info.type == "bool":
                ok = isinstance(value, bool)
            elif info.type == "int":
                ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            elif info.type == "float":
                ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and np.isfinite(value)
            elif info.type == "tuple":
                ok = isinstance(value, (tuple, list))
            elif info.type == "str":
                ok = isinstance(value, str)
            else:
                ok = True
            if not ok:
                hint = f" ({info.help})" if info.help else ""
                raise InspectorError(f"{label} parameter {info.name} must be a{'n' if info.type == 'int' else ''} "
                                     f"{info.type}{' (finite)' if info.type == 'float' else ''}, got {value!r}{hint}.")
            if info.minimum is not None and value < info.minimum:
                raise InspectorError(f"{label} parameter {info.name} must be at least {info.minimum:g}, got {value}.")
        check = getattr(self, "_validate_params", None)
        if check is not None:
            check()
        return self

    # -- the interface ------------------------------------------------------------------------
    @abstractmethod
    def fit(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> "Detector":
        """Learn normality from features of good images. Returns self."""

    @abstractmethod
    def score(self, features: FeatureMaps, reporter: Optional[Reporter] = None) -> ScoreResult:
        """Score images: higher = more anomalous. Maps (N, H, W) at `features.input_size` if `localizes`."""

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Fitted state as (JSON-able dict, named arrays)."""

    @abstractmethod
    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore fitted state written by `_state` (validate shapes; raise InspectorError)."""

    # -- helpers for subclasses ---------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return getattr(self, "fitted_", False)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{self.display_name or self.name} is not fitted yet: fit it on good images first.")

    @staticmethod
    def _check_features(features: FeatureMaps, min_images: int = 1) -> None:
        if not isinstance(features, FeatureMaps):
            raise TypeError(f"expected FeatureMaps, got {type(features).__name__}")
        if len(features) < min_images:
            raise InspectorError(f"At least {min_images} image(s) are needed, got {len(features)}.")
        for layer, array in features.levels.items():
            if not np.all(np.isfinite(array)):
                raise InspectorError(f"Features of backbone stage {layer} contain NaN or infinite values.")

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write detector.json + detector.npz (+ extras) into `folder` (each file atomically)."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state, arrays = self._state()
        write_npz_atomic(folder / "detector.npz", arrays)
        self._save_extra(folder)
        write_json_atomic(
            folder / "detector.json",
            {
                "format": DETECTOR_FORMAT,
                "version": DETECTOR_FORMAT_VERSION,
                "detector": self.name,
                "params": self.get_params(),
                "state": state,
                "arrays": {key: list(value.shape) for key, value in arrays.items()},
            },
        )

    @classmethod
    def _load_unchecked(cls, folder: str | Path) -> "Detector":
        """Build the registered detector stored in `folder` (dispatches on the stored name).

        Private: it reads the files as they are, with only the checks a detector can make
        itself (format, shapes, finite arrays, parameters). The one public way to load a saved
        detector is the verified one, `inspector.store.model_manifest.load_detector` (or
        `InspectionModel.load`), which checks the model's manifest, checksums and declared
        sizes first. The verification lives in store, not here: detectors must not depend on
        the pipeline's settings that it checks against.
        """
        from inspector.detectors.registry import create_detector

        folder = Path(folder)
        meta = read_json(folder / "detector.json")
        if not isinstance(meta, dict) or meta.get("format") != DETECTOR_FORMAT:
            raise InspectorError(f"{folder / 'detector.json'} is not an Inspector detector file.")
        if meta.get("version", 0) > DETECTOR_FORMAT_VERSION:
            raise InspectorError(f"{folder} was written by a newer Inspector (format {meta['version']}).")
        arrays = read_npz(folder / "detector.npz")
        for key, shape in meta.get("arrays", {}).items():
            if key not in arrays:
                raise InspectorError(f"{folder / 'detector.npz'} lacks the array '{key}'.")
            if list(arrays[key].shape) != list(shape):
                raise InspectorError(
                    f"{folder / 'detector.npz'}: array '{key}' has shape {list(arrays[key].shape)}, expected {shape}."
                )
        for key, array in arrays.items():
            if np.issubdtype(array.dtype, np.number) and not np.all(np.isfinite(array)):
                raise InspectorError(f"{folder / 'detector.npz'}: array '{key}' holds NaN or infinite values; "
                                     "the model is damaged and is refused.")
        from inspector.detectors.registry import available_detectors

        # A parameter added after a model was saved takes the value that reproduces that model.
        legacy = getattr(available_detectors().get(meta["detector"]), "legacy_params", {})
        detector = create_detector(meta["detector"], **{**legacy, **meta.get("params", {})})
        try:
            detector.validate_params()
        except InspectorError as exc:
            raise InspectorError(f"{folder}: the stored detector parameters are invalid: {exc}") from exc
        if cls is not Detector and not isinstance(detector, cls):
            raise InspectorError(f"{folder} holds a {meta['detector']} detector, not {cls.name}.")
        try:
            detector._set_state(meta.get("state", {}), arrays)
            detector._load_extra(folder)
        except (KeyError, ValueError, TypeError) as exc:
            raise InspectorError(f"{folder}: the stored detector state is invalid ({exc}).") from exc
        detector.fitted_ = True
        return detector

    def _save_extra(self, folder: Path) -> None:
        """Hook for state that is not arrays (faiss index, torch weights as safetensors)."""

    def _load_extra(self, folder: Path) -> None:
        """Hook matching `_save_extra`."""
