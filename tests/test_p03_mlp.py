"""Practical 03 graded end to end: answer key, blank release, correct alternatives and wrong submissions.

The answer key and the blank release run as real notebooks once; three wrong submissions run for real (one
that trains on unscaled pixels, one that fails early, one that bundles four mistakes whose real outcome does not
depend on the seed). Every other submission is checked WITHOUT retraining: the answer key's exported files are
loaded back into a namespace (trained parameters, loss history), the submission's solution cells are executed in
this process, its Keras models are rebuilt with its own (edited) code and "trained" by a stand-in for
``keras.Model.fit`` that records what a real ``fit`` would (the optimizer's step count for the data, batch size
and epochs it was given; a History with ``val_loss`` only given validation data) and copies the key's trained
weights where the shapes match (the optimiser comparison's models by their optimizer's name), and the real exporter
and checks run on the result. What a variant does to the
hand-written training (diverge, plateau, crash) was measured once on real runs; the numbers are in the comments.
The Keras models' test accuracy is judged in process only where the submission trains as the key does.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import practicals
from autograder.check_api import Artifacts
from autograder.engine.check_runner import run_checks
from autograder.practicals.p03_mlp import in_kernel as exporter
from autograder.engine.in_kernel import Exporter
from autograder.grade import grade_notebook, hidden_inputs
from autograder.practicals.p03_mlp import mutants
from autograder.paths import REPO
from helpers import edit_keras, mutate, not_passed

NAME = "03-mlp"
A = practicals.get(NAME)
KEY = A.solution_notebook(REPO)
HIDDEN = hidden_inputs(A)
MODELS = exporter.KERAS_MODELS
QUESTIONS = {"03.preprocess": 3, "03.one_hot": 2, "03.forward": 2, "03.loss": 4, "03.gd_step": 3,
             "03.train_by_hand": 3, "03.activations": 4, "03.keras": 4, "03.hidden30": 2, "03.relu": 2,
             "03.deeper": 3, "03.optimisers": 6, "03.params": 2}
ACCURACY = {f"test_accuracy_{m}" for m in ("by_hand", *MODELS)} | {"test_accuracy_compared"}   # check names
KERAS_ACCURACY = ACCURACY - {"test_accuracy_by_hand"}
# calibrated keys: one per model, three for the optimiser comparison's check
MEASURED = ACCURACY - {"test_accuracy_compared"} | {f"test_accuracy_compare_{o}" for o in exporter.OPTIMISERS}
# the solution cells executed in-process to rebuild a submission's functions (no training in them); then its
# model cells, the optimiser comparison, and n_params last
FUNCTION_CELLS = ("preprocess", "one_hot", "forward", "cross_entropy", "gd_step", "keras_functions", "activations")
WRONG = {w[0]: w for w in mutants.WRONG}

NO_SCALING = [(mutants.PREPROCESS, "return images.reshape(len(images), 28 * 28).astype(np.float32)")]


# -- the answer key, run once ------------------------------------------------------------------

@pytest.fixture(scope="module")
def key(graded_key, key_artifacts):
    """The answer key's result and the folder of its exported files (graded once per session)."""
    return graded_key(NAME), Path(key_artifacts(NAME))


@pytest.fixture(scope="module")
def data():
    """The training split's images and labels (the notebook's own cell splits them into train and validation)."""
    from autograder.data import load_fashion_mnist

    return load_fashion_mnist("train")


def solution_cells(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def locked_cell(nb, start: str) -> str:
    (cell,) = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)]
    return cell


def edited_key(tmp_path: Path, edits) -> nbformat.NotebookNode:
    return nbformat.read(mutate(KEY, tmp_path / "nb", edits), as_version=4)


def with_cells(cells: dict[str, str]) -> nbformat.NotebookNode:
    """The answer key with some solution cells replaced (a submission written in another style)."""
    nb = nbformat.read(KEY, as_version=4)
    for c in nb.cells:
        cell_id = c.metadata.get("nbgrader", {}).get("grade_id")
        if cell_id in cells:
            c.source = cells[cell_id]
    return nb


class _History:
    def __init__(self, history):
        self.history = history


def _stand_in_fit(key_folder: Path):
    """keras.Model.fit without training: the optimizer records the steps a real fit makes, the key's trained
    weights are copied where the shapes match, and the History has val_loss only given validation data."""

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, **kwargs):
        n = int(len(x) * (1 - validation_split)) if validation_split else len(x)
        steps = epochs * math.ceil(n / (batch_size or 32))
        self.optimizer.build(self.trainable_variables)
        self.optimizer.iterations.assign(steps)
        name = getattr(self, "_p03_name", None) or f"compare_{type(self.optimizer).__name__}"
        key_model = _key_model(key_folder / f"{name}.keras")
        if [w.shape for w in key_model.get_weights()] == [w.shape for w in self.get_weights()]:
            self.set_weights(key_model.get_weights())
        history = {"loss": [0.5] * epochs, "accuracy": [0.8] * epochs}
        if validation_data is not None or validation_split:
            history.update(val_loss=[0.5] * epochs, val_accuracy=[0.8] * epochs)
        return _History(history)

    return fit


def namespace(nb, folder: Path, data, monkeypatch, by_hand: str = "key", constants=None) -> dict:
    """The state a submission made from ``nb`` would leave, without retraining (see the module docstring).

    by_hand: "key" (the key's trained parameters and losses), "untrained" (fresh parameters, the losses of
    1000 steps that change nothing), "diverged" (NaN from step 9 on, NaN parameters), "crashed" (the training
    loop raised at its first step), or ("plateau", v) (losses from ln 10 down to v, parameters barely trained,
    kept untrained here).
    """
    import keras
    import tensorflow as tf

    images, labels = data
    ns = {"np": np, "tf": tf, "keras": keras, "images": images, "labels": labels, "LEARNING_RATE": 0.25,
          "BATCH_SIZE": 100, **(constants or {})}
    cells = solution_cells(nb)
    exec(compile(cells["preprocess"], "<preprocess>", "exec"), ns)
    exec(compile(locked_cell(nb, "N_VAL = 10_000").split("print(")[0], "<split>", "exec"), ns)  # the notebook's split
    for cell_id in FUNCTION_CELLS[1:]:
        exec(compile(cells[cell_id], f"<{cell_id}>", "exec"), ns)
    exec(compile(locked_cell(nb, "N_HIDDEN = 10"), "<init_params>", "exec"), ns)
    ns["y_train_1h"] = ns["one_hot"](ns["y_train"])

    # the hand-written training
    if by_hand == "key":
        ns["losses"] = list(np.load(folder / "losses.npy"))
        ns["params"] = [tf.Variable(np.load(folder / f"by_hand_{k}.npy")) for k in exporter.PARAM_NAMES]
    else:
        ns["params"] = ns["init_params"]()
        if by_hand == "untrained":
            x, y1 = ns["x_train"][:1000].astype(np.float32), ns["y_train_1h"][:1000]
            ns["losses"] = [float(ns["cross_entropy"](ns["forward"](ns["params"], x[i:i + 100]), y1[i:i + 100]))
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

    # the Keras models: built by the submission's own cells, "trained" by its train_keras with a stand-in fit
    monkeypatch.setattr(keras.Model, "fit", _stand_in_fit(folder))
    for name in MODELS:
        exec(compile(cells[name], f"<{name}>", "exec"), ns)
        object.__setattr__(ns[name], "_p03_name", name)
        ns[f"history{name[5:]}"] = ns["train_keras"](ns[name])
    exec(compile(locked_cell(nb, "def accuracy(").split("\n\n\nresults")[0], "<accuracy>", "exec"), ns)
    exec(compile(locked_cell(nb, "COMPARE_N = "), "<compare_setup>", "exec"), ns)
    exec(compile(cells["compare"], "<compare>", "exec"), ns)
    exec(compile(cells["n_params"], "<n_params>", "exec"), ns)
    return ns


_MODELS: dict = {}


def _key_model(path: Path):
    """The answer key's model, loaded once."""
    import keras

    if path not in _MODELS:
        _MODELS[path] = keras.saving.load_model(path)
    return _MODELS[path]


def export_and_check(ns: dict, out: Path):
    ex = Exporter(ns, str(out), HIDDEN, fresh=True)
    exporter.export(ex)
    ex.finish()
    return run_checks(A.checks_module, Artifacts(out, HIDDEN))


def lost(results, unjudged=frozenset()) -> set[str]:
    return {r.name for r in results if r.status != "passed"} - set(unjudged)


def messages(results) -> dict[str, str]:
    return {r.name: r.message for r in results if r.status != "passed"}


# -- answer key and blank -----------------------------------------------------------------------

def test_answer_key_scores_full_marks(key):
    result, folder = key
    assert result.status == "graded", result.reason
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == sum(QUESTIONS.values()) == 40
    points = {}
    for c in result.checks:
        points[c.question] = points.get(c.question, 0) + c.max_points
    assert points == QUESTIONS  # and the notebook's grade cells carry the same points:
    nb = nbformat.read(KEY, as_version=4)
    cells = {c.source: c.metadata["nbgrader"]["points"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert cells == {f'check("{q}")': p for q, p in QUESTIONS.items()}
    assert MEASURED == set(result.measurements) and all(c.hidden for c in result.checks if c.name in ACCURACY)
    assert not result.notes, result.notes


def test_blank_release_scores_zero_and_is_graded(graded_blank):
    result = graded_blank(NAME)
    assert result.status == "graded", result.reason
    assert result.score == 0 and result.max_score == 40
    assert all(c.message for c in result.checks), "every lost point says why"


def test_thresholds_are_calibrated():
    from autograder import calibrate

    table = json.loads(A.thresholds.read_text())
    assert calibrate.file_problems(table) == []
    assert set(table) == {"_provenance"} | MEASURED and len(table["_provenance"]["seeds"]) >= 5


def test_exported_files_rebuild_the_key(key, data, tmp_path, monkeypatch):
    """The no-retraining path itself: the key's state re-exported scores full marks, Keras accuracies included."""
    _, folder = key
    results = export_and_check(namespace(nbformat.read(KEY, as_version=4), folder, data, monkeypatch), tmp_path / "a")
    assert not lost(results), messages(results)


def test_hidden_inputs_defeat_the_shortcuts():
    """make_hidden's documented choices hold for the course's actual hidden draw."""
    pub, h = exporter.public_inputs(), HIDDEN
    assert h["images"].min() > 0 and h["images"].max() < 255 and len(h["images"]) != len(pub["images"])
    assert h["labels"].max() + 1 < 10 and h["labels"].min() > 0
    assert list(dict.fromkeys(h["labels"].tolist())) != sorted(set(h["labels"].tolist()))  # first appearance unsorted
    gaps = h["big_logits"].max(axis=1) - h["big_logits"].min(axis=1)
    assert gaps.max() > 104  # exp(-104) underflows to 0 in float32
    assert len(h["x"]) not in (len(pub["x"]), 100, 784) and float(h["lr"]) != 0.25
    z = h["z"]
    assert z.ndim == 2 and (z == 0).any() and z.max() >= 710 and z.min() <= -710  # exp(710) overflows float64


# -- correct submissions in other styles: full marks --------------------------------------------

ALTERNATIVES = {
    "preprocess": "def preprocess(images):\n    x = tf.reshape(tf.cast(images, tf.float32) / 255.0, (-1, 784))\n"
                  "    return x.numpy()",
    "one_hot": "def one_hot(labels, num_classes=10):\n    return tf.one_hot(labels, num_classes).numpy()",
    "forward": "def forward(params, x):\n    W1, b1, W2, b2 = params\n"
               "    h = tf.einsum('ni,ij->nj', x, W1) + b1\n    return tf.tensordot(h, W2, axes=1) + b2",
    "cross_entropy": "def cross_entropy(logits, labels_onehot):\n"
                     "    per_example = -tf.reduce_sum(labels_onehot * tf.nn.log_softmax(logits), axis=-1)\n"
                     "    return tf.reduce_mean(per_example)",
    "gd_step": "def gd_step(params, x, y_onehot, lr):\n    with tf.GradientTape() as tape:\n"
               "        logits = forward(params, x)\n        loss = cross_entropy(logits, y_onehot)\n"
               "    grads = tape.gradient(loss, params)\n    for i in range(len(params)):\n"
               "        params[i].assign(params[i] - lr * grads[i])\n    return float(loss)",
    "keras_functions": (
        "EPOCHS = 2\n\n\ndef build_mlp(hidden_units, activation=None):\n"
        "    init = keras.initializers.RandomNormal(stddev=0.1)\n"
        "    layers = [keras.layers.Dense(u, activation=activation, kernel_initializer=init) for u in hidden_units]\n"
        "    return keras.Sequential([keras.layers.InputLayer(shape=(784,)), *layers,\n"
        "                             keras.layers.Dense(10, kernel_initializer=init)])\n\n\n"
        "def train_keras(model, epochs=EPOCHS):\n"
        "    model.compile(keras.optimizers.SGD(LEARNING_RATE), keras.losses.CategoricalCrossentropy(from_logits=True))\n"
        "    return model.fit(x_train, one_hot(y_train), BATCH_SIZE, epochs, verbose=0,\n"
        "                     validation_data=(x_val, one_hot(y_val)))"),
    "n_params": "n_params_10 = model_10.count_params()\nn_params_final = np.int64(784 * 30 + 30 * 25 + 25 * 10 + 30 + 25 + 10)",
    "activations": "def step(z):\n    return tf.cast(z > 0, tf.float64)\n\n\ndef sigmoid(z):\n    return tf.sigmoid(z)\n\n\n"
                   "def relu(z):\n    return tf.nn.relu(z).numpy()",
    # optimisers named by Keras' strings get their default learning rates, the ones COMPARE_LR gives
    "compare": "def train_with(optimizer):\n    model = fresh_copy()\n"
               "    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
               "                  metrics=['accuracy'])\n"
               "    return model, model.fit(x_train[:COMPARE_N], y_train[:COMPARE_N], BATCH_SIZE, COMPARE_EPOCHS,\n"
               "                            verbose=0)\n\n\n"
               "runs, final_val_acc = {}, {}\nfor name in ['SGD', 'Adam', 'RMSprop']:\n"
               "    runs[name] = train_with(name.lower())\n"
               "    final_val_acc[name] = runs[name][0].evaluate(x_val, y_val, verbose=0, return_dict=True)['accuracy']",
}

# a softmax output with from_logits=False is the same model; a functional model is a stack of layers too
SOFTMAX_OUTPUT = {"keras_functions": (
    "EPOCHS = 2\n\n\ndef build_mlp(hidden_units, activation=None):\n"
    "    init = keras.initializers.RandomNormal(stddev=0.1)\n    x = inputs = keras.Input((784,))\n"
    "    for units in hidden_units:\n        x = keras.layers.Dense(units, activation, kernel_initializer=init)(x)\n"
    "    return keras.Model(inputs, keras.layers.Dense(10, 'softmax', kernel_initializer=init)(x))\n\n\n"
    "def train_keras(model, epochs=EPOCHS):\n"
    "    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),\n"
    "                  loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n"
    "    return model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=epochs, validation_data=(x_val, y_val))")}


@pytest.mark.parametrize("cells", [ALTERNATIVES, SOFTMAX_OUTPUT], ids=["other-styles", "softmax-output-functional"])
def test_correct_alternatives_score_full_marks(key, data, tmp_path, monkeypatch, cells):
    _, folder = key
    results = export_and_check(namespace(with_cells(cells), folder, data, monkeypatch), tmp_path / "a")
    assert not lost(results), messages(results)


# -- wrong submissions without retraining ------------------------------------------------------

# what each mutant does to the hand-written training, measured on real runs (see autograder/practicals/p03_mlp/mutants.py)
STATE = {
    "preprocess-float64": dict(by_hand="crashed"),     # tf.matmul(float64 x, float32 W1) raises at step 1
    "labels-not-one-hot": dict(by_hand="crashed"),     # shapes (n,) and (n, 10) do not broadcast
    "forward-forgets-bias": dict(by_hand="crashed"),   # b1's gradient is None: assign_sub raises at step 1
    "loss-summed-not-averaged": dict(by_hand="diverged"),  # real run: NaN from step 9, test accuracy 0.10
    "gd-step-not-in-place": dict(by_hand="untrained"),  # the variables never change
    "gd-step-wrong-sign": dict(by_hand="diverged"),     # gradient ascent
}


# here the whole key has run before the export; at grading, a question is captured at its check cell, where the
# notebook's LEARNING_RATE is not defined yet (so `autograder ci` also loses the public gd_step checks)
IN_PROCESS = {"gd-step-ignores-lr": {"gd_step_other_inputs"}}


@pytest.mark.parametrize("mutant", list(WRONG))
def test_mutant_loses_points_at_the_intended_checks(key, data, tmp_path, monkeypatch, mutant):
    """Every mutant `autograder ci` trains for real, here without retraining; the Keras models' accuracies are
    left to ci where the submission trains them differently from the key (the stand-in fit cannot tell)."""
    _, folder = key
    _, edits, expected = WRONG[mutant]
    expected = IN_PROCESS.get(mutant, expected)
    results = export_and_check(namespace(edited_key(tmp_path, edits), folder, data, monkeypatch,
                                         **STATE.get(mutant, {})), tmp_path / "a")
    assert lost(results, KERAS_ACCURACY) == expected - KERAS_ACCURACY, messages(results)
    assert all(r.message for r in results if r.status != "passed")


# Wrong ways to train or build the Keras models, as a student would write them; checked with the stand-in fit.
FIT = mutants.FIT
KERAS_WRONG = [
    ("one-epoch", [("def train_keras(model, epochs=EPOCHS):", "def train_keras(model, epochs=1):")],
     {"keras_training_steps"}, "model_10's optimizer made 500 steps, expected 1,000 (2 epochs of 50,000 / 100 = "
                               "500 mini-batches): 1 epoch instead of 2"),
    ("epochs-left-at-10", [("EPOCHS = 2  # 2 epochs of 500", "EPOCHS = 10  # 2 epochs of 500")], {"keras_training_steps"},
     "10 epochs instead of 2"),
    ("default-batch-size", [(FIT, "return model.fit(x_train, y_train")], {"keras_training_steps"},
     "made 3,126 steps, expected 1,000 (2 epochs of 50,000 / 100 = 500 mini-batches): mini-batches of 32, Keras' "
     "default: pass batch_size=BATCH_SIZE"),
    ("train-plus-validation", WRONG["keras-train-plus-validation"][1], {"keras_training_steps"},
     "made 1,200 steps, expected 1,000 (2 epochs of 50,000 / 100 = 500 mini-batches): fitted on 60,000 images"),
    ("validation-split", [("validation_data=(x_val, y_val)", "validation_split=0.2")], {"keras_training_steps"},
     "made 800 steps, expected 1,000 (2 epochs of 50,000 / 100 = 500 mini-batches): fitted on 40,000 images, a "
     "validation_split of x_train"),
    ("no-validation-data", [("validation_data=(x_val, y_val), ", "")], {"keras_training_steps"},
     "what train_keras returned for model_10 has no val_loss: pass validation_data=(x_val, y_val)"),
    ("lr-10x", [("SGD(learning_rate=LEARNING_RATE)", "SGD(learning_rate=10 * LEARNING_RATE)")],
     {"keras_training_setup"}, "model_10's learning rate is 2.5, expected 0.25 (LEARNING_RATE)"),
    ("adam", [("keras.optimizers.SGD(learning_rate=LEARNING_RATE)", "keras.optimizers.Adam(learning_rate=LEARNING_RATE)")],
     {"keras_training_setup"}, "model_10's optimizer is Adam, expected SGD (plain gradient descent)"),
    ("momentum", [("SGD(learning_rate=LEARNING_RATE)", "SGD(learning_rate=LEARNING_RATE, momentum=0.9)")],
     {"keras_training_setup"}, "model_10's SGD has momentum 0.9, expected 0"),
    ("loss-string-not-from-logits", [("loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
                                      'loss="sparse_categorical_crossentropy"')],
     {"keras_training_setup"}, "model_10 outputs logits (no activation) but its loss has from_logits=False"),
    ("softmax-with-from-logits", WRONG["keras-softmax-with-from-logits"][1], {"model_10_structure"},
     "model_10 ends with a softmax and is trained with a loss that has from_logits=True: the softmax is applied twice"),
    ("default-initialiser", [("model.add(keras.layers.Dense(units, activation=activation, kernel_initializer=init))",
                              "model.add(keras.layers.Dense(units, activation=activation))")],
     {"model_10_structure"}, "model_10's Dense layer 1 starts from GlorotUniform, expected RandomNormal(stddev=0.1): "
                             "give every Dense layer kernel_initializer=init"),
    ("string-initialiser", [("kernel_initializer=init))\n    return", 'kernel_initializer="random_normal"))\n    return')],
     {"model_10_structure"}, "model_10's Dense layer 2 starts from RandomNormal(stddev=0.05), expected "
                             "RandomNormal(stddev=0.1)"),
    # build_mlp ignores `activation`: judged where each question asks for a ReLU, not at model_10 (no activation)
    ("ignores-activation", [("Dense(units, activation=activation,", "Dense(units,")],
     {"model_relu_structure", "model_final_structure"}, "model_relu's hidden layer 1 is Dense(30, linear), expected "
                                                        "Dense(30, relu)"),
    ("first-layer-only", [("for units in hidden_units:", "for units in hidden_units[:1]:")],
     {"model_final_structure"}, "model_final has layers Dense(30, relu) -> Dense(10, linear); expected Dense(30, relu) "
                                "-> Dense(25, relu) -> Dense(10)"),
]


@pytest.mark.parametrize("edits, expected, message", [w[1:] for w in KERAS_WRONG], ids=[w[0] for w in KERAS_WRONG])
def test_keras_mistake_costs_once_at_its_question(key, data, tmp_path, monkeypatch, edits, expected, message):
    """How a model was trained is read from the .keras file; a build_mlp / train_keras mistake costs at 03.keras
    (or where the question names it), not again at every later model."""
    _, folder = key
    results = export_and_check(namespace(edited_key(tmp_path, edits), folder, data, monkeypatch), tmp_path / "a")
    assert lost(results, KERAS_ACCURACY) == expected, messages(results)
    assert any(message in m for m in messages(results).values()), messages(results)


# -- messages -----------------------------------------------------------------------------------

def test_step_and_loss_messages_name_the_cause(key, data, tmp_path, monkeypatch):
    _, folder = key
    cases = {
        "gd-step-not-in-place": ("gd_step_public", "gd_step on 32 examples, lr 0.25: W1, b1, W2 and b2 did not "
                                                   "change: update each variable in place with variable.assign_sub"),
        "gd-step-wrong-sign": ("gd_step_public", "moved along the gradient instead of against it"),
        "gd-step-ignores-lr": ("gd_step_other_inputs", "each step is 2.5 times lr * gradient, with lr = 0.1 (use the "
                                                       "`lr` argument, not LEARNING_RATE or 0.25)"),
        "gd-step-returns-loss-after": ("gd_step_returns_loss_before", "the loss after the update; expected"),
        "loss-summed-not-averaged": ("cross_entropy_public", "this is the sum over the batch; the loss is the mean"),
        "log-of-softmax": ("cross_entropy_big_logits", "compute log p = z - tf.reduce_logsumexp(z)"),
        "one-hot-width-from-labels": ("one_hot_other_inputs", "one_hot gave 9 columns, expected 10"),
        "preprocess-divides-by-max": ("preprocess_other_inputs", "divided by the largest pixel of the batch instead "
                                                                 "of by 255"),
        "preprocess-float64": ("preprocess_public", "returns float64 values, expected float32"),
    }
    for mutant, (check_name, text) in cases.items():
        _, edits, _ = WRONG[mutant]
        results = export_and_check(namespace(edited_key(tmp_path / mutant, edits), folder, data, monkeypatch,
                                             **STATE.get(mutant, {})), tmp_path / mutant / "a")
        assert text in messages(results).get(check_name, ""), (mutant, messages(results))
    # only b1 and b2 updated: the names of the parameters that did not move
    edits = [(mutants.STEP, "    for p, g in list(zip(params, grads))[1::2]:\n        p.assign_sub(lr * g)\n"
                            "    return loss")]
    results = export_and_check(namespace(edited_key(tmp_path / "half", edits), folder, data, monkeypatch),
                               tmp_path / "half" / "a")
    assert messages(results)["gd_step_public"].endswith("W1 and W2 did not change: update all four parameters")
    # and in a French notebook's language (these causes were English in French feedback)
    french = {r.name: r.message for r in run_checks(A.checks_module, Artifacts(tmp_path / "half" / "a", HIDDEN),
                                                    language="fr") if r.status != "passed"}
    assert french["gd_step_public"].endswith("aucun changement pour W1 et W2 : mettez à jour les quatre paramètres"), \
        french["gd_step_public"]
    # the tape was used outside its block: no gradient, said in the student's terms
    edits = [("    grads = tape.gradient(loss, params)", "    grads = [None] * 4")]
    results = export_and_check(namespace(edited_key(tmp_path / "none", edits), folder, data, monkeypatch),
                               tmp_path / "none" / "a")
    assert "the tape found no path from the loss to a parameter" in messages(results)["gd_step_public"]


def test_activation_and_optimiser_messages_name_the_cause(key, data, tmp_path, monkeypatch):
    _, folder = key
    cases = {
        "sigmoid-wrong-sign": ("sigmoid_values", "this is 1 / (1 + exp(z)), sigmoid(-z)"),
        "sigmoid-exp-ratio": ("activations_other_inputs", "NaN for large z: exp(z) / (1 + exp(z)) gives inf / inf"),
        "step-one-at-zero": ("step_values", "step(0) gave 1: the step is 1 only where z > 0"),
        "relu-flattens": ("activations_other_inputs", "relu on a 6 x 7 array of other values"),
        "compare-adam-for-rmsprop": ("optimisers_prescribed", "runs['RMSprop'] was trained with Adam, expected "
                                                              "keras.optimizers.RMSprop"),
        "compare-sgd-at-lr-025": ("optimisers_prescribed", "runs['SGD']'s learning rate is 0.25, expected 0.01"),
        "compare-double-budget": ("optimisers_budget", "runs['SGD']'s optimizer made 200 steps, expected 100 (2 epochs "
                                                       "of 5,000 / 100 = 50 mini-batches): 4 epochs instead of 2"),
        "compare-val-acc-on-train": ("final_val_acc_recorded", "record each model's accuracy on x_val"),
    }
    for mutant, (check_name, text) in cases.items():
        _, edits, _ = WRONG[mutant]
        results = export_and_check(namespace(edited_key(tmp_path / mutant, edits), folder, data, monkeypatch),
                                   tmp_path / mutant / "a")
        assert text in messages(results).get(check_name, ""), (mutant, messages(results))


def test_comparison_record_edits_are_caught(key, tmp_path):
    """The key's comparison files edited as another run would leave them: each caught at its check only."""
    _, folder = key

    def graded(edit):
        art = tmp_path / f"art{len(list(tmp_path.iterdir()))}"
        shutil.copytree(folder, art)
        edit(art)
        return run_checks(A.checks_module, Artifacts(art, HIDDEN))

    r = graded(lambda a: edit_keras(a / "compare_Adam.keras", iterations=1000))
    assert lost(r) == {"optimisers_budget"}
    assert "runs['Adam']'s optimizer made 1,000 steps" in messages(r)["optimisers_budget"]
    assert messages(r)["optimisers_budget"].endswith("fitted on all of x_train: use its first COMPARE_N images")

    def momentum(c):
        c["compile_config"]["optimizer"]["config"]["momentum"] = 0.9

    r = graded(lambda a: edit_keras(a / "compare_SGD.keras", config=momentum))
    assert lost(r) == {"optimisers_prescribed"} and "momentum 0.9" in messages(r)["optimisers_prescribed"]

    def wider_start(c):  # start's hidden layer made wider: the runs are no longer copies of it
        [l for l in c["config"]["layers"] if l["class_name"] == "Dense"][0]["config"]["units"] = 40

    r = graded(lambda a: edit_keras(a / "compare_start.keras", config=wider_start))
    assert lost(r) == {"optimisers_same_network"}, messages(r)
    r = graded(lambda a: edit_keras(a / "compare_RMSprop.keras", weights=np.nan))
    assert lost(r) == {"final_val_acc_recorded", "test_accuracy_compared"}
    assert messages(r)["test_accuracy_compared"].endswith("training diverged (NaN loss): the weights are NaN")


def test_structure_messages_say_expected_and_got(key, data, tmp_path, monkeypatch):
    _, folder = key
    results = export_and_check(namespace(edited_key(tmp_path, WRONG["wrong-units"][1]), folder, data, monkeypatch),
                               tmp_path / "a")
    assert messages(results)["model_final_structure"] == (
        "model_final's hidden layer 2 is Dense(20, relu), expected Dense(25, relu) "
        "(model: Dense(30, relu) -> Dense(20, relu) -> Dense(10, linear))")


def test_training_record_edits_are_caught(key, tmp_path):
    """The key's own files, edited as a wrong training would leave them: each caught at its check only."""
    _, folder = key

    def graded(edit):
        art = tmp_path / f"art{len(list(tmp_path.iterdir()))}"
        shutil.copytree(folder, art)
        edit(art)
        return run_checks(A.checks_module, Artifacts(art, HIDDEN))

    def lr(c, value):
        c["compile_config"]["optimizer"]["config"]["learning_rate"] = value
        return c

    def from_logits(c, value):
        c["compile_config"]["loss"]["config"]["from_logits"] = value
        return c

    r = graded(lambda a: edit_keras(a / "model_10.keras", iterations=500))
    assert lost(r) == {"keras_training_steps"} and "1 epoch instead of 2" in messages(r)["keras_training_steps"]
    r = graded(lambda a: edit_keras(a / "model_10.keras", iterations=1200))
    assert lost(r) == {"keras_training_steps"} and "x_train and x_val together" in messages(r)["keras_training_steps"]
    r = graded(lambda a: edit_keras(a / "model_10.keras", config=lambda c: lr(c, 2.5)))
    assert lost(r) == {"keras_training_setup"}, messages(r)
    r = graded(lambda a: edit_keras(a / "model_10.keras", config=lambda c: from_logits(c, False)))
    assert lost(r) == {"keras_training_setup"}, messages(r)
    # a diverged training: NaN weights score chance level, and the message says why
    r = graded(lambda a: edit_keras(a / "model_relu.keras", weights=np.nan))
    assert lost(r) == {"test_accuracy_model_relu"}
    assert messages(r)["test_accuracy_model_relu"].endswith("training diverged (NaN loss): the weights are NaN")

    def nan_history(a):
        h = json.loads((a / "history_30.json").read_text())
        h["loss"][1] = float("nan")
        (a / "history_30.json").write_text(json.dumps(h))
        edit_keras(a / "model_30.keras", weights=np.nan)

    r = graded(nan_history)
    assert messages(r)["test_accuracy_model_30"].endswith("training diverged (NaN loss from epoch 2 on)")

    def nan_by_hand(a):
        np.save(a / "by_hand_W1.npy", np.full((784, 10), np.nan, np.float32))
        losses = np.load(a / "losses.npy")
        losses[500:] = np.nan
        np.save(a / "losses.npy", losses)

    r = graded(nan_by_hand)
    assert lost(r) == {"loss_curve_decreases", "test_accuracy_by_hand"}
    assert messages(r)["loss_curve_decreases"].startswith("training diverged (NaN loss): 500 of the 1000 losses")
    assert messages(r)["test_accuracy_by_hand"].endswith("training diverged (NaN loss): W1 became NaN or infinite")


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
    (art / "n_params_10.json").write_text("7950")
    results = run_checks(A.checks_module, Artifacts(art, HIDDEN))
    assert "n_params_10 is 7,950, which is not" in messages(results)["n_params_10_answer"]


# -- wrong submissions run for real -------------------------------------------------------------

def test_unscaled_pixels_fail_on_accuracy(tmp_path):
    """Forgetting to scale: gradient descent at 0.25 diverges, and the grader feeds the models [0, 1] images."""
    result = grade_notebook(mutate(KEY, tmp_path, NO_SCALING))
    assert result.status == "graded", result.reason
    # the comparison's accuracies were recorded on the notebook's unscaled x_val; the grader's is scaled
    expected = {"preprocess_public", "x_train_prepared", "preprocess_other_inputs", "loss_curve_decreases",
                "final_val_acc_recorded"} | ACCURACY
    assert not_passed(result) == expected, {c.name: c.message for c in result.checks if c.status != "passed"}
    msgs = {c.name: c.message for c in result.checks}
    assert "expected them in [0, 1] (divide the pixels by 255)" in msgs["x_train_prepared"]
    assert msgs["test_accuracy_model_final"].startswith("test accuracy of model_final")
    assert "training diverged (NaN loss" in msgs["loss_curve_decreases"]


def test_early_failure_still_grades_the_rest(tmp_path):
    """preprocess raises: nothing trains (cheap), every check that does not need the data still passes."""
    result = grade_notebook(mutate(KEY, tmp_path, [(NO_SCALING[0][0], "raise ValueError('not done')")]))
    assert result.status == "graded", result.reason
    expected = {"preprocess_public", "x_train_prepared", "preprocess_other_inputs", "loss_curve_decreases",
                "keras_training_steps", "optimisers_prescribed", "optimisers_budget", "optimisers_same_network",
                "final_val_acc_recorded"} | ACCURACY
    assert not_passed(result) == expected, {c.name: c.message for c in result.checks if c.status != "passed"}
    assert any("raised ValueError" in n for n in result.notes)


def test_four_mistakes_graded_for_real(tmp_path):
    """Mutants whose real outcome does not depend on the seed, in one real run: each costs at its own check
    (the Keras steps come from a real fit on 60,000 images)."""
    ids = ("preprocess-divides-by-max", "log-of-softmax", "gd-step-returns-loss-after", "keras-train-plus-validation")
    result = grade_notebook(mutate(KEY, tmp_path, [e for i in ids for e in WRONG[i][1]]))
    assert result.status == "graded", result.reason
    assert not_passed(result) == set().union(*(WRONG[i][2] for i in ids)), {
        c.name: c.message for c in result.checks if c.status != "passed"}
