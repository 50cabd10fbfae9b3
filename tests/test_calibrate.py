"""Calibrated thresholds: the derivation rule, `autograder calibrate`, and every checked-in thresholds file.

For each practical's ``thresholds.json``:
(a) every observed answer-key value satisfies its threshold, the threshold follows the file's rule and margin,
    and the current answer key (graded once per session with the grading seed) still passes it;
(b) the threshold is not so loose that a known-wrong value (``wrong_example``: chance level, untrained model)
    passes it.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from helpers import notebook_constants

from autograder import calibrate as cal, practicals
from autograder.check_api import expect_calibrated, threshold

NAMES = [name for name, p in practicals.REGISTRY.items() if p.thresholds.is_file()]


# -- the derivation -------------------------------------------------------------------------------

def test_derive_min_is_worst_seed_minus_margin():
    assert cal.derive_threshold([0.86, 0.85, 0.87], "min", 0.02) == pytest.approx(0.83)
    assert cal.derive_threshold([0.9], "min", 0.0) == pytest.approx(0.9)


def test_derive_max_is_worst_seed_plus_margin():
    assert cal.derive_threshold([0.31, 0.35, 0.33], "max", 0.05) == pytest.approx(0.40)


def test_derive_rounds_away_from_the_observations():
    t = cal.derive_threshold([0.84567891], "min", 0.01)
    assert t == 0.8356 and t <= 0.84567891 - 0.01
    t = cal.derive_threshold([0.12341], "max", 0.01)
    assert t == 0.1335 and t >= 0.12341 + 0.01
    # exact decimals are not pushed one step further by float noise
    assert cal.derive_threshold([0.85], "min", 0.02) == 0.83
    assert cal.derive_threshold([0.07], "max", 0.01) == 0.08


@pytest.mark.parametrize("bad", [dict(observed=[]), dict(observed=[float("nan")]), dict(kind="median"),
                                 dict(margin=-0.1)])
def test_derive_rejects_bad_input(bad):
    args = dict(observed=[0.5], kind="min", margin=0.02) | bad
    with pytest.raises(ValueError):
        cal.derive_threshold(args["observed"], args["kind"], args["margin"])


def _entry(**kw):
    e = {"threshold": 0.83, "kind": "min", "margin": 0.02, "observed": [0.85, 0.86, 0.87, 0.855, 0.865],
         "rule": "worst seed minus margin", "wrong_example": 0.1}
    e.update(kw)
    return e


def test_entry_problems_accepts_a_consistent_entry():
    assert cal.entry_problems("acc", _entry()) == []
    assert cal.entry_problems("loss", _entry(kind="max", threshold=0.52, observed=[0.4, 0.5], rule="worst seed plus margin",
                                             wrong_example=2.3)) == []


@pytest.mark.parametrize("change, words", [
    (dict(threshold=0.86), "fails its own threshold"),             # too tight: a seed fails
    (dict(threshold=0.80), "does not follow"),                      # not what the rule says
    (dict(wrong_example=0.84, threshold=0.83), "known-wrong"),      # too loose: a wrong value passes
    (dict(wrong_example=[0.1, 0.845]), "known-wrong"),
    (dict(rule="median minus 3 sigma"), "not a known rule"),
    (dict(kind="max"), "fails its own threshold"),
])
def test_entry_problems_finds(change, words):
    problems = cal.entry_problems("acc", _entry(**change))
    assert any(words in p for p in problems), problems


def test_file_problems_needs_provenance_and_wrong_examples():
    data = {"acc": _entry()}
    problems = cal.file_problems(data)
    assert any("_provenance" in p for p in problems)
    data["_provenance"] = {"seeds": [1, 2, 3, 4, 5], "versions": {}, "device": "cpu", "date": "2026-01-01"}
    assert cal.file_problems(data) == []
    del data["acc"]["wrong_example"]
    assert any("wrong_example" in p for p in cal.file_problems(data))
    data["_provenance"]["seeds"] = [1, 2]
    assert any("at least 5" in p for p in cal.file_problems(data, require_wrong_example=False))


def test_build_file_keeps_the_authors_fields_and_order():
    previous = {"_provenance": {"seeds": [0]}, "val_acc": {"threshold": 0.5, "kind": "min", "margin": 0.05,
                                                           "observed": [0.6], "wrong_example": 0.1, "what": "val"},
                "loss": {"threshold": 9, "kind": "max", "margin": 0.1, "observed": [1.0], "wrong_example": 2.3}}
    measured = {"val_acc": [0.80, 0.82, 0.81, 0.79, 0.83], "loss": [0.50, 0.55, 0.52, 0.51, 0.53],
                "new_acc": [0.9] * 5}
    data, warnings = cal.build_file(measured, [1, 2, 3, 4, 5], previous=previous, provenance={"device": "cpu"})
    assert list(data) == ["_provenance", "val_acc", "loss", "new_acc"]
    assert data["_provenance"] == {"device": "cpu", "seeds": [1, 2, 3, 4, 5]}
    assert data["val_acc"]["threshold"] == pytest.approx(0.74) and data["val_acc"]["margin"] == 0.05
    assert data["val_acc"]["wrong_example"] == 0.1 and data["val_acc"]["what"] == "val"
    assert data["loss"]["threshold"] == pytest.approx(0.65) and data["loss"]["rule"] == "worst seed plus margin"
    assert data["new_acc"]["kind"] == "min" and data["new_acc"]["margin"] == cal.DEFAULT_MARGIN
    assert any("new_acc: new key" in w for w in warnings)
    assert [p for p in cal.file_problems(data, require_wrong_example=False) if "_provenance" not in p] == []
    assert previous["val_acc"]["wrong_example"] == 0.1  # the caller's dict is not modified
    data, warnings = cal.build_file(measured, [1, 2, 3, 4, 5], previous=previous, wrong={"new_acc": 0.95, "loss": 0.6})
    assert data["new_acc"]["wrong_example"] == 0.95 and data["loss"]["wrong_example"] == 0.6
    assert any("new_acc" in w and "known-wrong" in w for w in warnings)   # 0.95 passes 0.88: too loose
    assert any("loss" in w and "known-wrong" in w for w in warnings)
    with pytest.raises(cal.CalibrationError):
        cal.build_file(measured, [1], previous=previous, wrong={"nope": 0.1})


def test_calibrate_writes_a_file_the_checks_read(tmp_path, monkeypatch):
    """`calibrate` on synthetic measurements (no notebook runs): writes, preserves, and api.threshold reads it."""

    fake = {1234: 0.85, 1235: 0.86, 1236: 0.84, 1237: 0.87, 1238: 0.855}

    def grade_one(job):
        path, seed, device, timeout = job
        return (seed, "graded", 10.0, 10.0, "", {"test_accuracy": fake[seed], "test_loss": 1 - fake[seed]},
                {"versions": {"keras": "x"}, "python": "3", "flags": {}}, 1.0, [])

    monkeypatch.setattr(cal, "_grade_one", grade_one)
    key = tmp_path / "02-graphs.ipynb"
    key.write_text("{}")
    (tmp_path / "02-graphs.json").write_text(json.dumps(
        {"test_loss": {"threshold": 0, "kind": "max", "margin": 0.01, "observed": [], "wrong_example": 0.9}}))
    data, problems = cal.calibrate("02-graphs", folder=tmp_path, notebook=key, log=lambda m: None)
    written = json.loads((tmp_path / "02-graphs.json").read_text())
    assert written == data
    prov = written["_provenance"]
    assert prov["seeds"] == [1234, 1235, 1236, 1237, 1238] and prov["device"] == "cpu"
    assert prov["versions"] == {"keras": "x"} and prov["date"] and "autograder calibrate 02-graphs" in prov["command"]
    assert written["test_loss"]["threshold"] == pytest.approx(0.17) and written["test_loss"]["kind"] == "max"
    assert written["test_accuracy"]["threshold"] == pytest.approx(0.82)
    assert written["test_accuracy"]["observed"] == [0.85, 0.86, 0.84, 0.87, 0.855]
    assert any("test_accuracy: new key" in p for p in problems)

    (tmp_path / "thresholds.json").write_text((tmp_path / "02-graphs.json").read_text())
    monkeypatch.setitem(practicals.REGISTRY, "02-graphs", dataclasses.replace(practicals.get("02-graphs"), folder=tmp_path))
    assert threshold("02-graphs", "test_accuracy") == pytest.approx(0.82)

    class Art:
        def measure(self, k, v):
            pass
    expect_calibrated(Art(), "02-graphs", "test_accuracy", 0.83, "accuracy")
    with pytest.raises(AssertionError, match="expected at least 0.8200"):
        expect_calibrated(Art(), "02-graphs", "test_accuracy", 0.81, "accuracy")


def test_calibrate_refuses_an_incomplete_distribution(tmp_path, monkeypatch):
    def grade_one(job):
        seed = job[1]
        if seed == 1236:
            return seed, "timeout", 0.0, 10.0, "too slow", {}, {}, 1.0, ["x"]
        return seed, "graded", 10.0, 10.0, "", {"acc": 0.9}, {}, 1.0, []

    monkeypatch.setattr(cal, "_grade_one", grade_one)
    key = tmp_path / "k.ipynb"
    key.write_text("{}")
    with pytest.raises(cal.CalibrationError, match="seed 1236"):
        cal.calibrate("02-graphs", folder=tmp_path, notebook=key, log=lambda m: None)
    assert not (tmp_path / "02-graphs.json").exists()


def test_calibrate_cli_is_wired():
    from autograder.cli import build_parser

    args = build_parser().parse_args(["calibrate", "03-mlp", "--k", "6", "--dry-run", "--wrong", "acc=0.1"])
    assert args.func.__name__ == "cmd_calibrate" and args.k == 6 and args.dry_run and args.wrong == ["acc=0.1"]
    assert cal.default_seeds(6)[0] == 1234 and len(cal.default_seeds(6)) == 6


# -- every checked-in thresholds file ---------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_thresholds_file_is_consistent(name):
    """(a) observed values satisfy the thresholds and the rule; (b) known-wrong values fail them."""
    data = json.loads(practicals.get(name).thresholds.read_text())
    problems = cal.file_problems(data)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_current_answer_key_passes_its_thresholds(name, graded_key):
    """The answer key, as it is now, still measures every key and passes every threshold."""
    data = json.loads(practicals.get(name).thresholds.read_text())
    keys = {k for k in data if not k.startswith("_")}
    result = graded_key(name)
    assert result.status == "graded", result.reason
    measured = result.measurements
    assert keys <= set(measured), f"keys no check measures any more (recalibrate): {sorted(keys - set(measured))}"
    assert set(measured) <= keys, f"measured keys without a threshold (run `autograder calibrate {name}`): " \
                                  f"{sorted(set(measured) - keys)}"
    for key in keys:
        e = data[key]
        assert cal.satisfies(measured[key], e["threshold"], e.get("kind", "min")), \
            f"{key}: the answer key now measures {measured[key]:.4f}, threshold {e['threshold']} ({e.get('kind')}): " \
            f"recalibrate with `autograder calibrate {name}`"


def test_device_check_recipes_name_calibrated_keys(tmp_path):
    """scripts/device_check.py reproduces answer keys' training per calibrated key: the keys must exist."""
    import importlib.util

    from autograder.paths import REPO

    spec = importlib.util.spec_from_file_location("device_check", REPO / "scripts" / "device_check.py")
    dc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dc)
    for name, recipes in dc.RECIPES.items():
        path = practicals.get(name).thresholds
        if not path.is_file():
            continue
        keys = set(json.loads(path.read_text()))
        missing = [r["key"] for r in recipes if r["key"] not in keys]
        assert not missing, f"scripts/device_check.py RECIPES[{name!r}] names {missing}, not in {path.name}: " \
                            "align the recipe with the answer key"
    # the IDX reader and the comparison, on a tiny file
    import gzip

    import numpy as np
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8))
    f = tmp_path / "idx.gz"
    with gzip.open(f, "wb") as g:
        g.write(raw)
    assert dc.read_idx(f).tolist() == np.arange(8).reshape(2, 2, 2).tolist()
    rows = dc.compare("x", {"acc": 0.8}, {"x": {"acc": {"threshold": 0.85, "kind": "min", "observed": [0.9]}}})
    assert rows[0]["passes"] is False and rows[0]["cpu_observed"] == [0.9, 0.9]


def test_device_check_recipes_train_as_the_answer_keys_do():
    """Each recipe's learning rate, batch size, epochs and validation split are the answer key's own constants."""
    import importlib.util

    from autograder.paths import REPO

    spec = importlib.util.spec_from_file_location("device_check", REPO / "scripts" / "device_check.py")
    dc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dc)
    for name, recipes in dc.RECIPES.items():
        key = notebook_constants(name)
        for r in recipes:
            got = {"lr": key.get("LEARNING_RATE"), "batch": key.get("BATCH_SIZE"), "epochs": key.get("EPOCHS"),
                   "n_val": key.get("N_VAL")}
            want = {k: r[k] for k in got}
            assert got == want, f"scripts/device_check.py RECIPES[{name!r}] {r['key']}: {want}, answer key: {got}"


@pytest.mark.parametrize("name", NAMES)
def test_thresholds_file_was_written_by_autograder_calibrate(name):
    """Provenance that can be re-run: the command is `autograder calibrate NAME ...`, and no machine path."""
    text = practicals.get(name).thresholds.read_text()
    command = json.loads(text)["_provenance"].get("command", "")
    assert command.startswith(f"autograder calibrate {name}"), command
    assert "/tmp/" not in text and "/work/" not in text and "/root/" not in text and "/home/" not in text
