"""The inspection service fails closed per file and honours its cancel token."""
import math

import numpy as np
import pytest
from PIL import Image

from inspector.inspection import Prediction, inspect_files
from inspector.threshold import ERROR
from inspector.types import CancelToken, Cancelled


def _write(path, value):
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)


def _predict(images):
    out = []
    for image in images:
        score = float(image.mean())
        out.append(Prediction(math.nan if score > 250 else score, None, "FAIL" if score >= 100 else "PASS"))
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


def test_a_predictor_that_says_pass_without_a_finite_score_or_fails_gives_error(tmp_path):
    path = tmp_path / "a.png"
    _write(path, 10)
    lying = lambda images: [Prediction(math.inf, None, "PASS") for _ in images]  # noqa: E731
    assert [r.verdict for b in inspect_files([path], lying) for r in b] == [ERROR]

    def broken(images):
        raise RuntimeError("faiss exploded")
    result = next(inspect_files([path], broken))[0]
    assert result.verdict == ERROR and "faiss exploded" in result.error
    short = lambda images: []  # noqa: E731  a predictor that loses an image
    assert next(inspect_files([path], short))[0].verdict == ERROR


def test_a_cancel_inside_the_predictor_is_not_turned_into_results(tmp_path):
    path = tmp_path / "a.png"
    _write(path, 10)

    def cancelled(images):
        raise Cancelled()
    with pytest.raises(Cancelled):
        next(inspect_files([path], cancelled))
