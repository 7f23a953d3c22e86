"""A sampled run of the model fuzz harness (tools/fuzz_models.py; the full run is on demand).

Damaged copies of a tiny saved model of every detector are loaded and inspected in a worker
process under a timeout and a memory bound: each must end in a clean refusal, ERROR verdicts or
unchanged verdicts, never a traceback, a hang, an allocation above the bound or a PASS the
undamaged model did not give. Set INSPECTOR_FUZZ_SEED to sample other cases.
"""
from __future__ import annotations

import os

import pytest

from tools.fuzz_models import FAMILIES, FORGED_FAMILIES, OUTCOMES_BAD, fuzz, report

CASES = 150


@pytest.mark.slow
def test_sampled_damaged_models_all_fail_closed(tmp_path):
    seed = int(os.environ.get("INSPECTOR_FUZZ_SEED", "20261202"))
    summary = fuzz(CASES, seed=seed, workers=1, work=tmp_path)
    text = report(summary)
    print(text)
    assert summary["cases"] == sum(summary["counts"].values()) == CASES
    assert len(summary["by_detector"]) >= 10  # every detector, the classic ones included
    assert set(summary["by_family"]) == set(FAMILIES) | {f"forged-{f}" for f in FORGED_FAMILIES}
    assert not summary["bad"], text
    assert all(summary["counts"].get(outcome, 0) == 0 for outcome in OUTCOMES_BAD)
    assert summary["counts"].get("refused", 0) > CASES // 2  # the damage is caught, not absorbed
