"""Packaging: one version source, resource lookup, the self-test, and the frozen bundle.

The frozen-bundle test builds (many minutes) only with INSPECTOR_BUILD_BUNDLE=1; otherwise it
smoke-tests a bundle already in dist/, and without one it is skipped. Everything that needs
PyInstaller is skipped only when PyInstaller is absent; `build.py --check` always runs then.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "packaging" / "build.py"
HAS_PYINSTALLER = importlib.util.find_spec("PyInstaller") is not None
# A long timeout for the bundle build when pytest-timeout is in use (it is in the test extras).
allow_an_hour = pytest.mark.timeout(3600) if importlib.util.find_spec("pytest_timeout") else (lambda test: test)
needs_pyinstaller = pytest.mark.skipif(not HAS_PYINSTALLER, reason="PyInstaller is not installed (pip install .[packaging])")

sys.path.insert(0, str(REPO / "packaging"))
import bundle_config  # noqa: E402


def _pyproject_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_version_comes_from_pyproject() -> None:
    from inspector.version import __version__, get_version

    assert __version__ == get_version() == _pyproject_version() == bundle_config.project_version()


def test_frozen_build_reads_the_baked_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inspector.version as version

    (tmp_path / "inspector").mkdir()
    (tmp_path / "inspector" / version.BUILD_VERSION_FILE).write_text("9.8.7\n", encoding="utf-8")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert version.get_version() == "9.8.7"


def test_pyproject_reader_ignores_other_projects(tmp_path: Path) -> None:
    from inspector.version import read_pyproject_version

    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "something-else"\nversion = "3.0"\n', encoding="utf-8")
    assert read_pyproject_version(other) is None
    other.write_text('[project]\nname = "inspector"\nversion = "3.0"\n', encoding="utf-8")
    assert read_pyproject_version(other) == "3.0"
    assert read_pyproject_version(tmp_path / "missing.toml") is None


def test_resources_are_found_from_source_frozen_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector import resources
    from inspector.types import InspectorError

    monkeypatch.delenv(resources.ENV_VAR, raising=False)
    assert resources.resources_dir() == REPO / "resources"
    assert (resources.demo_dir() / "train" / "good").is_dir()
    assert resources.icon_path().is_file()

    bundle = tmp_path / "bundle"
    (bundle / "resources" / "demo" / "flange" / "train" / "good").mkdir(parents=True)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert resources.resources_dir() == bundle / "resources"
    assert resources.demo_dir() == bundle / "resources" / "demo" / "flange"

    monkeypatch.setenv(resources.ENV_VAR, str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    assert resources.resources_dir() == tmp_path / "elsewhere"
    with pytest.raises(InspectorError, match="demo images are missing"):
        resources.demo_dir()


def test_pruning_rules_keep_what_torch_needs_to_load() -> None:
    pruned = bundle_config.is_pruned
    assert pruned("cv2/qt/plugins/platforms/libqxcb.so", "cpu") and pruned("cv2/qt/plugins/platforms/libqxcb.so", "cuda")
    assert pruned("nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9", "cpu")
    assert not pruned("nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9", "cuda")
    assert pruned("torch/lib/libtorch_cuda_linalg.so", "cpu")
    for needed in ("nvidia/cu13/lib/libcudart.so.13", "nvidia/cudnn/lib/libcudnn.so.9", "torch/lib/libtorch_cuda.so",
                   "PySide6/Qt/plugins/platforms/libqoffscreen.so"):
        assert not pruned(needed, "cpu"), needed
    assert bundle_config.bundle_basename("cpu", "1.2.3").startswith("inspector-1.2.3-")
    assert bundle_config.bundle_basename("cuda", "1.2.3").endswith("-cuda")


@pytest.mark.slow
def test_selftest_passes_from_source(capsys: pytest.CaptureFixture[str]) -> None:
    from inspector.selftest import run_selftest

    assert run_selftest(verbose=True, n_train=4, gui=False) == 0
    out = capsys.readouterr().out
    assert "Self-test PASSED" in out
    assert "every defective part scores above the good part" in out
    assert _pyproject_version() in out


def test_selftest_reports_missing_demo_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from inspector.selftest import run_selftest

    monkeypatch.setenv("INSPECTOR_RESOURCES", str(tmp_path))
    assert run_selftest(verbose=True, gui=False) == 1
    assert "demo images are missing" in capsys.readouterr().out


@needs_pyinstaller
def test_build_check_mode_resolves_every_spec_input() -> None:
    """Every hidden import, data package, metadata, resource, hook and Windows file resolves."""
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--check"], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inputs OK" in result.stdout


def _newest_source_mtime() -> float:
    """A prebuilt bundle only counts if it is newer than everything frozen into it."""
    files = [REPO / "pyproject.toml", *(REPO / "inspector").rglob("*.py"), *(REPO / "packaging").rglob("*.py"),
             *(REPO / "packaging").glob("*.spec"), *(REPO / "resources").rglob("*")]
    return max(f.stat().st_mtime for f in files if f.is_file())


@needs_pyinstaller
@pytest.mark.slow
@allow_an_hour
def test_frozen_bundle_fits_and_inspects_headless() -> None:
    """Build (INSPECTOR_BUILD_BUNDLE=1) or reuse dist/<bundle>, then run its --self-test offscreen."""
    bundle = REPO / "dist" / bundle_config.bundle_basename("cpu")
    executable = bundle / ("inspector-cli.exe" if sys.platform.startswith("win") else "inspector")
    if os.environ.get("INSPECTOR_BUILD_BUNDLE") == "1":
        command = [sys.executable, str(BUILD_SCRIPT), "--no-archive"]
    elif executable.is_file() and executable.stat().st_mtime >= _newest_source_mtime():
        command = [sys.executable, str(BUILD_SCRIPT), "--smoke-only"]
    else:
        state = "is older than the sources" if executable.is_file() else "does not exist"
        pytest.skip(f"the bundle {bundle} {state}: set INSPECTOR_BUILD_BUNDLE=1 (or run packaging/build.py) to build it")
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=3500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Self-test PASSED" in output
    assert "smoke test PASSED" in output
    assert f"Inspector {_pyproject_version()} self-test, frozen" in output


def test_station_flavour_leaves_torch_out() -> None:
    """The inspection-only flavour excludes torch, timm, torchvision and Qt, and names its bundle -station."""
    assert "station" in bundle_config.FLAVOURS
    assert bundle_config.bundle_basename("station", "1.2.3").endswith("-station")
    for name in ("torch", "timm", "torchvision", "PySide6", "inspector.gui"):
        assert name in bundle_config.STATION_EXCLUDES
    assert bundle_config.is_pruned("torch/lib/libtorch_cpu.so", "station")
    assert not bundle_config.is_pruned("onnxruntime/capi/libonnxruntime.so.1", "station")
    assert "inspector.export_runtime" in bundle_config.STATION_HIDDEN_IMPORTS


@needs_pyinstaller
@pytest.mark.slow
@allow_an_hour
def test_station_bundle_inspects_an_export_without_torch() -> None:
    """Build (INSPECTOR_BUILD_BUNDLE=1) or reuse dist/<bundle>-station; its smoke test inspects an export
    made here with the torch path's scores and verdicts, refuses a damaged export, and the bundle is
    under 700 MB unpacked (build.py prints unpacked and compressed sizes)."""
    bundle = REPO / "dist" / bundle_config.bundle_basename("station")
    executable = bundle / ("inspector-cli.exe" if sys.platform.startswith("win") else "inspector")
    if os.environ.get("INSPECTOR_BUILD_BUNDLE") == "1":
        command = [sys.executable, str(BUILD_SCRIPT), "--flavour", "station"]
    elif executable.is_file() and executable.stat().st_mtime >= _newest_source_mtime():
        command = [sys.executable, str(BUILD_SCRIPT), "--flavour", "station", "--smoke-only"]
    else:
        state = "is older than the sources" if executable.is_file() else "does not exist"
        pytest.skip(f"the bundle {bundle} {state}: set INSPECTOR_BUILD_BUNDLE=1 (or run packaging/build.py "
                    "--flavour station) to build it")
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=3500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "station smoke test PASSED" in output
    assert "station bundle unpacked:" in output
    assert not (bundle / "_internal" / "torch").exists()
