"""The protocols' outputs: cells grouped and summarised (mean, std, count) and written as CSV.

Its own module because both protocols summarise the same way and neither owns the format.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from inspector.store.safe_output import write_csv_atomic


def write_csv(path: Path, rows: list[dict[str, Any]], columns: Optional[list[str]] = None) -> None:
    """The rows as CSV (every key, in order of appearance, unless `columns` are given), numbers to
    6 significant digits; cells are escaped as every CSV output is (`safe_output`)."""
    if columns is None:
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns]
    write_csv_atomic(path, columns, rows, float_format=".6g")


def mean_std(values: Iterable[Any]) -> tuple[float, float, int]:
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    array = array[np.isfinite(array)]
    if len(array) == 0:
        return float("nan"), float("nan"), 0
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0, len(array)


def group_rows(rows: list[dict[str, Any]], keys: Sequence[str]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def summarise(rows: list[dict[str, Any]], keys: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    summary = []
    for group_key, members in group_rows(rows, keys).items():
        out = dict(zip(keys, group_key))
        for metric in metrics:
            mean, std, count = mean_std(m.get(metric) for m in members)
            out[f"{metric}_mean"], out[f"{metric}_std"] = mean, std
            out["n"] = max(out.get("n", 0), count)
        summary.append(out)
    return summary


