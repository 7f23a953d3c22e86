"""PNG plots of the protocol curves (matplotlib's Agg canvas: no display, no Qt, no pyplot).

Figures are built with the object-oriented API (`Figure` + `FigureCanvasAgg`), so nothing here
touches pyplot's global backend or state: safe in worker threads and next to the GUI.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from inspector.store.atomic import atomic_open

_METHOD_STYLE = {"sroc": "-", "sroc_iterative": "-", "random": ":", "cross_validation": "--", "stoc": "-."}
_METHOD_LABEL = {"sroc": "SROC", "sroc_iterative": "Iterative SROC", "random": "Random", "cross_validation": "Cross-validation",
                 "stoc": "STOC"}


def _subplots(ncols: int = 1, figsize: tuple[float, float] = (7, 4.5)):
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols, squeeze=False)
    return figure, axes


def _save(figure: Figure, path: Path, top: float = 0.9) -> Path:
    # fixed margins: tight_layout costs more than drawing the figure
    figure.subplots_adjust(left=0.13 if len(figure.axes) == 1 else 0.06, right=0.98, bottom=0.13, top=top,
                           wspace=0.22)
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    return path


def _finite(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _curve(axis, xs, means, stds, label: str, style: str = "-", color=None) -> None:
    xs, means, stds = _finite(xs), _finite(means), np.nan_to_num(_finite(stds))
    order = np.argsort(xs)
    xs, means, stds = xs[order], means[order], stds[order]
    ok = np.isfinite(means)
    if not ok.any():
        return
    line, = axis.plot(xs[ok], means[ok], style, marker="o", markersize=3, label=label, color=color)
    if np.any(stds[ok] > 0):
        # every metric plotted here lies in [0, 1]; so does its band
        low, high = np.clip(means - stds, 0.0, 1.0), np.clip(means + stds, 0.0, 1.0)
        axis.fill_between(xs[ok], low[ok], high[ok], alpha=0.15, color=line.get_color())


def plot_low_data(summary: list[dict[str, Any]], path: str | Path, title: str = "AUROC vs training images",
                  n_total: Optional[int] = None) -> Path:
    """AUROC (mean ± std over replicates) vs original sample size; dashed = augmented."""
    figure, axes = _subplots(1, (7, 4.5))
    axis = axes[0][0]
    detectors = sorted({row["detector"] for row in summary})
    colors = {d: f"C{i}" for i, d in enumerate(detectors)}
    for (detector, factor) in sorted({(row["detector"], row["factor"]) for row in summary}):
        rows = [r for r in summary if r["detector"] == detector and r["factor"] == factor]
        label = detector if not factor else f"{detector} + aug x{factor}"
        _curve(axis, [r["size"] for r in rows], [r["auroc_mean"] for r in rows], [r["auroc_std"] for r in rows],
               label, "-" if not factor else "--", colors[detector])
    axis.set_xlabel("original training images" + (f" (of {n_total})" if n_total else ""))
    axis.set_ylabel("image AUROC")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return _save(figure, Path(path))


def plot_pollution(robustness: list[dict[str, Any]], folder: str | Path, title: str = "pollution") -> list[Path]:
    """AUROC and AU-PRO vs pollution ratio, one line per detector (AU-PRO only where it exists)."""
    folder = Path(folder)
    paths = []
    for metric, name in (("auroc", "image AUROC"), ("au_pro", "AU-PRO (FPR ≤ 30 %)")):
        rows = [r for r in robustness if math.isfinite(r.get(f"{metric}_mean", float("nan")))]
        if not rows:
            continue
        figure, axes = _subplots(1, (6.5, 4.2))
        axis = axes[0][0]
        for detector in sorted({r["detector"] for r in rows}):
            mine = [r for r in rows if r["detector"] == detector]
            _curve(axis, [100 * r["pollution"] for r in mine], [r[f"{metric}_mean"] for r in mine],
                   [r[f"{metric}_std"] for r in mine], detector)
        axis.set_xlabel("pollution ratio (%)")
        axis.set_ylabel(name)
        axis.set_title(f"{title}: {name}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        paths.append(_save(figure, folder / f"pollution_{metric}.png"))
    return paths


def plot_refinement(refinement: list[dict[str, Any]], folder: str | Path, title: str = "refinement") -> list[Path]:
    """Per metric (AUROC, AU-PRO, precision, recall, F1): one panel per detector, one line per
    method; the oracle (removes exactly the polluted images) is a dashed horizontal line."""
    folder = Path(folder)
    paths = []
    detectors = sorted({r["detector"] for r in refinement})
    metrics = (("auroc", "image AUROC"), ("au_pro", "AU-PRO (FPR ≤ 30 %)"), ("precision", "refinement precision"),
               ("recall", "refinement recall"), ("f1", "refinement F1"))
    for metric, name in metrics:
        rows = [r for r in refinement if math.isfinite(r.get(f"{metric}_mean", float("nan")))]
        if not rows:
            continue
        shown = [d for d in detectors if any(r["detector"] == d for r in rows)]
        figure, axes = _subplots(len(shown), (4.2 * len(shown), 3.8))
        for axis, detector in zip(axes[0], shown):
            mine = [r for r in rows if r["detector"] == detector]
            for method in [m for m in _METHOD_STYLE if any(r["method"] == m for r in mine)]:
                curve = [r for r in mine if r["method"] == method]
                _curve(axis, [100 * r["refinement"] for r in curve], [r[f"{metric}_mean"] for r in curve],
                       [r[f"{metric}_std"] for r in curve], _METHOD_LABEL.get(method, method),
                       _METHOD_STYLE[method])
            oracle = [r for r in mine if r["method"] == "oracle"]
            if oracle and metric in ("auroc", "au_pro"):
                axis.axhline(oracle[0][f"{metric}_mean"], color="grey", linestyle="--", linewidth=1,
                             label="oracle (only polluted removed)")
            refiners = sorted({r["refiner"] for r in mine if r["method"] != "oracle"})
            subtitle = detector if refiners in ([], [detector]) else f"{detector} (refined with {', '.join(refiners)})"
            axis.set_title(subtitle, fontsize=9)
            axis.set_xlabel("refinement ratio (%)")
            axis.grid(alpha=0.3)
        axes[0][0].set_ylabel(name)
        axes[0][0].legend(fontsize=7)
        figure.suptitle(f"{title}: {name}", fontsize=10)
        paths.append(_save(figure, folder / f"refinement_{metric}.png", top=0.83))
    return paths
