"""Detector parameters: the one parser for `name:key=value` text and the description the GUI shows.

Every place that reads detector options from text (`--detector padim:n_features=50`, `--param k=3`,
protocol specs) goes through `parse_detector_spec` / `parse_assignment`, so a value means the same
everywhere. What a detector accepts is read from the detector class itself (`describe_params`):
type and default from its constructor, the lower bound from `positive_int_params`, the text from
`param_help`; `Detector.validate_params` checks the same facts.
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, Optional

from inspector.types import InspectorError


def parse_value(raw: str) -> Any:
    """JSON when it parses (numbers, booleans, lists, null), else the text itself."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw.strip()


def parse_assignment(text: str) -> tuple[str, Any]:
    """'key=value' -> (key, parsed value); one clear line when it is not of that form."""
    key, sep, raw = str(text).partition("=")
    if not sep or not key.strip():
        raise InspectorError(f"Detector option {text!r} must be name=value (e.g. k=3).")
    return key.strip(), parse_value(raw)


def parse_detector_spec(text: str) -> tuple[str, dict[str, Any]]:
    """'padim' or 'padim:n_features=50:covariance=ledoit' -> (name, {key: value})."""
    name, *pairs = [part.strip() for part in str(text).split(":")]
    if not name:
        raise InspectorError(f"Empty detector name in {text!r}.")
    params: dict[str, Any] = {}
    for pair in pairs:
        key, value = parse_assignment(pair)
        params[key] = value
    return name, params


@dataclass(frozen=True)
class ParamInfo:
    """One detector parameter as a form or a help text shows it."""

    name: str
    type: str  # 'int', 'float', 'bool', 'str', 'tuple' or 'any'
    default: Any
    minimum: Optional[float] = None
    help: str = ""


@dataclass(frozen=True)
class DetectorSpec:
    """A detector name and its parameters (hashable, so a result store can key on it), e.g. parsed
    from 'mahalanobis:covariance=empirical'. Used by `evaluate`, its protocols and the sweep."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_mapping(cls, name: str, params: Optional[dict[str, Any]] = None) -> "DetectorSpec":
        items = [(key, tuple(value) if isinstance(value, list) else value) for key, value in (params or {}).items()]
        return cls(name, tuple(sorted(items)))

    @classmethod
    def parse(cls, text: "str | DetectorSpec") -> "DetectorSpec":
        """'name' or 'name:key=value:key=value' (values parsed as JSON when they can be)."""
        if isinstance(text, DetectorSpec):
            return text
        return cls.from_mapping(*parse_detector_spec(text))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return self.name + "[" + ",".join(f"{k}={v}" for k, v in self.params) + "]"

    def create(self):
        """A fresh, unfitted detector of this spec."""
        from inspector.detectors.registry import create_detector

        return create_detector(self.name, **self.kwargs)


def param_infos(cls: type) -> list[ParamInfo]:
    """Parameters of a detector class, read from its constructors, `positive_int_params` and `param_help`."""
    positive = set(getattr(cls, "positive_int_params", ()))
    help_texts: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        help_texts.update(vars(klass).get("param_help", {}))
    infos: list[ParamInfo] = []
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in seen:
                continue
            seen.add(p.name)
            default = None if p.default is p.empty else p.default
            kind = type(default).__name__ if isinstance(default, (bool, int, float, str, tuple)) else "any"
            infos.append(ParamInfo(p.name, kind, list(default) if isinstance(default, tuple) else default,
                                   1 if p.name in positive else None, help_texts.get(p.name, "")))
    return infos


def describe_params(name: str) -> list[dict[str, Any]]:
    """JSON-able description of a registered detector's parameters (for the GUI and `--help`)."""
    from inspector.detectors.registry import available_detectors

    registry = available_detectors()
    if name not in registry:
        raise InspectorError(f"Unknown detector '{name}'. Available: {', '.join(sorted(registry))}.")
    return [info.__dict__.copy() for info in param_infos(registry[name])]
