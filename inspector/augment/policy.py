"""Augmentation policies: exactly the knobs of seed 000's Table 4, validated and saved as JSON.

A policy says, for each transformation, whether it is used and in which range:

=================  ==========================================================================
knob               meaning when on
=================  ==========================================================================
flip_horizontal    mirror left-right, with probability 1/2
flip_vertical      mirror top-bottom, with probability 1/2
translate          shift by a random whole number of pixels in [-x, x] and [-y, y]
rotate             rotate by a random angle in [low, high] degrees
rotate90           rotate by 90, 180 or 270 degrees (one at random), as in Table 4
zoom               scale by a random factor in [low, high] (1 = unchanged)
add                add one random value in [low, high] to every pixel (brightness)
multiply           multiply every pixel by one random factor in [low, high] (contrast)
=================  ==========================================================================

Two settings that are not Table 4 knobs travel with the policy too (schema version 2; a version 1
file reads with their defaults, which give exactly the copies 0.1.0 made):

- ``border``: how the affine warp fills the pixels it uncovers: ``reflect`` (the default; it
  mirrors the image, which can put ghost edges such as a second bottle rim near the border),
  ``constant`` (``border_value``: a grey level 0-255, or an RGB colour [r, g, b] such as a green
  conveyor's; a grey image gets the colour's luma), ``edge`` (repeat the last pixel), ``symmetric``
  (mirror including the edge pixel) or ``wrap`` (the opposite side), as imgaug's ``Affine`` offers;
- ``seed``: the base of the random draws, so a saved policy gives the same copies at every fit.

As in seed 000 (section 3.2) every knob that is on is applied to every augmented copy, each copy
with its own random draw. Flips are the exception: mirroring every copy would only produce a
mirrored data set, so a flip happens to half of the copies.

Presets are Table 4's per-category policies, plus generic "texture", "object" and "none".
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Union

from inspector.store.atomic import read_json, write_json_atomic
from inspector.types import InspectorError

POLICY_FORMAT = "inspector-augmentation-policy"
POLICY_SCHEMA_VERSION = 2

_KNOBS = ("flip_horizontal", "flip_vertical", "translate", "rotate", "rotate90", "zoom", "add", "multiply")
# Allowed bounds per range knob: (smallest low, largest high, unit shown in messages).
_RANGE_LIMITS: dict[str, tuple[float, float, str]] = {
    "rotate": (-180.0, 180.0, "degrees"),
    "zoom": (0.1, 10.0, "x"),
    "add": (-255.0, 255.0, "grey levels"),
    "multiply": (0.0, 10.0, "x"),
}
_MAX_TRANSLATE = 10_000
#: Border fills of imgaug's Affine (its `mode`), in the order the GUI offers them.
BORDER_MODES = ("reflect", "constant", "edge", "symmetric", "wrap")
DEFAULT_BORDER = "reflect"
_MAX_SEED = 2**31 - 1
#: A constant border's fill: one grey level, or an (r, g, b) colour.
BorderValue = Union[int, tuple[int, int, int]]
_EXTRA = ("border", "border_value", "seed")


def _is_byte(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255


def border_fill(value: Any) -> Any:
    """A constant border's fill in its one canonical form: [r, g, b] lists become tuples, a colour
    whose channels are equal becomes that grey level (so a grey and its colour are the same policy).
    Anything else is returned as given, for `validate` to refuse with its message."""
    if isinstance(value, list):
        value = tuple(int(v) if isinstance(v, float) and v.is_integer() else v for v in value)
    if isinstance(value, tuple) and len(value) == 3 and all(_is_byte(v) for v in value) and len(set(value)) == 1:
        return value[0]
    return value


def _describe_fill(value: BorderValue) -> str:
    return f"rgb({value[0]}, {value[1]}, {value[2]})" if isinstance(value, tuple) else str(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InspectorError(f"{what} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise InspectorError(f"{what} must be a finite number, got {value}.")
    return value


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high] from which a random value is drawn for each copy."""

    low: float
    high: float

    def __post_init__(self) -> None:
        # Store floats so that a preset and its JSON round trip have the same fingerprint.
        for attr in ("low", "high"):
            value = getattr(self, attr)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                object.__setattr__(self, attr, float(value))

    def to_json(self) -> list[float]:
        return [self.low, self.high]

    @classmethod
    def from_json(cls, data: Any, what: str = "range") -> "Range":
        if isinstance(data, dict) and set(data) == {"low", "high"}:
            data = [data["low"], data["high"]]
        if not isinstance(data, (list, tuple)) or len(data) != 2:
            raise InspectorError(f"{what} must be a pair [low, high] or null (off), got {data!r}.")
        return cls(_number(data[0], f"{what} low"), _number(data[1], f"{what} high"))

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}"


@dataclass(frozen=True)
class Translate:
    """Shift range in pixels: a random shift in [-x, x] horizontally and [-y, y] vertically."""

    x: int
    y: int

    def to_json(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y}

    @classmethod
    def from_json(cls, data: Any) -> "Translate":
        if isinstance(data, (list, tuple)) and len(data) == 2:
            data = {"x": data[0], "y": data[1]}
        if not isinstance(data, dict) or set(data) != {"x", "y"}:
            raise InspectorError(f"translate must be {{\"x\": pixels, \"y\": pixels}} or null (off), got {data!r}.")
        values = []
        for axis in ("x", "y"):
            value = _number(data[axis], f"translate {axis}")
            if value != int(value):
                raise InspectorError(f"translate {axis} must be a whole number of pixels, got {value:g}.")
            values.append(int(value))
        return cls(*values)


@dataclass(frozen=True)
class AugmentationPolicy:
    """Which of Table 4's transformations are on, and their ranges (None = off)."""

    flip_horizontal: bool = False
    flip_vertical: bool = False
    translate: Optional[Translate] = None
    rotate: Optional[Range] = None
    rotate90: bool = False
    zoom: Optional[Range] = None
    add: Optional[Range] = None
    multiply: Optional[Range] = None
    #: How the affine warp fills uncovered pixels (one of BORDER_MODES).
    border: str = DEFAULT_BORDER
    #: Fill of the `constant` border: a grey level 0-255 or an (r, g, b) colour (see `border_rgb`).
    border_value: BorderValue = 0
    #: Base seed of the random draws (a caller's seed, e.g. a fold or replicate, is added to it).
    seed: int = 0
    #: A label for people (preset name or file name); not a knob, it changes nothing.
    name: str = field(default="custom", compare=False)

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> "AugmentationPolicy":
        """Raise InspectorError naming the bad knob; returns self so calls can be chained."""
        for knob in ("flip_horizontal", "flip_vertical", "rotate90"):
            if not isinstance(getattr(self, knob), bool):
                raise InspectorError(f"{knob} must be true or false, got {getattr(self, knob)!r}.")
        if self.translate is not None:
            if not isinstance(self.translate, Translate):
                raise InspectorError(f"translate must be a Translate(x, y) or None, got {self.translate!r}.")
            for axis in ("x", "y"):
                value = getattr(self.translate, axis)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InspectorError(f"translate {axis} must be a whole number of pixels, got {value!r}.")
                if value < 0 or value > _MAX_TRANSLATE:
                    raise InspectorError(
                        f"translate {axis} is the largest shift either way (±{axis}), so it must be between 0 and "
                        f"{_MAX_TRANSLATE} pixels; got {value}."
                    )
        for knob, (smallest, largest, unit) in _RANGE_LIMITS.items():
            value = getattr(self, knob)
            if value is None:
                continue
            if not isinstance(value, Range):
                raise InspectorError(f"{knob} must be a Range(low, high) or None (off), got {value!r}.")
            low = _number(value.low, f"{knob} low")
            high = _number(value.high, f"{knob} high")
            if low > high:
                raise InspectorError(f"{knob}: low ({low:g}) is greater than high ({high:g}).")
            if low < smallest or high > largest:
                raise InspectorError(f"{knob} must stay within [{smallest:g}, {largest:g}] {unit}; got [{low:g}, {high:g}].")
        if self.border not in BORDER_MODES:
            raise InspectorError(f"border must be one of {', '.join(BORDER_MODES)}; got {self.border!r}.")
        value = self.border_value
        if isinstance(value, tuple):
            if len(value) != 3 or not all(_is_byte(channel) for channel in value):
                raise InspectorError(f"border_value as a colour must be three whole numbers 0-255 (r, g, b); got {value!r}.")
        elif not _is_byte(value):
            raise InspectorError(f"border_value must be a grey level 0-255 or an (r, g, b) colour; got {value!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= _MAX_SEED:
            raise InspectorError(f"seed must be a whole number between 0 and {_MAX_SEED}; got {self.seed!r}.")
        return self

    @property
    def border_rgb(self) -> tuple[int, int, int]:
        """The constant border's fill as an (r, g, b) colour (a grey level g is (g, g, g))."""
        value = self.border_value
        return tuple(value) if isinstance(value, tuple) else (value, value, value)  # type: ignore[return-value]

    # -- views --------------------------------------------------------------------------------
    @property
    def is_identity(self) -> bool:
        """True when no knob is on (copies would equal the originals)."""
        return not (self.flip_horizontal or self.flip_vertical or self.rotate90) and all(
            getattr(self, knob) is None for knob in ("translate", "rotate", "zoom", "add", "multiply")
        )

    def describe(self) -> str:
        """One line for people, e.g. 'translate ±5 px x / ±5 px y, rotate -10..10°, 90° rotations'."""
        parts = []
        if self.flip_horizontal:
            parts.append("horizontal flip")
        if self.flip_vertical:
            parts.append("vertical flip")
        if self.translate is not None:
            parts.append(f"translate ±{self.translate.x} px x / ±{self.translate.y} px y")
        if self.rotate is not None:
            parts.append(f"rotate {self.rotate}°")
        if self.rotate90:
            parts.append("90° rotations")
        if self.zoom is not None:
            parts.append(f"zoom {self.zoom}")
        if self.add is not None:
            parts.append(f"add {self.add}")
        if self.multiply is not None:
            parts.append(f"multiply {self.multiply}")
        if not parts:
            return "no augmentation"
        if self.uses_border:
            parts.append(f"border {self.border}" + (f" {_describe_fill(self.border_value)}" if self.border == "constant" else ""))
        return ", ".join(parts)

    @property
    def uses_border(self) -> bool:
        """True when a knob uncovers pixels that the border fill must paint (translate, rotate, zoom)."""
        shift = self.translate is not None and (self.translate.x or self.translate.y)
        return bool(shift) or self.rotate is not None or self.zoom is not None

    def same_knobs(self, other: "AugmentationPolicy") -> bool:
        """Same transformations and border as `other`, whatever the name and seed (preset matching)."""
        return replace(self, seed=0) == replace(other, seed=0)

    # -- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Versioned JSON dict; knobs that are off are null (flips and rotate90 are booleans)."""

        def opt(value: Any) -> Any:
            return None if value is None else value.to_json()

        return {
            "format": POLICY_FORMAT,
            "version": POLICY_SCHEMA_VERSION,
            "name": self.name,
            "flip_horizontal": self.flip_horizontal,
            "flip_vertical": self.flip_vertical,
            "translate": opt(self.translate),
            "rotate": opt(self.rotate),
            "rotate90": self.rotate90,
            "zoom": opt(self.zoom),
            "add": opt(self.add),
            "multiply": opt(self.multiply),
            "border": self.border,
            "border_value": list(self.border_value) if isinstance(self.border_value, tuple) else self.border_value,
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: Any) -> "AugmentationPolicy":
        """Parse and validate; unknown keys (typos) and newer versions are refused with a clear error."""
        if not isinstance(data, dict):
            raise InspectorError(f"An augmentation policy must be a JSON object, got {type(data).__name__}.")
        fmt = data.get("format", POLICY_FORMAT)
        if fmt != POLICY_FORMAT:
            raise InspectorError(f"Not an augmentation policy (format is {fmt!r}, expected {POLICY_FORMAT!r}).")
        version = data.get("version", POLICY_SCHEMA_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InspectorError(f"Augmentation policy version must be a positive integer, got {version!r}.")
        if version > POLICY_SCHEMA_VERSION:
            raise InspectorError(
                f"This augmentation policy has schema version {version}; this Inspector reads up to "
                f"version {POLICY_SCHEMA_VERSION}. Update Inspector."
            )
        unknown = sorted(set(data) - set(_KNOBS) - set(_EXTRA) - {"format", "version", "name"})
        if unknown:
            raise InspectorError(f"Unknown augmentation setting(s) {unknown}; known: {list(_KNOBS)}.")
        kwargs: dict[str, Any] = {}
        for knob in ("flip_horizontal", "flip_vertical", "rotate90"):
            value = data.get(knob, False)
            if not isinstance(value, bool):
                raise InspectorError(f"{knob} must be true or false, got {value!r}.")
            kwargs[knob] = value
        if data.get("translate") is not None:
            kwargs["translate"] = Translate.from_json(data["translate"])
        for knob in _RANGE_LIMITS:
            if data.get(knob) is not None:
                kwargs[knob] = Range.from_json(data[knob], knob)
        # Version 1 had none of these: the defaults reproduce its copies.
        kwargs["border"] = data.get("border", DEFAULT_BORDER)
        for attr in ("border_value", "seed"):
            value = data.get(attr, 0)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            kwargs[attr] = value
        kwargs["border_value"] = border_fill(kwargs["border_value"])
        name = data.get("name", "custom")
        kwargs["name"] = name if isinstance(name, str) else str(name)
        return cls(**kwargs).validate()

    def fingerprint(self) -> str:
        """Short hash of the knobs, border and seed (not the name): a cache key for augmented features.

        Border and seed enter only when they differ from the defaults, so a version 1 policy keeps
        the fingerprint it always had.
        """
        data = self.to_json()
        knobs = {k: v for k, v in data.items() if k in _KNOBS}
        if self.border != DEFAULT_BORDER:
            knobs["border"], knobs["border_value"] = self.border, self.border_value
        if self.seed:
            knobs["seed"] = self.seed
        return hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:12]

    def renamed(self, name: str) -> "AugmentationPolicy":
        return replace(self, name=name)


# -- presets: seed 000, Appendix A, Table 4 ---------------------------------------------------------
_ADD = Range(-10, 10)
_MUL = Range(0.9, 1.1)


def _table4(name: str, flip_h: bool, flip_v: bool, translate: tuple[int, int], rotate: Optional[tuple[float, float]],
            rot90: bool, zoom: Optional[tuple[float, float]]) -> AugmentationPolicy:
    return AugmentationPolicy(
        flip_horizontal=flip_h,
        flip_vertical=flip_v,
        translate=Translate(*translate),
        rotate=None if rotate is None else Range(*rotate),
        rotate90=rot90,
        zoom=None if zoom is None else Range(*zoom),
        add=_ADD,
        multiply=_MUL,
        name=name,
    ).validate()


# Every Table 4 row uses add (-10, 10) and multiply (0.9, 1.1). The printed 'cable' row has one
# column fewer than the others; it is read as no 90° rotations and no zoom.
MVTEC_PRESETS: dict[str, AugmentationPolicy] = {
    p.name: p
    for p in (
        _table4("carpet", True, True, (5, 5), None, True, None),
        _table4("tile", True, True, (5, 5), None, True, None),
        _table4("leather", True, True, (5, 5), None, True, None),
        _table4("grid", True, True, (5, 5), None, True, None),
        _table4("wood", True, True, (5, 5), (-2, 2), False, None),
        _table4("capsule", False, False, (10, 10), (-3, 3), False, (0.98, 1.02)),
        _table4("cable", False, False, (10, 10), (-5, 5), False, None),
        _table4("pill", False, False, (10, 10), (-3, 3), False, (0.98, 1.02)),
        _table4("transistor", True, False, (5, 5), (-2, 2), False, None),
        _table4("metal_nut", False, False, (10, 10), (-10, 10), True, None),
        _table4("toothbrush", True, False, (10, 10), None, False, None),
        _table4("screw", True, True, (10, 10), (-10, 10), True, (0.98, 1.02)),
        _table4("hazelnut", True, True, (10, 10), (-20, 20), True, (0.98, 1.02)),
        _table4("zipper", True, False, (30, 0), None, False, None),
        _table4("bottle", False, False, (5, 5), (-10, 10), True, None),
    )
}

PRESETS: dict[str, AugmentationPolicy] = {
    **MVTEC_PRESETS,
    # Textures look the same flipped or turned by 90°, which needs no padding (seed 000, 3.2).
    "texture": AugmentationPolicy(True, True, Translate(5, 5), None, True, None, _ADD, _MUL, name="texture").validate(),
    # Objects: small shifts, tilts and scale changes only; flips could turn a part into its mirror image.
    "object": AugmentationPolicy(
        False, False, Translate(10, 10), Range(-5, 5), False, Range(0.98, 1.02), _ADD, _MUL, name="object"
    ).validate(),
    "none": AugmentationPolicy(name="none"),
}


def _preset_key(spec: str) -> str:
    return spec.strip().lower().replace(" ", "_").replace("-", "_")


def load_policy(spec: str | os.PathLike) -> AugmentationPolicy:
    """A preset by name ('bottle', 'metal nut', 'texture', 'none'...) or a policy JSON file."""
    text = str(spec).strip()
    if not text:
        raise InspectorError("No augmentation policy given: use a preset name or a JSON file.")
    key = _preset_key(text)
    path = Path(text).expanduser()
    if key in PRESETS and not path.is_file():
        return PRESETS[key]
    if path.is_file():
        data = read_json(path)
        try:
            policy = AugmentationPolicy.from_json(data)
        except InspectorError as exc:
            raise InspectorError(f"Invalid augmentation policy {path}: {exc}") from exc
        return policy if isinstance(data, dict) and "name" in data else policy.renamed(path.stem)
    if path.suffix.lower() == ".json" or os.sep in text or "/" in text:
        raise InspectorError(f"Augmentation policy file not found: {path}")
    raise InspectorError(
        f"Unknown augmentation policy '{text}': not a preset ({', '.join(sorted(PRESETS))}) and not a file."
    )


def save_policy(path: str | os.PathLike, policy: AugmentationPolicy) -> None:
    """Validate, then write the policy JSON atomically."""
    policy.validate()
    write_json_atomic(path, policy.to_json())


def export_presets(folder: str | os.PathLike) -> list[Path]:
    """Write every preset as `<name>.json` into `folder` (used to ship resources/policies/)."""
    folder = Path(folder)
    written = []
    for name, policy in PRESETS.items():
        target = folder / f"{name}.json"
        save_policy(target, policy)
        written.append(target)
    return written
