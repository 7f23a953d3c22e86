"""Frozen ImageNet backbones and multi-level feature extraction."""
from inspector.features.maps import FeatureMaps

__all__ = ["FeatureMaps"]
