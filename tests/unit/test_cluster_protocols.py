"""Protocol cells through the executor seam: a local process pool and a real Dask LocalCluster
(two worker processes, reached through its scheduler address) give exactly the results of a
run in this process; a worker killed mid-run still leaves every cell in the store exactly once."""
from __future__ import annotations

import json
import os
import signal

import pytest

import inspector.evaluation.protocol_common as protocol_common
from inspector.evaluation.executor import SCHEDULER_ENV, ExecutorSettings
from inspector.evaluation.protocols import CELLS_FILE, run_low_data
from inspector.types import Reporter
from tests.unit.test_protocols import CONFIG, FakeExtractor, _make_category

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture()
def category(tmp_path, monkeypatch):
    fake = FakeExtractor()
    monkeypatch.setattr(protocol_common, "get_extractor", lambda config, device="auto": fake)
    return _make_category(tmp_path / "widget", n_train=24)


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
