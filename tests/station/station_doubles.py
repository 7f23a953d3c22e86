"""Test doubles shared by the station tests (importable: pytest puts this folder on sys.path)."""
from __future__ import annotations

from inspector.inspection import Prediction


def brightness_predictor(fail_at: float = 128.0):
    """A predictor with the real signature whose score is the image's mean brightness."""
    def predict(images):
        return [Prediction(float(image.mean()), None, "FAIL" if image.mean() >= fail_at else "PASS") for image in images]
    return predict
