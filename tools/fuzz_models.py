"""Fuzz the saved models of every detector: damaged model folders must fail closed (issue 17).

Each case copies a small saved model, damages it one way, then loads it and inspects four fixed
images in a worker process that runs under a timeout and a memory bound. Every case must end in
a clean refusal (InspectorError), ERROR verdicts, or verdicts identical to the undamaged model's:
never a traceback, a hang, an allocation above the bound, or a PASS the undamaged model did not
give (fail-open).

Damage families, each over every file of the folder:
- `bitflip`, `truncate`, `extend`, `size_field` (a header size or count field set to 0, -1 or
  huge), `json` (type and key damage), `special` (symlinks in and out, /dev/zero, FIFOs,
  folders, unlisted files, missing files): the file changes, model.json's manifest does not;
- the same structural families `forged`, i.e. with the manifest re-sealed after the damage
  (as a hand edit would), so that the checks behind the checksums are exercised too. Data bit
  flips are not forged: a re-sealed flip in a float is a different, valid model.

    python tools/fuzz_models.py --cases 5000          # the full run (about 10-20 minutes)
    python tools/fuzz_models.py --cases 200 --seed 1  # a quick one

The counts are printed; `docs/benchmarks/model_fuzz.txt` holds a committed full run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.model_damage import FAMILIES, FORGED_FAMILIES, Case, damage, plan_cases  # noqa: E402,F401 (re-exported)

IMAGE_SIZE = 64
SMALL = {"simplenet": {"epochs": 2}, "padim": {"n_features": 20}, "patchcore": {"coreset_ratio": 0.5},
         "kde": {}, "ocsvm": {}, "iforest": {}, "lof": {}, "elliptic": {}}
#: Per-case wall-clock limit; a case still running then counts as a hang.
CASE_TIMEOUT_S = 20.0
#: Memory a case may add on top of the worker's resting size (peak RSS; the address space limit
#: sits this far above the resting virtual size, so a larger allocation fails at once).
MEMORY_BOUND = 768 << 20
#: Scores count as unchanged within this fraction of the spread of the undamaged model's four
#: scores (repeated scoring differs in the last digits: BLAS reductions, float32 maps).
SCORE_TOLERANCE = 1e-4
OUTCOMES_OK = ("refused", "error_verdicts", "unchanged", "changed_forged")
OUTCOMES_BAD = ("fail_open", "changed_unsealed", "traceback", "hang", "memory")


# -- base models ----------------------------------------------------------------------------------
def synthetic_part(rng: np.random.Generator, size: int = 48, defect: bool = False) -> np.ndarray:
    """A grey disc on a dark ground; a defect is a red blotch (as in the tests' fixtures)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = size / 2 + rng.normal(0, 1.0), size / 2 + rng.normal(0, 1.0)
    image = np.full((size, size, 3), 30, np.float32)
    disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < (size * 0.35) ** 2
    image[disc] = (150 + 40 * (xx - cx) / size)[disc, None]
    image += rng.normal(0, 2, image.shape)
    if defect:
        blotch = ((xx - cx - rng.uniform(-5, 5)) ** 2 + (yy - cy) ** 2) < (size * 0.1) ** 2
        image[blotch] = [200, 60, 40]
    return np.clip(image, 0, 255).astype(np.uint8)


def test_images() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [synthetic_part(rng), synthetic_part(rng), synthetic_part(rng, defect=True), synthetic_part(rng, defect=True)]


def build_base_models(out: Path, detectors: Optional[list[str]] = None) -> dict[str, Path]:
    """Tiny fitted models of every detector, with a working point that gives PASS, REVIEW and FAIL."""
    from inspector.detectors.registry import available_detectors, create_detector
    from inspector.features.extractor import get_extractor
    from inspector.pipeline import FitSettings, InspectionModel, weights_fingerprint
    from inspector.threshold import Threshold

    rng = np.random.default_rng(5)
    train = [synthetic_part(rng) for _ in range(8)]
    test = test_images()
    geometry = FitSettings(image_size=IMAGE_SIZE).with_geometry_for(train).preprocessing
    config = FitSettings(image_size=IMAGE_SIZE, preprocessing=geometry).feature_config()
    extractor = get_extractor(config, "cpu")
    folders = {}
    for name in detectors or sorted(available_detectors()):
        params = SMALL.get(name, {})
        detector = create_detector(name, **params)
        detector.fit(extractor.extract(train, detector.layers))
        scores = np.sort(detector.score(extractor.extract(test, detector.layers)).image_scores)
        threshold = Threshold(float((scores[2] + scores[3]) / 2), float((scores[0] + scores[1]) / 2), "manual", 0.0)
        settings = FitSettings(detector=name, image_size=IMAGE_SIZE, detector_params=params, device="cpu",
                               preprocessing=geometry)
        model = InspectionModel(settings, detector, threshold, info={"weights_sha256": weights_fingerprint(config)})
        folder = model.save(out / name)
        reference = [(p.verdict, p.score) for p in InspectionModel.load(folder).predict(test)]
        if sorted(v for v, _ in reference) != ["FAIL", "PASS", "REVIEW", "REVIEW"]:
            raise RuntimeError(f"the {name} base model does not give PASS, REVIEW and FAIL: {reference}")
        (out / f"{name}.reference.json").write_text(json.dumps(reference))
        folders[name] = folder
    return folders


# -- the worker -----------------------------------------------------------------------------------
def _status(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _spread(reference: list) -> float:
    scores = [score for _, score in reference]
    return max(scores) - min(scores)


def run_case(case: Case, bases: dict[str, Path], references: dict[str, list], images: list, work: Path) -> dict:
    """Damage a copy of the case's model, load it, inspect; classify the outcome."""
    from inspector.pipeline import InspectionModel
    from inspector.types import InspectorError

    scratch = Path(tempfile.mkdtemp(dir=work))
    folder = scratch / "model"
    shutil.copytree(bases[case.detector], folder, symlinks=True)
    result: dict[str, Any] = {"case": case.label}
    try:
        result["damage"] = damage(folder, case, scratch)
        resting = _status("VmRSS")
        _reset_peak()
        try:
            model = InspectionModel.load(folder)
        except InspectorError as exc:
            message = str(exc)
            result["peak_mb"] = (_status("VmHWM") - resting) / 2 ** 20
            result.update(outcome="memory" if "more memory" in message or "bad_alloc" in message else "refused",
                          detail=message[:200])
            if result["peak_mb"] * 2 ** 20 > MEMORY_BOUND:
                result["outcome"] = "memory"
            return result
        predictions = model.predict(images)
        result["peak_mb"] = (_status("VmHWM") - resting) / 2 ** 20
        reference = references[case.detector]
        verdicts = [p.verdict for p in predictions]
        if any(v == "PASS" and ref != "PASS" for v, (ref, _) in zip(verdicts, reference)):
            result["outcome"] = "fail_open"
        elif all(v == "ERROR" for v in verdicts):
            result["outcome"] = "error_verdicts"
            result["detail"] = predictions[0].error[:200]
        elif verdicts == [ref for ref, _ in reference] and all(
                abs(p.score - score) <= SCORE_TOLERANCE * _spread(reference) for p, (_, score) in zip(predictions, reference)):
            result["outcome"] = "unchanged"
        else:
            result["outcome"] = "changed_forged" if case.forged else "changed_unsealed"
            result["detail"] = f"{verdicts} vs {[ref for ref, _ in reference]}"
        if result["peak_mb"] * 2 ** 20 > MEMORY_BOUND:
            result["outcome"] = "memory"
    except MemoryError:
        result.update(outcome="memory", detail="MemoryError")
    except Exception as exc:  # noqa: BLE001 - this is what the harness looks for
        result.update(outcome="traceback", detail=f"{type(exc).__name__}: {exc}"[:300],
                      trace=traceback.format_exc()[-1500:])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _worker(connection, bases: dict[str, str], references: dict[str, list], work: str) -> None:
    import logging

    logging.disable(logging.CRITICAL)  # legacy-model warnings and ERROR verdict logs: counted, not printed
    from inspector.pipeline import InspectionModel

    images = test_images()
    paths = {name: Path(path) for name, path in bases.items()}
    for name, path in paths.items():  # warm up (backbone, imports); the reference verdicts of this process
        own = [(p.verdict, p.score) for p in InspectionModel.load(path).predict(images)]
        if [v for v, _ in own] != [v for v, _ in references[name]]:
            raise RuntimeError(f"the {name} base model gives other verdicts in a worker: {own}")
        references[name] = own
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _status("VmSize") + 2 * MEMORY_BOUND
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    connection.send("ready")
    while True:
        case = connection.recv()
        if case is None:
            return
        connection.send(run_case(case, paths, references, images, Path(work)))


class WorkerPool:
    """Worker processes that each run one case at a time; one that overruns is killed and replaced."""

    def __init__(self, size: int, bases: dict[str, Path], references: dict[str, list], work: Path) -> None:
        self.context = mp.get_context("spawn")
        self.args = ({k: str(v) for k, v in bases.items()}, references, str(work))
        self.workers = [self._start() for _ in range(size)]

    def _start(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child, *self.args), daemon=True)
        process.start()
        if not parent.poll(300) or parent.recv() != "ready":
            raise RuntimeError("a fuzz worker did not start")
        return process, parent

    def run(self, cases: list[Case], on_result) -> None:
        pending = list(cases)
        busy: dict[int, tuple[Case, float]] = {}
        while pending or busy:
            for index, (process, connection) in enumerate(self.workers):
                if index not in busy and pending:
                    case = pending.pop(0)
                    connection.send(case)
                    busy[index] = (case, time.monotonic())
            for index in list(busy):
                process, connection = self.workers[index]
                case, started = busy[index]
                if connection.poll(0.01):
                    try:
                        on_result(connection.recv())
                    except EOFError:  # the worker died (a native crash)
                        on_result({"case": case.label, "outcome": "traceback", "detail": "worker process died"})
                        self.workers[index] = self._restart(index)
                    del busy[index]
                elif not process.is_alive() or time.monotonic() - started > CASE_TIMEOUT_S:
                    outcome = "hang" if process.is_alive() else "traceback"
                    on_result({"case": case.label, "outcome": outcome, "detail": f"exit code {process.exitcode}"})
                    self.workers[index] = self._restart(index)
                    del busy[index]

    def _restart(self, index: int):
        process, connection = self.workers[index]
        process.kill()
        process.join(5)
        connection.close()
        return self._start()

    def close(self) -> None:
        for process, connection in self.workers:
            try:
                connection.send(None)
            except OSError:
                pass
            process.join(5)
            if process.is_alive():
                process.kill()


def fuzz(cases: int, seed: int = 0, workers: int = 1, detectors: Optional[list[str]] = None,
         work: Optional[Path] = None, progress: bool = False) -> dict[str, Any]:
    """Run `cases` damaged model folders; returns the counts and the bad cases."""
    from inspector.detectors.registry import available_detectors

    detectors = detectors or sorted(available_detectors())
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        bases = build_base_models(root / "base", detectors)
        references = {name: json.loads((root / "base" / f"{name}.reference.json").read_text()) for name in detectors}
        counts: Counter = Counter()
        by_family: dict[str, Counter] = defaultdict(Counter)
        by_detector: dict[str, Counter] = defaultdict(Counter)
        bad: list[dict] = []
        started = time.monotonic()
        planned = plan_cases(detectors, cases, seed)

        peak = [0.0]

        def on_result(result: dict) -> None:
            outcome = result["outcome"]
            peak[0] = max(peak[0], result.get("peak_mb", 0.0))
            counts[outcome] += 1
            detector, kind = result["case"].split("/")
            by_family[kind.split("#")[0]][outcome] += 1
            by_detector[detector][outcome] += 1
            if outcome in OUTCOMES_BAD:
                bad.append(result)
            done = sum(counts.values())
            if progress and (done % 100 == 0 or done == len(planned)):
                print(f"  {done}/{len(planned)} cases, {time.monotonic() - started:.0f} s, bad so far: {len(bad)}",
                      file=sys.stderr, flush=True)

        (root / "cases").mkdir()
        pool = WorkerPool(workers, bases, references, root / "cases")
        try:
            pool.run(planned, on_result)
        finally:
            pool.close()
    return {"cases": len(planned), "counts": dict(counts), "by_family": {k: dict(v) for k, v in by_family.items()},
            "by_detector": {k: dict(v) for k, v in by_detector.items()}, "bad": bad,
            "seconds": time.monotonic() - started, "references": references, "peak_mb": peak[0]}


def report(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    lines = [f"model fuzz: {summary['cases']} damaged model folders, {len(summary['by_detector'])} detectors, "
             f"{summary['seconds']:.0f} s",
             f"  case timeout {CASE_TIMEOUT_S:.0f} s, memory bound {MEMORY_BOUND >> 20} MiB above the worker's resting size",
             f"  largest peak memory of a case: {summary.get('peak_mb', 0.0):.1f} MiB above the worker's resting size",
             "", "outcomes (must be zero: " + ", ".join(OUTCOMES_BAD) + "):"]
    for outcome in OUTCOMES_OK + OUTCOMES_BAD:
        lines.append(f"  {outcome:<17} {counts.get(outcome, 0):>6}")
    lines += ["", "by damage family:"]
    for family, outcomes in sorted(summary["by_family"].items()):
        lines.append(f"  {family:<24} " + "  ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))
    lines += ["", "by detector:"]
    for detector, outcomes in sorted(summary["by_detector"].items()):
        lines.append(f"  {detector:<12} " + "  ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))
    for result in summary["bad"][:20]:
        lines.append(f"BAD {result['case']}: {result['outcome']}: {result.get('damage', '')}: {result.get('detail', '')}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--detector", action="append", help="only these detectors (repeatable)")
    args = parser.parse_args(argv)
    summary = fuzz(args.cases, args.seed, args.workers, args.detector, progress=True)
    print(report(summary))
    return 0 if not summary["bad"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
