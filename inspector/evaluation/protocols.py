"""The public entry point to the seeds' evaluation protocols, resumable: low data (seed 000) and
pollution / refinement (seed 001).

The code lives in one module per job; this module re-exports their public names so that
`from inspector.evaluation.protocols import ...` keeps working:

- protocol_common.py: detector specs, features encoded once and cached, the resumable cell store;
- protocol_summary.py: grouping cells, mean / std summaries, the CSV files;
- lowdata.py: seed 000's low-data protocol (`run_low_data`);
- pollution.py: seed 001's pollution and refinement protocol (`run_pollution`).

To replace a dependency in a test (the feature extractor, the per-cell fit), patch it in the
module that uses it, not here.
"""
from __future__ import annotations

from inspector.evaluation.lowdata import LowDataResult, LowDataShared, lowdata_cell, run_low_data
from inspector.evaluation.pollution import (
    DEFAULT_POLLUTION_RATIOS,
    DEFAULT_REFINEMENT_RATIOS,
    KNN_REFINE_PARAMS,
    PollutedSplit,
    PollutionResult,
    polluted_split,
    pollution_set,
    run_pollution,
)
from inspector.evaluation.protocol_common import (
    CELLS_FILE,
    CellStore,
    DetectorSpec,
    FeatureCache,
    FeatureEncoder,
    evaluate_detector,
    json_safe,
    layers_for,
    parse_detectors,
    parse_number_list,
    sample_size_grid,
)
from inspector.evaluation.protocol_summary import group_rows, mean_std, summarise, write_csv

__all__ = [
    "CELLS_FILE", "DEFAULT_POLLUTION_RATIOS", "DEFAULT_REFINEMENT_RATIOS", "KNN_REFINE_PARAMS", "CellStore",
    "DetectorSpec", "FeatureCache", "FeatureEncoder", "LowDataResult", "LowDataShared", "PollutedSplit",
    "PollutionResult", "evaluate_detector", "group_rows", "json_safe", "layers_for", "lowdata_cell", "mean_std",
    "parse_detectors", "parse_number_list", "polluted_split", "pollution_set", "run_low_data", "run_pollution", "sample_size_grid",
    "summarise", "write_csv",
]
