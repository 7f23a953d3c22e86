"""Turn `inspector evaluate --out X.json` result files into one Markdown table.

Why: every figure quoted in README/docs must come from a committed run. This script only
formats; the runs themselves are `inspector evaluate DATASET --detector ... --out FILE.json`.

Usage:
    python benchmarks/results_table.py docs/benchmarks/ksdd-*.json > docs/benchmarks/table.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional


def _cell(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def rows(result_file: Path) -> list[str]:
    """One Markdown row per detector in an evaluate result file."""
    data: dict[str, Any] = json.loads(result_file.read_text())
    settings = data["settings"]
    dataset = Path(settings["dataset"]).name
    out = []
    for result in data["results"]:
        encode = result.get("encode_seconds_total")
        out.append(
            f"| {dataset} | {settings['image_size']} | {result['detector']} | "
            f"{_cell(result['image_auroc'])} | {_cell(result.get('pixel_auroc'))} | "
            f"{_cell(result.get('au_pro'))} | {_cell(result.get('fit_seconds'), 1)} | "
            f"{_cell(result.get('score_seconds_per_image'), 4)} | {_cell(encode, 1)} |")
    return out


def table(result_files: list[Path]) -> str:
    header = ("| data | size | detector | image AUROC | pixel AUROC | AU-PRO (30 % FPR) | fit s | "
              "score s/image | backbone s (all images) |\n|---|---|---|---|---|---|---|---|---|")
    body = [row for path in result_files for row in rows(path)]
    return "\n".join([header, *body]) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(table([Path(arg) for arg in sys.argv[1:]]))
