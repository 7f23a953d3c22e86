"""benchmarks/results_table.py formats evaluate result files without losing or inventing figures."""
import importlib.util
import json
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "results_table", Path(__file__).resolve().parents[2] / "benchmarks" / "results_table.py")
results_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(results_table)


def test_one_row_per_detector_with_missing_pixel_metrics_as_dash(tmp_path):
    result = {"settings": {"dataset": "/data/kolektorsdd", "image_size": 224},
              "results": [{"detector": "padim", "image_auroc": 0.8641, "pixel_auroc": 0.874, "au_pro": 0.431,
                           "fit_seconds": 2.0, "score_seconds_per_image": 0.01, "encode_seconds_total": 60.0},
                          {"detector": "knn", "image_auroc": 0.836, "pixel_auroc": None, "au_pro": None,
                           "fit_seconds": 0.1, "score_seconds_per_image": 0.0001}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    text = results_table.table([path])
    lines = text.strip().splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| kolektorsdd | 224 | padim | 0.864 | 0.874 | 0.431 |")
    assert "| knn | 0.836 | - | - |" in lines[3]
