"""The inspection service fails closed per file and honours its cancel token."""
import math

import numpy as np
from PIL import Image

from inspector.station.inspection import ERROR, CancelToken, inspect_files


def _write(path, value):
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)


def _predict(images):
    out = []
    for image in images:
        score = float(image.mean())
        out.append((math.nan if score > 250 else score, "FAIL" if score >= 100 else "PASS"))
    return out


def test_bad_file_and_nan_become_error_and_batch_goes_on(tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png", tmp_path / "d.png"]
    _write(paths[0], 10)
    paths[1].write_bytes(b"not an image")
    _write(paths[2], 255)
    _write(paths[3], 200)
    results = [r for batch in inspect_files(paths, _predict, batch_size=3) for r in batch]
    assert [r.verdict for r in results] == ["PASS", ERROR, ERROR, "FAIL"]
    assert results[1].error.startswith("unreadable")
    assert results[2].score is None


def test_cancel_stops_before_next_batch(tmp_path):
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.png")
        _write(paths[-1], 10)
    token = CancelToken()
    seen = []
    for batch in inspect_files(paths, _predict, batch_size=2, cancel=token):
        seen.extend(batch)
        token.cancel()
    assert len(seen) == 2
