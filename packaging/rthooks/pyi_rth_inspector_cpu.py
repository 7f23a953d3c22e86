"""Runtime hook (CPU flavour): this bundle carries only the CUDA libraries torch needs to load,
not cuDNN's kernels, so GPUs are hidden and torch runs on the CPU ('auto' device -> CPU).
The CUDA flavour (build.py --flavour cuda) has no such hook.
"""
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["INSPECTOR_BUNDLE_FLAVOUR"] = "cpu"
# The backbone runtime is 'auto' as from source: ONNX Runtime on the CPU. torch.onnx's exporter needs
# the `onnx` package (bundled: bundle_config.HIDDEN_IMPORTS), and build.py's smoke test checks that
# the frozen self-test fitted on ONNX Runtime.
