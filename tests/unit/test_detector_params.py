"""Parameters are validated up front (issue 10, item 6): one clear line per bad value, for each
detector, before any image is loaded; defaults always pass."""
from __future__ import annotations

import pytest

from inspector.detectors import available_detectors, create_detector
from inspector.types import InspectorError

BAD = {
    "knn": [{"k": 1.5}, {"k": 0}, {"k": "three"}],
    "mahalanobis": [{"covariance": 3}],
    "padim": [{"n_features": -1}, {"n_features": 0}, {"n_features": 2.5}],
    "patchcore": [{"coreset_ratio": 0.0}, {"coreset_ratio": "big"}, {"reweight_neighbors": -5}, {"sampler": "magic"}],
    "simplenet": [{"epochs": 0}, {"batch_size": 1.5}, {"noise_std": float("nan")}],
}


@pytest.mark.parametrize("name", sorted(available_detectors()))
def test_default_parameters_pass(name):
    create_detector(name).validate_params()


@pytest.mark.parametrize("name,params", [(n, p) for n, cases in BAD.items() for p in cases])
def test_bad_parameter_is_one_clear_line(name, params):
    with pytest.raises(InspectorError) as info:
        create_detector(name, **params).validate_params()
    message = str(info.value)
    assert "\n" not in message and next(iter(params)) in message


@pytest.mark.parametrize("argument", ["k=1.5", "k=0"])
def test_cli_fit_refuses_a_bad_parameter_before_loading_images(argument, tmp_path, capsys, monkeypatch):
    from inspector.cli.main import main
    from inspector.io import datasets

    def no_loading(*_args, **_kwargs):
        raise AssertionError("an image was loaded before the parameters were checked")

    monkeypatch.setattr(datasets.Sample, "load", no_loading)
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        (tmp_path / "imgs" / f"{i}.png").write_bytes(b"x")
    code = main(["fit", str(tmp_path / "imgs"), "--out", str(tmp_path / "m"), "--detector", "knn", "--param", argument])
    err = capsys.readouterr().err
    assert code != 0 and "KNN" in err and "Traceback" not in err
