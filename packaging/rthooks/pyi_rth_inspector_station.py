"""Runtime hook (station flavour): an inspection-only bundle without torch.

Exported models (`inspector export`) inspect through ONNX Runtime, NumPy and faiss
(inspector/export_runtime.py); there is no torch to fall back to, so the runtime is ONNX.
"""
import os

os.environ["INSPECTOR_BUNDLE_FLAVOUR"] = "station"
os.environ.setdefault("INSPECTOR_RUNTIME", "onnx")
