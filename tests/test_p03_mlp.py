"""Practical 03 graded end to end: answer key, blank release, and wrong submissions.

The answer key and the blank release run as real notebooks once; two wrong submissions run for real (one
that trains on unscaled pixels, one that fails early). Every other wrong submission is checked WITHOUT
retraining: the answer key's exported files are loaded back into a namespace (trained parameters, loss history,
Keras models), the wrong version of the notebook's solution cells is executed in this process, the models a
variant changes are rebuilt untrained with the notebook's own (edited) code, and the real exporter and checks
run on the result. What a variant does to the hand-written training (diverge, plateau, crash) was measured
once on real runs; the numbers are in the comments.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import assignments
from autograder.checks.api import THRESHOLDS, Artifacts
from autograder.checks.runner import run_checks
from autograder.export import p03_mlp as exporter
from autograder.export.common import Exporter
from autograder.grade import grade_notebook, hidden_inputs
from autograder.paths import REPO
from conftest import mutate, not_passed

NAME = "03-mlp"
A = assignments.get(NAME)
KEY = A.solution_notebook(REPO)
HIDDEN = hidden_inputs(A)
MODELS = exporter.KERAS_MODELS
QUESTIONS = {"03.preprocess": 3, "03.one_hot": 2, "03.forward": 2, "03.loss": 4, "03.gd_step": 3,
             "03.train_by_hand": 3, "03.keras": 3, "03.hidden30": 2, "03.relu": 2, "03.deeper": 4, "03.params": 2}
ACCURACY = {f"test_accuracy_{m}" for m in ("by_hand", *MODELS)}
# the solution cells executed in-process to rebuild a submission's functions (no training in them)
FUNCTION_CELLS = ("preprocess", "one_hot", "forward", "cross_entropy", "gd_step", "keras_functions", "n_params")

NO_SCALING = [("return images.reshape(len(images), 28 * 28).astype(np.float32) / 255.0",
               "return images.reshape(len(images), 28 * 28).astype(np.float32)")]


# -- the answer key, run once ------------------------------------------------------------------

@pytest.fixture(scope="module")
def key(graded_key, key_artifacts):
    """The answer key's result and the folder of its exported files (graded once per session)."""
    return graded_key(NAME), Path(key_artifacts(NAME))


@pytest.fixture(scope="module")
def data():
    """A small slice of the training split (the validation images of the notebook's fixed split)."""
    from autograder.data import load_fashion_mnist

    images, labels = load_fashion_mnist("train")
    split = np.random.default_rng(0).permutation(len(images))[:1000]
    return images[split], labels[split]


def solution_cells(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def locked_cell(nb, start: str) -> str:
    (cell,) = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)]
    return cell


def edited_key(tmp_path: Path, edits) -> nbformat.NotebookNode:
    return nbformat.read(mutate(KEY, tmp_path / "nb", edits), as_version=4)


def namespace(nb, folder: Path, data, by_hand: str = "key", rebuild=(), constants=None) -> dict:
    """The state a submission made from ``nb`` would leave, without retraining (see the module docstring).

    by_hand: "key" (the key's trained parameters and losses), "untrained" (fresh parameters, the losses of
    1000 steps that change nothing), "diverged" (NaN from step 9 on, NaN parameters), "crashed" (the training
    loop raised at its first step), or ("plateau", v) (losses from ln 10 down to v, parameters barely trained,
    kept untrained here).
    """
    import keras
    import tensorflow as tf

    images, labels = data
    ns = {"np": np, "tf": tf, "keras": keras, "LEARNING_RATE": 0.25, "BATCH_SIZE": 100, **(constants or {})}
    cells = solution_cells(nb)
    for cell_id in FUNCTION_CELLS:
        exec(compile(cells[cell_id], f"<{cell_id}>", "exec"), ns)
    exec(compile(locked_cell(nb, "N_HIDDEN = 10"), "<init_params>", "exec"), ns)
    ns.update(x_train=ns["preprocess"](images), y_train=labels)
    ns.update(x_val=ns["x_train"], y_val=labels)

    # the hand-written training
    if by_hand == "key":
        ns["initial_loss"] = json.loads((folder / "initial_loss.json").read_text())
        ns["losses"] = list(np.load(folder / "losses.npy"))
        ns["params"] = [tf.Variable(np.load(folder / f"by_hand_{k}.npy")) for k in exporter.PARAM_NAMES]
    else:
        ns["params"] = ns["init_params"]()
        try:  # the notebook's initial-loss cell, with the submission's functions
            ns["initial_loss"] = float(ns["cross_entropy"](ns["forward"](ns["params"], ns["x_val"]), ns["one_hot"](ns["y_val"])))
        except Exception:
            pass
        if by_hand == "untrained":
            y1 = ns["one_hot"](labels)
            ns["losses"] = [float(ns["cross_entropy"](ns["forward"](ns["params"], ns["x_train"][i:i + 100]), y1[i:i + 100]))
                            for i in range(0, 1000, 100)] * 100
        elif by_hand == "diverged":
            ns["losses"] = [2.3, 200.0, 1e4, 1e8, 1e16, 1e32, np.inf, np.inf] + [np.nan] * 992
            for p in ns["params"]:
                p.assign(tf.fill(p.shape, np.nan))
        elif by_hand == "crashed":
            ns["losses"] = []
        elif isinstance(by_hand, tuple) and by_hand[0] == "plateau":
            ns["losses"] = list(np.linspace(math.log(10), by_hand[1], 1000))
        else:
            raise ValueError(by_hand)

    # the Keras models: the key's trained ones, or rebuilt (untrained) by the submission's own cells
    for name in MODELS:
        if name in rebuild:
            exec(compile(cells[name], f"<{name}>", "exec"), ns)
            ns["train_keras"](ns[name], 0)
        else:
            ns[name] = _key_model(folder / f"{name}.keras")
    return ns


_MODELS: dict = {}


def _key_model(path: Path):
    """The answer key's model, loaded once (exporting saves it again and changes nothing in it)."""
    import keras

    if path not in _MODELS:
        _MODELS[path] = keras.saving.load_model(path)
    return _MODELS[path]


def export_and_check(ns: dict, out: Path):
    ex = Exporter(ns, str(out), HIDDEN, fresh=True)
    exporter.export(ex)
    ex.finish()
    return run_checks(A.checks_module, Artifacts(out, HIDDEN))


def lost(results) -> set[str]:
    return {r.name for r in results if r.status != "passed"}


# -- answer key and blank -----------------------------------------------------------------------

def test_answer_key_scores_full_marks(key):
    result, folder = key
    assert result.status == "graded", result.reason
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == sum(QUESTIONS.values()) == 30
    points = {}
    for c in result.checks:
        points[c.question] = points.get(c.question, 0) + c.max_points
    assert points == QUESTIONS  # and the notebook's grade cells carry the same points:
    nb = nbformat.read(KEY, as_version=4)
    cells = {c.source: c.metadata["nbgrader"]["points"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert cells == {f'check("{q}")': p for q, p in QUESTIONS.items()}
    assert ACCURACY <= set(result.measurements) and all(c.hidden for c in result.checks if c.name in ACCURACY)
    assert not result.notes, result.notes


def test_blank_release_scores_zero_and_is_graded(graded_blank):
    result = graded_blank(NAME)
    assert result.status == "graded", result.reason
    assert result.score == 0 and result.max_score == 30
    assert all(c.message for c in result.checks), "every lost point says why"


def test_thresholds_are_calibrated():
    from autograder import calibrate

    table = json.loads((THRESHOLDS / f"{NAME}.json").read_text())
    assert calibrate.file_problems(table) == []
    assert set(table) == {"_provenance"} | ACCURACY and len(table["_provenance"]["seeds"]) >= 5


def test_exported_files_rebuild_the_key(key, data, tmp_path):
    """The no-retraining path itself: the key's state re-exported scores full marks."""
    _, folder = key
    results = export_and_check(namespace(nbformat.read(KEY, as_version=4), folder, data), tmp_path / "art")
    assert not lost(results), {r.name: r.message for r in results if r.status != "passed"}


# -- wrong submissions without retraining ------------------------------------------------------

CE_LINE = "return -tf.reduce_mean(tf.reduce_sum(labels_onehot * log_probs, axis=1))"
LOGSUMEXP = "log_probs = logits - tf.reduce_logsumexp(logits, axis=1, keepdims=True)"
OUTPUT_LAYER = "model.add(keras.layers.Dense(10, kernel_initializer=init))"

# (id, edits to the answer key, how it changes the state, the checks that lose points; every other check passes)
WRONG = [
    # real run: initial loss 23,601 (the sum over 10,000 images); losses NaN from step 9; test accuracy 0.10
    ("loss-summed-not-averaged", [(CE_LINE, "return -tf.reduce_sum(labels_onehot * log_probs)")],
     dict(by_hand="diverged"),
     {"cross_entropy_public", "cross_entropy_other_inputs", "initial_loss_near_ln10", "gd_step_public",
      "gd_step_other_inputs", "loss_curve_decreases", "test_accuracy_by_hand"}),
    # real run: initial loss 2.287 (passes: softmax of small logits is already uniform); the last 50 losses
    # average 1.83; test accuracy 0.63
    ("softmax-applied-twice", [(LOGSUMEXP, "probs = tf.nn.softmax(logits)\n"
                                           "    log_probs = probs - tf.reduce_logsumexp(probs, axis=1, keepdims=True)")],
     dict(by_hand=("plateau", 1.83)),
     {"cross_entropy_public", "cross_entropy_other_inputs", "gd_step_public", "gd_step_other_inputs",
      "loss_curve_decreases", "test_accuracy_by_hand"}),
    # a learning rate of 0 changes nothing: real run losses ~2.6 throughout, test accuracy 0.08; the Keras
    # models (compiled with the same LEARNING_RATE) stay at their initial weights
    ("learning-rate-zero", [("LEARNING_RATE = 0.25", "LEARNING_RATE = 0.0")],
     dict(by_hand="untrained", rebuild=MODELS, constants={"LEARNING_RATE": 0.0}),
     {"loss_curve_decreases", "test_accuracy_by_hand", "keras_training_setup"} | ACCURACY - {"test_accuracy_by_hand"}),
    # labels as class numbers where one-hot rows are needed: the initial-loss cell and the first training step
    # raise (shapes (n,) and (n, 10) do not broadcast); Keras' sparse loss takes integer labels and is unaffected
    ("labels-not-one-hot", [("return np.eye(num_classes, dtype=np.float32)[labels]", "return labels.astype(np.float32)")],
     dict(by_hand="crashed"),
     {"one_hot_public", "one_hot_other_inputs", "initial_loss_near_ln10", "loss_curve_decreases",
      "test_accuracy_by_hand"}),
    # the hidden check with another learning rate catches a step that ignores its `lr` argument
    ("gd-step-ignores-lr", [("p.assign_sub(lr * g)", "p.assign_sub(LEARNING_RATE * g)")], {},
     {"gd_step_other_inputs"}),
    ("forward-forgets-bias", [("return tf.matmul(hidden, W2) + b2", "return tf.matmul(hidden, W2)")], {},
     {"forward_public", "forward_other_inputs", "gd_step_public", "gd_step_other_inputs"}),
    # Keras variants: the changed models are rebuilt untrained here, so their accuracy checks fail as well
    ("missing-activation", [('model_final = build_mlp([30, 25], "relu")', "model_final = build_mlp([30, 25])")],
     dict(rebuild=("model_final",)), {"model_final_structure", "test_accuracy_model_final"}),
    ("wrong-units", [('model_final = build_mlp([30, 25], "relu")', 'model_final = build_mlp([30, 20], "relu")')],
     dict(rebuild=("model_final",)),
     {"model_final_structure", "model_final_param_count", "test_accuracy_model_final"}),
    ("keras-softmax-twice", [(OUTPUT_LAYER, OUTPUT_LAYER.replace("Dense(10, ", 'Dense(10, activation="softmax", '))],
     dict(rebuild=MODELS), {f"{m}_structure" for m in MODELS} | ACCURACY - {"test_accuracy_by_hand"}),
    ("keras-adam-not-sgd", [("optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE)",
                             "optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE)")],
     dict(rebuild=("model_10",)), {"keras_training_setup", "test_accuracy_model_10"}),
    ("param-count-without-biases", [("n_params_final = 784 * 30 + 30 + 30 * 25 + 25 + 25 * 10 + 10",
                                     "n_params_final = 784 * 30 + 30 * 25 + 25 * 10")], {},
     {"n_params_final_answer"}),
]


@pytest.mark.parametrize("edits, state, expected", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_wrong_submission_loses_points_at_the_intended_check(key, data, tmp_path, edits, state, expected):
    _, folder = key
    results = export_and_check(namespace(edited_key(tmp_path, edits), folder, data, **state), tmp_path / "art")
    assert lost(results) == expected, {r.name: r.message for r in results if r.status != "passed"}
    assert all(r.message for r in results if r.status != "passed")


def test_messages_say_expected_and_got(key, data, tmp_path):
    _, folder = key
    results = export_and_check(namespace(edited_key(tmp_path, WRONG[7][1]), folder, data, rebuild=("model_final",)),
                               tmp_path / "art")
    messages = {r.name: r.message for r in results}
    assert messages["model_final_structure"] == (
        "model_final's hidden layer 2 is Dense(20, relu), expected Dense(25, relu) "
        "(model: Dense(30, relu) -> Dense(20, relu) -> Dense(10, linear))")
    assert messages["model_final_param_count"] == (
        "model_final has 24,380 parameters, expected 784*30+30 + 30*25+25 + 25*10+10 = 24,585")


def test_artifact_edits_are_caught(key, tmp_path):
    """Exported files edited directly: a scaled-twice x_train and an integer answer that is a float."""
    _, folder = key
    art = tmp_path / "art"
    shutil.copytree(folder, art)
    summary = json.loads((art / "x_train_summary.json").read_text())
    (art / "x_train_summary.json").write_text(json.dumps({**summary, "max": summary["max"] / 255}))
    (art / "n_params_10.json").write_text("7960.5")
    results = run_checks(A.checks_module, Artifacts(art, HIDDEN))
    assert lost(results) == {"x_train_prepared", "n_params_10_answer"}


# -- wrong submissions run for real -------------------------------------------------------------

def test_unscaled_pixels_fail_on_accuracy(tmp_path):
    """Forgetting to scale: gradient descent at 0.25 diverges, and the grader feeds the models [0, 1] images."""
    result = grade_notebook(mutate(KEY, tmp_path, NO_SCALING))
    assert result.status == "graded", result.reason
    expected = {"preprocess_public", "x_train_prepared", "preprocess_other_inputs", "initial_loss_near_ln10",
                "loss_curve_decreases"} | ACCURACY
    assert not_passed(result) == expected, {c.name: c.message for c in result.checks if c.status != "passed"}
    messages = {c.name: c.message for c in result.checks}
    assert "expected them in [0, 1] (divide the pixels by 255)" in messages["x_train_prepared"]
    assert messages["test_accuracy_model_final"].startswith("test accuracy of model_final")


def test_early_failure_still_grades_the_rest(tmp_path):
    """preprocess raises: nothing trains (cheap), every check that does not need the data still passes."""
    result = grade_notebook(mutate(KEY, tmp_path, [(NO_SCALING[0][0], "raise ValueError('not done')")]))
    assert result.status == "graded", result.reason
    expected = {"preprocess_public", "x_train_prepared", "preprocess_other_inputs", "initial_loss_near_ln10",
                "loss_curve_decreases"} | ACCURACY
    assert not_passed(result) == expected, {c.name: c.message for c in result.checks if c.status != "passed"}
    assert any("raised ValueError" in n for n in result.notes)
