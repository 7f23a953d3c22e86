"""Exported models inspect without torch (issue 13) and their manifest is checked on load (issue 17).

Tolerance: torch-free scores equal the torch path's (`load_export`: the detectors' own torch
scoring on the same backbone graph) to a relative 1e-4 (measured <= 3e-7: NumPy and torch differ
only in float32 summation order); verdicts are identical. The torch-free run happens in a
subprocess where `import torch`, `import timm` and `import torchvision` fail.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from inspector.export_manifest import MANIFEST_FILE, read_manifest, write_manifest
from inspector.export_onnx import export_model, load_export
from inspector.export_runtime import ExportedModel, load_inspection_model
from inspector.pipeline import FitSettings, fit_model
from inspector.store.model_manifest import reseal_model_folder
from inspector.types import InspectorError
from tests.conftest import make_part

REPO = Path(__file__).resolve().parents[2]
RELATIVE_TOLERANCE = 1e-4
DETECTORS = {"padim": {}, "patchcore": {}, "simplenet": {"epochs": 2}}
BLOCK_TORCH = ("import sys\n"
               "for name in ('torch', 'timm', 'torchvision'):\n"
               "    sys.modules[name] = None  # any import of them now raises ImportError\n")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One export per detector, fitted on synthetic parts at 96 x 128 (non-square), and test images."""
    root = tmp_path_factory.mktemp("exports")
    patch = pytest.MonkeyPatch()
    patch.setenv("INSPECTOR_ONNX_CACHE", str(root / "cache"))
    rng = np.random.default_rng(5)
    train = [make_part(rng, size=96)[0][:, :, :] for _ in range(8)]
    train = [np.concatenate([image, image[:, :32]], axis=1) for image in train]  # 96 x 128
    images = [np.concatenate([p, p[:, :32]], axis=1) for p in (make_part(rng, size=96, defect=i % 2 == 1)[0]
                                                               for i in range(6))]
    folders = {}
    for name, params in DETECTORS.items():
        model = fit_model(train, FitSettings(detector=name, detector_params=params, image_size=96, device="cpu")).model
        model.save(root / name)
        folders[name] = export_model(root / name, root / f"{name}-export")
    yield folders, images, root
    patch.undo()


def _write_images(images, folder: Path) -> list[Path]:
    from inspector.io.images import save_image

    folder.mkdir(exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"part{i}.png")
        save_image(paths[-1], image)
    return paths


def _run_without_torch(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), INSPECTOR_ONNX_CACHE=str(tmp_path / "no-cache"))
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path, check=False)


@pytest.mark.parametrize("name", list(DETECTORS))
def test_export_inspects_without_torch_with_the_torch_paths_scores(exports, name, tmp_path):
    folders, images, _ = exports
    paths = _write_images(images, tmp_path / "images")
    from inspector.io.images import load_image

    decoded = [load_image(p) for p in paths]  # what the CLI scores (PNG round trip is lossless)
    torch_path = load_export(folders[name]).predict(decoded)
    csv_path = tmp_path / "out.csv"
    code = (f"from inspector.cli.main import main\n"
            f"rc = main(['inspect', {str(folders[name])!r}, {str(tmp_path / 'images')!r}, '-q', '--csv', {str(csv_path)!r}])\n"
            "import inspector.cli.run, inspector.station.runloop\n"
            "from inspector.export_runtime import ExportedModel, load_inspection_model\n"
            f"assert isinstance(load_inspection_model({str(folders[name])!r}), ExportedModel)\n"
            "assert all(sys.modules.get(m) is None for m in ('torch', 'timm', 'torchvision'))\n"
            "print('TORCH-FREE OK'); sys.exit(rc)\n")
    done = _run_without_torch(code, tmp_path)
    assert done.returncode == 0 and "TORCH-FREE OK" in done.stdout, done.stdout + done.stderr
    with open(csv_path, encoding="utf-8", newline="") as handle:
        rows = {Path(row["image"]).name: row for row in csv.DictReader(handle)}
    assert len(rows) == len(paths)
    scores = np.array([float(rows[p.name]["score"]) for p in paths])
    expected = np.array([p.score for p in torch_path])
    assert np.allclose(scores, expected, rtol=RELATIVE_TOLERANCE, atol=0), (expected, scores)
    assert [rows[p.name]["verdict"] for p in paths] == [p.verdict for p in torch_path]
    assert {"PASS", "FAIL"} & {p.verdict for p in torch_path}  # the check means something


@pytest.mark.parametrize("name", list(DETECTORS))
def test_torch_free_maps_match_the_torch_detector(exports, name):
    folders, images, _ = exports
    exported = ExportedModel.load(folders[name])
    torch_model = load_export(folders[name])
    features = torch_model.features(images)
    expected = torch_model.detector.score(features)
    scores, maps = exported.scores_and_maps(images)
    assert np.allclose(scores, expected.image_scores, rtol=RELATIVE_TOLERANCE)
    scale = float(np.abs(expected.maps).max())
    assert float(np.abs(maps - expected.maps).max()) <= RELATIVE_TOLERANCE * scale
    assert maps.shape == (len(images), 96, 128)


def test_numpy_resampling_matches_torch():
    import torch
    import torch.nn.functional as F

    from inspector.export_scoring import (
        adaptive_channel_pool,
        average_pool3,
        bilinear_resize,
        nearest_resize,
    )

    rng = np.random.default_rng(0)
    for shape, size in (((2, 5, 7, 18), (14, 35)), ((1, 3, 14, 14), (28, 28)), ((2, 4, 9, 5), (4, 11))):
        x = rng.standard_normal(shape).astype(np.float32)
        t = torch.from_numpy(x)
        np.testing.assert_allclose(bilinear_resize(x, *size), F.interpolate(t, size=size, mode="bilinear",
                                                                            align_corners=False).numpy(), atol=1e-5)
        np.testing.assert_array_equal(nearest_resize(x, *size), F.interpolate(t, size=size, mode="nearest").numpy())
        np.testing.assert_allclose(average_pool3(x), F.avg_pool2d(t, 3, 1, 1, count_include_pad=False).numpy(), atol=1e-5)
    x = rng.standard_normal((3, 4, 40)).astype(np.float32)
    for dim in (32, 40, 7, 64):
        expected = F.adaptive_avg_pool1d(torch.from_numpy(x).reshape(-1, 1, 40), dim).reshape(3, 4, dim).numpy()
        np.testing.assert_allclose(adaptive_channel_pool(x, dim), expected, atol=1e-5)


# -- issue 17: manifest.json and the export's files are untrusted input ----------------------------
def _copy(folder: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(folder, target, symlinks=True)
    return target


def _reseal(folder: Path) -> None:
    """Record the folder's current files in both manifests, as if exported so (forged damage)."""
    reseal_model_folder(folder / "model")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    write_manifest(folder, {k: v for k, v in manifest.items() if k not in ("files", "checksum", "format", "version",
                                                                           "model")})


def _refused(folder: Path) -> list[str]:
    """Both loaders refuse `folder` with one clean line; returns the messages."""
    messages = []
    for load in (ExportedModel.load, load_export, load_inspection_model):
        with pytest.raises(InspectorError) as caught:
            load(folder)
        message = str(caught.value)
        assert "\n" not in message and message
        messages.append(message)
    return messages


DAMAGE = [None, [], "x", -1, 1.5, {"a": 1}, True, 10 ** 30]


def _manifest_cases(manifest: dict) -> list[tuple[str, ...]]:
    cases = [(key,) for key in manifest if key not in ("files", "checksum")]
    cases += [("features", key) for key in manifest["features"]]
    cases += [("backbone_graph", key) for key in manifest["backbone_graph"]]
    return cases


@pytest.mark.parametrize("name", ["padim", "patchcore"])
def test_damaged_manifest_keys_and_types_are_refused(exports, name, tmp_path):
    folders, _, _ = exports
    original = json.loads((folders[name] / MANIFEST_FILE).read_text())
    tried = made = 0
    for path in _manifest_cases(original):
        for value in [*DAMAGE, "<missing>", "<unknown>"]:
            made += 1
            folder = _copy(folders[name], tmp_path / f"case{made}")
            manifest = json.loads((folder / MANIFEST_FILE).read_text())
            parent = manifest
            for key in path[:-1]:
                parent = parent[key]
            if value == "<missing>":
                del parent[path[-1]]
            elif value == "<unknown>":
                parent[path[-1] + "_extra"] = 1
            elif parent[path[-1]] == value or (path == ("head_graph",) and value is None):
                continue  # not damage
            else:
                parent[path[-1]] = value
            body = {k: v for k, v in manifest.items() if k not in ("files", "checksum", "format", "version", "model")}
            if path[0] in ("format", "version", "model"):  # write_manifest sets these: damage the file itself
                (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
            else:
                write_manifest(folder, body)  # resealed: the checks behind the checksum must catch it
            _refused(folder)
            tried += 1
    assert tried > 100


def test_unsealed_manifest_edit_is_caught_by_its_checksum(exports, tmp_path):
    folders, _, _ = exports
    folder = _copy(folders["padim"], tmp_path / "edited")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["features"]["image_size"] = 128
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert all("checksum" in m for m in _refused(folder))


@pytest.mark.parametrize("name", list(DETECTORS))
def test_flipped_bytes_and_truncation_in_every_file_are_refused(exports, name, tmp_path):
    folders, _, _ = exports
    files = sorted(p.relative_to(folders[name]) for p in folders[name].rglob("*") if p.is_file())
    assert any("npz" in str(f) for f in files) and len(files) >= 5
    count = 0
    for relative in files:
        size = (folders[name] / relative).stat().st_size
        for position in sorted({0, size // 3, size // 2, size - 1}):
            folder = _copy(folders[name], tmp_path / f"flip{count}")
            target = folder / relative
            data = bytearray(target.read_bytes())
            data[position] ^= 0x01
            target.write_bytes(bytes(data))
            _refused(folder)
            count += 1
        folder = _copy(folders[name], tmp_path / f"cut{count}")
        target = folder / relative
        target.write_bytes(target.read_bytes()[: size // 2])
        _refused(folder)
        count += 1
    assert count >= 5 * len(files)


def test_non_finite_or_truncated_arrays_are_refused_even_when_resealed(exports, tmp_path):
    folders, _, _ = exports
    from inspector.store.atomic import read_npz, write_npz_atomic

    folder = _copy(folders["padim"], tmp_path / "nan")
    npz = folder / "model" / "detector" / "detector.npz"
    arrays = read_npz(npz)
    arrays["means"][0, 0] = np.nan
    write_npz_atomic(npz, arrays)
    _reseal(folder)
    assert any("NaN" in m for m in _refused(folder))

    folder = _copy(folders["padim"], tmp_path / "short")
    npz = folder / "model" / "detector" / "detector.npz"
    arrays = read_npz(npz)
    arrays["precisions"] = arrays["precisions"][:-1]
    write_npz_atomic(npz, arrays)
    _reseal(folder)
    _refused(folder)


def test_symlinks_fifos_and_unlisted_files_are_refused(exports, tmp_path):
    folders, _, _ = exports
    outside = tmp_path / "outside.onnx"
    outside.write_bytes((folders["padim"] / "backbone.onnx").read_bytes())
    folder = _copy(folders["padim"], tmp_path / "link")
    (folder / "backbone.onnx").unlink()
    (folder / "backbone.onnx").symlink_to(outside)
    assert all("symbolic link" in m for m in _refused(folder))

    folder = _copy(folders["padim"], tmp_path / "fifo")
    os.mkfifo(folder / "model" / "detector" / "extra")
    assert all("not a regular file" in m for m in _refused(folder))

    folder = _copy(folders["padim"], tmp_path / "extra")
    (folder / "notes.txt").write_text("hello")
    assert all("not one of its files" in m for m in _refused(folder))

    folder = _copy(folders["padim"], tmp_path / "v1")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["version"] = 1
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert all("export the model again" in m for m in _refused(folder))


def test_cli_refuses_a_damaged_export_with_one_line_and_no_verdict(exports, tmp_path, capsys):
    folders, images, _ = exports
    from inspector.cli.main import main

    paths = _write_images(images[:2], tmp_path / "images")
    folder = _copy(folders["patchcore"], tmp_path / "damaged")
    index = folder / "model" / "detector" / "patchcore.faiss"
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0x80
    index.write_bytes(bytes(data))
    assert main(["inspect", str(folder), *map(str, paths), "-q"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and "patchcore.faiss" in captured.err
    assert "PASS" not in captured.out and "FAIL" not in captured.out


def test_a_round_trip_through_read_manifest_lists_every_file(exports):
    folders, _, _ = exports
    manifest = read_manifest(folders["simplenet"])
    assert set(manifest["files"]) == {p.relative_to(folders["simplenet"]).as_posix()
                                      for p in folders["simplenet"].rglob("*") if p.is_file()} - {MANIFEST_FILE}
    assert manifest["head_graph"]["file"] == "head.onnx" and manifest["detector"] == "simplenet"
