"""Data augmentation: policies (seed 000, Table 4) and the imgaug engine that applies them.

The engine (and so imgaug, which takes seconds to import) is loaded only when first used, so
reading or editing a policy stays cheap.
"""
from __future__ import annotations

from typing import Any

from inspector.augment.policy import PRESETS, AugmentationPolicy, Range, Translate, load_policy, save_policy

_ENGINE_NAMES = ("augment_images", "augment_one", "parse_factor", "preview_samples")

__all__ = ["AugmentationPolicy", "PRESETS", "Range", "Translate", "load_policy", "save_policy", *_ENGINE_NAMES]


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from inspector.augment import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'inspector.augment' has no attribute {name!r}")
