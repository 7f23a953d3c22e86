"""Data augmentation: policies (seed 000, Table 4) and the imgaug engine that applies them."""
from inspector.augment.engine import augment_images, augment_one, parse_factor, preview_samples
from inspector.augment.policy import PRESETS, AugmentationPolicy, Range, Translate, load_policy, save_policy

__all__ = [
    "AugmentationPolicy",
    "PRESETS",
    "Range",
    "Translate",
    "augment_images",
    "augment_one",
    "load_policy",
    "parse_factor",
    "preview_samples",
    "save_policy",
]
