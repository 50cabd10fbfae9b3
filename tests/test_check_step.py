"""The check step runs in its own process under limits: hostile exported files cost that submission only.

Each case hands the real check worker a snapshot folder crafted as a hostile kernel could (no notebook run).
"""

import json
import zipfile

import numpy as np
import pytest

from autograder.engine import check_worker as isolated
from autograder.engine.check_worker import CheckLimits, CheckStepFailed, CheckWorker
from autograder.engine.check_runner import list_checks

P02 = "autograder.practicals.p02_graphs.checks"
P04 = "autograder.practicals.p04_convnet.checks"


@pytest.fixture
def worker():
    w = CheckWorker(CheckLimits(memory_mb=2500, cpu_s=60, wall_s=120, disk_mb=200))
    yield w
    w.close()


def test_a_valid_snapshot_is_checked_and_the_worker_is_reused(worker, tmp_path):
    from autograder.practicals.p02_graphs.checks import EXPECTED_SHAPES

    (tmp_path / "shapes.json").write_text(json.dumps(EXPECTED_SHAPES))
    expected = list_checks(P02)
    checks, _ = worker.run(P02, {"02.shapes": tmp_path}, None, "not graded", expected)
    by_name = {c.name: c for c in checks}
    assert by_name["shapes_answer"].status == "passed"
    assert by_name["ypred_np_values"].status == "error" and by_name["ypred_np_values"].message == "not graded"
    first = worker.proc.pid
    (tmp_path / "shapes.json").write_text(json.dumps({**EXPECTED_SHAPES, "b": [1]}))
    checks, _ = worker.run(P02, {"02.shapes": tmp_path}, None, "not graded", expected)
    assert {c.name: c.status for c in checks}["shapes_answer"] == "failed"
    assert worker.proc.pid == first  # warm: one worker for many submissions


def test_a_huge_json_answer_is_a_memory_status_and_the_next_submission_grades(worker, tmp_path):
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    with open(bomb / "shapes.json", "w") as f:   # ~150 MB of small lists: several GB once parsed
        f.write("[" + ",".join(["[0]"] * 40_000_000) + "]")
    with pytest.raises(CheckStepFailed) as e:
        worker.run(P02, {"02.shapes": bomb}, None, "", list_checks(P02))
    assert e.value.status == "memory" and "more than 2500 MB" in e.value.reason
    fine = tmp_path / "fine"
    fine.mkdir()
    (fine / "shapes.json").write_text("{}")
    checks, _ = worker.run(P02, {"02.shapes": fine}, None, "", list_checks(P02))
    assert {c.name: c.status for c in checks}["shapes_answer"] == "failed"


def test_a_small_keras_file_declaring_a_huge_layer_is_stopped(worker, tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "small.keras")
    with zipfile.ZipFile(tmp_path / "small.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][-1]["config"]["units"] = 2_000_000   # 784 x 2e6 floats: 6 GB when built
    files["config.json"] = json.dumps(config).encode()
    snap = tmp_path / "snap"
    snap.mkdir()
    with zipfile.ZipFile(snap / "model.keras", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    assert (snap / "model.keras").stat().st_size < 100_000
    with pytest.raises(CheckStepFailed) as e:
        worker.run(P04, {"04.model": snap}, None, "", list_checks(P04))
    assert e.value.status in ("memory", "error"), e.value.reason


def test_the_artifact_budget_is_checked_before_anything_is_parsed(worker, tmp_path, monkeypatch):
    monkeypatch.setattr(isolated, "ARTIFACT_BUDGET_MB", 1)
    np.save(tmp_path / "ypred_np.npy", np.zeros(2**19))  # 4 MB
    with pytest.raises(CheckStepFailed) as e:
        worker.run(P02, {"02.numpy": tmp_path}, None, "", list_checks(P02))
    assert e.value.status == "error" and "more than the 1 MB" in e.value.reason
    assert worker.proc is None  # nothing was started for it


def test_a_forged_verdict_from_the_worker_is_not_trusted():
    from autograder.results import CheckResult

    expected = [CheckResult("a", "02.q", 2, "error"), CheckResult("b", "02.q", 1, "error", hidden=True)]
    raw = [{"name": "a", "question": "02.q", "status": "passed", "max_points": 1000},
           {"name": "b", "question": "02.q", "status": "excellent"}, {"name": "c", "question": "02.q", "status": "passed"}]
    got = isolated.validated(raw, expected)
    assert [(c.name, c.status, c.max_points, c.hidden) for c in got] == [("a", "passed", 2, False),
                                                                         ("b", "error", 1, True)]


def test_infer_returns_what_predict_returns():
    """The checks' ``infer`` (the model called on batches) against Keras' own ``predict``: a batch size that does
    not divide the inputs, and a model of two outputs (which goes through ``predict``)."""
    import keras

    from autograder.check_api import infer

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(5, activation="relu")(inp)))
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    got = infer(model, x, batch_size=3)
    assert isinstance(got, np.ndarray) and got.shape == (7, 3)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    two = keras.Model(inp, [keras.layers.Dense(2)(inp), keras.layers.Dense(2)(inp)])
    np.testing.assert_allclose(infer(two, x, batch_size=3), np.asarray(two.predict(x, verbose=0)), rtol=1e-6)


def test_the_grader_reads_fashion_mnist_once_per_process_and_read_only():
    from autograder.data import load_fashion_mnist

    x, y = load_fashion_mnist("test")
    assert load_fashion_mnist("test")[0] is x
    with pytest.raises(ValueError):
        x[0, 0, 0] = 1   # a check cannot change what the next submission's checks read
