"""Protocol cells through the executor seam: a local process pool and a real Dask LocalCluster
(two worker processes, reached through its scheduler address) give exactly the results of a
run in this process, for the low-data and pollution protocols and the classic-model grid; a
worker killed mid-run still leaves every cell in the store exactly once, and a stopped run
resumes without redoing the cells it finished."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

import inspector.evaluation.protocol_common as protocol_common
from inspector.evaluation.executor import SCHEDULER_ENV, ExecutorSettings
from inspector.evaluation.protocols import CELLS_FILE, run_low_data, run_pollution
from inspector.features.maps import FeatureMaps
from inspector.types import Cancelled, Reporter
from tests.unit.test_protocols import CONFIG, FakeExtractor, _make_category

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture()
def category(tmp_path, monkeypatch):
    fake = FakeExtractor()
    monkeypatch.setattr(protocol_common, "get_extractor", lambda config, device="auto": fake)
    return _make_category(tmp_path / "widget", n_train=24, per_defect=4)  # 8 defects: 20 % (5) may pollute


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local_cluster:
        yield local_cluster


def _run(category, out, executor=None, reporter=None):
    return run_low_data(category, out, detectors=["mahalanobis", "knn"], sizes=[4, 8, 12, 24], replicates=3,
                        feature_config=CONFIG, plots=False, executor=executor, reporter=reporter)


def _by_key(result):
    return {(c["detector"], c["size"], c["replicate"]): c["auroc"] for c in result.cells}


def _stored_keys(out):
    lines = (out / CELLS_FILE).read_text().splitlines()
    return [json.dumps(json.loads(line)["config"], sort_keys=True) for line in lines]


def test_cluster_and_pool_equal_a_local_run(category, tmp_path, cluster, monkeypatch):
    local = _run(category, tmp_path / "local")
    assert len(local.cells) == 2 * (3 * 3 + 1)
    messages = []
    on_dask = _run(category, tmp_path / "dask", ExecutorSettings(scheduler=cluster.scheduler_address),
                   Reporter(messages.append))
    assert _by_key(on_dask) == _by_key(local)  # exactly: same draws, same fits
    assert any("20/20 done" in m.message for m in messages)
    pooled = _run(category, tmp_path / "pool", ExecutorSettings(workers=2))
    assert _by_key(pooled) == _by_key(local)
    # the scheduler can also come from the environment
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    from_env = _run(category, tmp_path / "env")
    assert _by_key(from_env) == _by_key(local)
    assert len(set(_stored_keys(tmp_path / "env"))) == len(_stored_keys(tmp_path / "env")) == 20


def test_a_killed_worker_still_completes_every_cell_once(category, tmp_path, cluster):
    local = _run(category, tmp_path / "local")
    with distributed.Client(cluster.scheduler_address) as client:
        pids = list(client.run(os.getpid).values())
    assert len(pids) == 2
    killed = []

    def kill_one(progress):
        if progress.stage == "lowdata" and progress.done >= 2 and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    out = tmp_path / "dask"
    result = _run(category, out, ExecutorSettings(scheduler=cluster.scheduler_address), Reporter(kill_one))
    assert killed and _by_key(result) == _by_key(local)
    keys = _stored_keys(out)
    assert len(keys) == len(set(keys)) == 20  # every cell exactly once in the store
    cluster.wait_for_workers(2, timeout=30)  # the nanny restarts the killed worker


def test_cli_runs_lowdata_on_the_scheduler(category, tmp_path, cluster, capsys):
    main = _evaluate

    out = tmp_path / "cli"
    code = main([str(category), "--protocol", "lowdata", "--detector", "knn", "--sizes", "4,24", "--replicates", "2",
                 "--image-size", "32", "--out", str(out), "--quiet", "--scheduler", cluster.scheduler_address])
    assert code == 0
    printed = capsys.readouterr().out
    assert "normalised_area_under_auc_percent" in printed
    assert len(_stored_keys(out)) == 3
    assert main([str(category), "--protocol", "lowdata", "--out", str(tmp_path / "bad"), "--quiet",
                 "--scheduler", "localhost:1"]) == 1  # refused with one line by the evaluate verb


def test_failing_cells_fail_closed_and_keep_the_finished_ones(category, tmp_path, cluster):
    from inspector.types import InspectorError

    out = tmp_path / "failing"
    # k = 10 neighbours cannot be fitted on 4 images, but can on 24
    with pytest.raises(InspectorError, match="cells failed"):
        run_low_data(category, out, detectors=["knn:k=10"], sizes=[4, 24], replicates=2, feature_config=CONFIG,
                     plots=False, executor=ExecutorSettings(scheduler=cluster.scheduler_address))
    assert len(_stored_keys(out)) == 1  # the full-set cell finished and is kept for the next run


def _evaluate(argv: list[str]) -> int:
    """`inspector evaluate ARGV` (the protocols run through the one evaluate verb)."""
    from inspector.cli.main import main as inspector_main

    return inspector_main(["evaluate", *argv])


# -- pollution (seed 001) and the classic-model grid through the same seam ----------------------------
def _pollution(category, out, executor=None, reporter=None):
    return run_pollution(category, out, detectors=["mahalanobis", "knn"], ratios=[0.0, 0.1, 0.2],
                         refinement_ratios=[0.0, 0.1, 0.2], replicates=1, splits=3, feature_config=CONFIG, plots=False,
                         executor=executor, reporter=reporter)


#: per replicate and detector: 3 pollution ratios, 4 methods x 3 refinement ratios, the oracle
POLLUTION_CELLS = 1 * 2 * (3 + 4 * 3 + 1)


def _stored(out):
    """Every stored pollution cell's result without its timing, by its configuration."""
    results = {}
    for line in (out / CELLS_FILE).read_text().splitlines():
        record = json.loads(line)
        results[json.dumps(record["config"], sort_keys=True)] = {k: v for k, v in record["result"].items()
                                                                 if k != "fit_seconds"}
    return results


def test_pollution_on_the_cluster_equals_a_local_run(category, tmp_path, cluster):
    _pollution(category, tmp_path / "local")
    local = _stored(tmp_path / "local")
    assert len(local) == POLLUTION_CELLS
    assert {r["n_fit"] for r in local.values()} == {24, 22, 19}  # refinement removed 0, 2 and 5 of 24
    messages = []
    _pollution(category, tmp_path / "dask", ExecutorSettings(scheduler=cluster.scheduler_address),
               Reporter(messages.append))
    assert _stored(tmp_path / "dask") == local  # exactly: same splits, same rankings, same fits
    assert len(_stored_keys(tmp_path / "dask")) == POLLUTION_CELLS
    done = [m for m in messages if m.stage == "pollution"]
    assert done[-1].done == done[-1].total == POLLUTION_CELLS and f"{POLLUTION_CELLS}/{POLLUTION_CELLS} done" in \
        done[-1].message
    assert any("ETA" in m.message for m in done)
    assert any(m.stage == "refine" and m.total == 2 * 4 for m in messages)  # one ranking per method and seed


def test_pollution_survives_a_killed_worker_with_every_cell_once(category, tmp_path, cluster):
    _pollution(category, tmp_path / "local")
    with distributed.Client(cluster.scheduler_address) as client:
        pids = list(client.run(os.getpid).values())
    killed = []

    def kill_one(progress):
        if progress.stage == "pollution" and progress.done >= 4 and not killed:
            os.kill(pids[-1], signal.SIGKILL)
            killed.append(pids[-1])

    out = tmp_path / "dask"
    _pollution(category, out, ExecutorSettings(scheduler=cluster.scheduler_address), Reporter(kill_one))
    keys = _stored_keys(out)
    assert killed and len(keys) == len(set(keys)) == POLLUTION_CELLS
    assert _stored(out) == _stored(tmp_path / "local")
    cluster.wait_for_workers(2, timeout=30)


def test_a_stopped_pollution_run_resumes_on_the_cluster_without_redoing_cells(category, tmp_path, cluster,
                                                                             monkeypatch):
    from inspector.evaluation import pollution

    _pollution(category, tmp_path / "local")
    out, executor = tmp_path / "dask", ExecutorSettings(scheduler=cluster.scheduler_address)

    def stop(progress):
        if progress.stage == "pollution" and progress.done >= 10:
            raise Cancelled()

    with pytest.raises(Cancelled):
        _pollution(category, out, executor, Reporter(stop))
    kept = len(_stored_keys(out))
    assert 10 <= kept < POLLUTION_CELLS
    submitted = []
    real_run_cells = pollution.run_cells

    def recording(cell_fn, shared, cells, on_result, *args, **kwargs):
        weight = kwargs.get("weight", lambda c: 1)
        submitted.append((cell_fn.__name__, sum(weight(c) for c in cells)))
        return real_run_cells(cell_fn, shared, cells, on_result, *args, **kwargs)

    monkeypatch.setattr(pollution, "run_cells", recording)
    messages = []
    _pollution(category, out, executor, Reporter(messages.append))
    assert messages[0].done == kept and f"{kept} of {POLLUTION_CELLS}" in messages[0].message
    assert dict(submitted)["fit_cell"] == POLLUTION_CELLS - kept  # only the missing rows are fitted
    keys = _stored_keys(out)
    assert len(keys) == len(set(keys)) == POLLUTION_CELLS
    assert _stored(out) == _stored(tmp_path / "local")


def test_cli_runs_pollution_on_the_scheduler(category, tmp_path, cluster, capsys):
    out = tmp_path / "cli"
    code = _evaluate([str(category), "--protocol", "pollution", "--detector", "mahalanobis", "--ratios", "0,0.2",
                      "--refinement-ratios", "0,0.2", "--refinement-methods", "sroc,random", "--replicates", "1",
                      "--image-size", "32", "--out", str(out), "--quiet", "--scheduler", cluster.scheduler_address])
    assert code == 0
    assert "f1_mean" in capsys.readouterr().out
    assert len(_stored_keys(out)) == 2 + 2 * 2 + 1


def _sweep_data():
    from tests.unit.test_classic import pooled_maps

    rng = np.random.default_rng(3)
    train = pooled_maps(rng, 30)
    test = FeatureMaps.concatenate([pooled_maps(rng, 6), pooled_maps(rng, 6, shift=2.0)])
    return train, test, [0] * 6 + [1] * 6


SWEEP_GRIDS = {"lof": [{"n_neighbors": 4}, {"n_neighbors": 8}], "elliptic": [{"n_components": 4}],
               "kde": [{"bandwidth": 0.5, "kernel": "tophat"}, {"kernel": "triangle"}],  # triangle fails: a row
               "iforest": [{"n_estimators": 20}], "ocsvm": [{"kernel": "rbf", "nu": 0.1}]}


def _rows(rows):
    return [{k: v for k, v in r.to_json().items() if not k.endswith("_seconds")} for r in rows]


def test_sweep_on_the_cluster_equals_a_local_run_and_resumes(tmp_path, cluster, monkeypatch):
    from inspector.evaluation import sweep

    train, test, labels = _sweep_data()
    local = sweep.run_sweep(train, test, labels, grids=SWEEP_GRIDS)
    assert len(local) == 7 and sum(r.error is not None for r in local) == 1
    executor = ExecutorSettings(scheduler=cluster.scheduler_address)
    path = tmp_path / "sweep.jsonl"

    def stop(progress):
        if progress.stage == "sweep" and progress.done >= 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        sweep.run_sweep(train, test, labels, grids=SWEEP_GRIDS, results_path=path, executor=executor,
                        reporter=Reporter(stop))
    kept = len(path.read_text().splitlines())
    assert 3 <= kept < 7
    submitted = []
    real_run_cells = sweep.run_cells
    monkeypatch.setattr(sweep, "run_cells", lambda fn, shared, cells, *a, **k: submitted.extend(cells) or
                        real_run_cells(fn, shared, cells, *a, **k))
    on_dask = sweep.run_sweep(train, test, labels, grids=SWEEP_GRIDS, results_path=path, executor=executor)
    assert len(submitted) == 7 - kept  # the finished configurations are not run again
    assert _rows(on_dask) == _rows(local)  # exactly, in grid order
    assert len(path.read_text().splitlines()) == 7


def test_cli_runs_the_sweep_on_the_scheduler(category, tmp_path, cluster, capsys):
    out = tmp_path / "sweep.csv"
    code = _evaluate([str(category), "--sweep", "--detector", "elliptic", "--image-size", "32", "--out", str(out),
                      "--quiet", "--scheduler", cluster.scheduler_address])
    assert code == 0
    assert "best elliptic" in capsys.readouterr().out
    assert len(out.with_suffix(".jsonl").read_text().splitlines()) == 4  # Table 3's four elliptic settings
    assert len(out.read_text().splitlines()) == 1 + 4
