"""Anomaly detectors behind one interface (higher score = more anomalous)."""
from inspector.detectors.base import Detector
from inspector.detectors.registry import available_detectors, create_detector, register

__all__ = ["Detector", "available_detectors", "create_detector", "register"]
