"""Bad detector parameters are refused by the CLI with one clear line, before any image loads,
for every registered detector; the one `name:key=value` parser means the same everywhere."""
from __future__ import annotations

import json

import pytest

from inspector.cli.common import parse_param
from inspector.cli.main import main
from inspector.detectors.params import describe_params, param_infos, parse_detector_spec
from inspector.detectors.registry import available_detectors
from inspector.evaluation.protocols import DetectorSpec


def _bad_value(cls) -> tuple[str, str]:
    """A value of the wrong type for the detector's first int (else bool, else str) parameter."""
    infos = {info.type: info for info in reversed(param_infos(cls)) if info.name != "layers"}
    for kind, bad in (("int", "1.5"), ("bool", "maybe"), ("float", "fast"), ("str", "3")):
        if kind in infos:
            return infos[kind].name, bad
    raise AssertionError(f"{cls.name} declares no simple parameter")


CASES = [(name, *_bad_value(cls)) for name, cls in sorted(available_detectors().items())]
CASES += [("knn", "k", "0"), ("padim", "n_features", "-1"), ("padim", "n_features", "0"),
          ("mahalanobis", "covariance", "bogus")]


def _assert_one_clear_line(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Fitting" not in err  # refused before any image loads
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("name,param,bad", CASES, ids=[f"{c[0]}-{c[1]}={c[2]}" for c in CASES])
def test_fit_refuses_a_bad_value_in_one_line(name, param, bad, synthetic_category, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "-o", str(out), "--detector", f"{name}:{param}={bad}", "-q"]) == 1
    _assert_one_clear_line(capsys.readouterr().err, param)
    assert not out.exists()


def test_param_flag_and_evaluate_refuse_bad_values_too(synthetic_category, tmp_path, capsys):
    assert main(["fit", str(synthetic_category), "-o", str(tmp_path / "m"), "--detector", "knn",
                 "--param", "k=1.5", "-q"]) == 1
    _assert_one_clear_line(capsys.readouterr().err, "k", "1.5")
    assert main(["evaluate", str(synthetic_category), "--detector", "knn", "padim:n_features=0", "-q"]) == 1
    _assert_one_clear_line(capsys.readouterr().err, "n_features")


def test_a_good_spec_reaches_the_fitted_model(synthetic_category, tmp_path):
    out = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "-o", str(out), "--detector", "knn:k=2", "--image-size", "64", "-q"]) == 0
    assert json.loads((out / "detector" / "detector.json").read_text())["params"]["k"] == 2


def test_one_parser_for_every_spelling():
    assert parse_detector_spec("padim:n_features=50:covariance=ledoit") == ("padim", {"n_features": 50, "covariance": "ledoit"})
    assert parse_param("k=3") == ("k", 3) and parse_param("layers=[2, 4]") == ("layers", [2, 4])
    assert DetectorSpec.parse("knn:k=3:layers=[2,4]").kwargs == {"k": 3, "layers": (2, 4)}
    with pytest.raises(Exception, match="name=value"):
        parse_detector_spec("knn:k")


def test_describe_params_reads_the_detector():
    knn = {p["name"]: p for p in describe_params("knn")}
    assert knn["k"]["type"] == "int" and knn["k"]["default"] == 1 and knn["k"]["minimum"] == 1 and knn["k"]["help"]
    padim = {p["name"]: p for p in describe_params("padim")}
    assert padim["n_features"]["minimum"] == 1
    for name in available_detectors():  # every parameter has a type the GUI can draw
        assert all(p["type"] in ("int", "float", "bool", "str", "tuple", "any") for p in describe_params(name))


def test_a_saved_model_with_a_bad_parameter_is_refused_on_load(synthetic_category, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "-o", str(out), "--detector", "knn", "--image-size", "64", "-q"]) == 0
    meta_path = out / "detector" / "detector.json"
    meta = json.loads(meta_path.read_text())
    meta["params"]["k"] = 0
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    # The manifest catches a hand edit first ...
    assert main(["inspect", str(out), str(synthetic_category / "test" / "good"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "Damaged model file" in err and "detector.json" in err and "Traceback" not in err
    # ... and a model whose manifest was re-stamped over the bad value is still refused by the parameter check.
    from inspector.store.model_manifest import write_model_json

    write_model_json(out, json.loads((out / "model.json").read_text()))
    assert main(["inspect", str(out), str(synthetic_category / "test" / "good"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "parameters are invalid" in err and "k must be at least 1" in err and "Traceback" not in err
