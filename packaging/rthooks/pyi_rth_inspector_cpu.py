"""Runtime hook (CPU flavour): this bundle carries only the CUDA libraries torch needs to load,
not cuDNN's kernels, so GPUs are hidden and torch runs on the CPU ('auto' device -> CPU).
The CUDA flavour (build.py --flavour cuda) has no such hook.
"""
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["INSPECTOR_BUNDLE_FLAVOUR"] = "cpu"
# The frozen app runs the backbone through torch until exporting the ONNX graph inside the bundle
# has been verified (torch.onnx in a PyInstaller build is untested); the user can still choose onnx.
os.environ.setdefault("INSPECTOR_RUNTIME", "torch")
