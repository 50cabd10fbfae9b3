"""Checks of practical 03 (optimisation and the multilayer perceptron).

Loss values and one gradient step are compared with references computed here (numpy closed form, and
TensorFlow's own softmax cross-entropy); model structure and how each model was trained are read from the
exported ``.keras`` file (``config.json``: layers, initialisers, optimizer, loss; ``model.weights.h5``: the
optimizer's step count); test accuracy is measured here, on the official Fashion-MNIST test split, which never
enters the student's kernel. Test images are prepared as the notebook documents: float32 in [0, 1],
flattened to 784 values (28 x 28 for a model whose input is an image).

A mistake costs once, at the question that names it: ``cross_entropy`` is fed the grader's one-hot labels,
``gd_step`` runs with the reference ``forward`` and ``cross_entropy`` (see the exporter), ``build_mlp``'s output
layer, initialiser and input and ``train_keras``'s optimizer, loss and step count are judged on ``model_10``
(03.keras) only; the later models' structure checks judge the hidden layers their question asks for; the optimiser
comparison's networks are copies of the notebook's ``start`` (built by ``build_mlp``), judged against it, not again
against the expected layers.
What cannot be separated without retraining: a model trained by a wrong upstream function (unscaled pixels,
a diverging loss or step) also scores low on test accuracy.
"""

import functools
import io
import json
import math
import zipfile

import numpy as np

from autograder.practicals.p03_mlp import in_kernel as _exporter

from autograder.i18n import tr
from autograder.check_api import (CheckFailure, MissingAnswer, check, expect, expect_calibrated, expect_close,
                                   expect_shape, fmt, infer, read_only)

ASSIGNMENT = "03-mlp"
LN10 = math.log(10.0)
FINAL_LOSS_MAX = 1.0            # mean of the last 50 losses of the hand-written training (answer key: ~0.5)
MAX_CONFIG_BYTES = 10 * 2**20
PARAMS_10 = 784 * 10 + 10 + 10 * 10 + 10                        # 7,960
PARAMS_FINAL = 784 * 30 + 30 + 30 * 25 + 25 + 25 * 10 + 10      # 24,585
N_TRAIN, BATCH_SIZE, EPOCHS, LEARNING_RATE = 50_000, 100, 2, 0.25
KERAS_STEPS = EPOCHS * math.ceil(N_TRAIN / BATCH_SIZE)           # 1,000 optimizer steps per Keras model
INIT_STDDEV = 0.1
PARAM_SHAPES = {"W1": (784, 10), "b1": (10,), "W2": (10, 10), "b2": (10,)}
# the optimiser comparison: each optimiser at Keras' default learning rate, 2 epochs of 5,000 / 100 = 50 batches
COMPARE_LR = {"SGD": 0.01, "Adam": 0.001, "RMSprop": 0.001}
COMPARE_N, COMPARE_EPOCHS = 5_000, 2
COMPARE_STEPS = COMPARE_EPOCHS * math.ceil(COMPARE_N / BATCH_SIZE)      # 100 optimizer steps per optimiser
OPTIMISERS = _exporter.OPTIMISERS
N_VAL = 10_000                  # the notebook's validation split: the first 10,000 of a fixed permutation
VAL_ACC_TOLERANCE = 0.001       # 10 of the 10,000 validation images


# The self-checks' fixed inputs are drawn by the exporter; the grader draws the very same ones.
public_inputs = _exporter.public_inputs


def make_hidden(rng):
    """Other inputs; they reach the kernel only in the export cell of their question. Each defeats a shortcut:

    - images: 20 (public 8), pixels 17..140 only (public 0..255): ``x / x.max()``, min-max or per-image
      scaling, and a hard-coded ``reshape(8, ...)`` give other values than ``x / 255``.
    - labels: 37 labels in 1..8 only, in random first-appearance order: ``np.eye(labels.max() + 1)`` gives 9
      columns, ``np.unique``-based indices shift the columns; the one-hot must have 10 columns.
    - logits: 50 examples (public 16), scale 3: a sum instead of a mean, or a mean divided by a hard-coded
      batch size; big_logits (scale 40, gaps over 100): ``log(softmax(z))`` underflows to log 0 (NaN or inf).
    - gd_step: batch 64 (public 32) and lr 0.1 (public 0.25): a step that uses LEARNING_RATE or 0.25 instead
      of its ``lr`` argument, or a hard-coded batch size.
    - forward: batch 64 and other parameters (N != D, no square shapes: 64 x 784 -> 10).
    - z (activations): a 6 x 7 array (public: 7 values in a row), with exact zeros (step(0) must be 0, not 1) and
      values of +-800: exp(800) overflows, so exp(z) / (1 + exp(z)) gives NaN where 1 / (1 + exp(-z)) is right;
      an activation that flattens its input returns the wrong shape.
    """
    d = _exporter.draw_inputs(rng, 20, 37, 50, 3.0, 64, 0.1, pixels=(17, 141), label_range=(1, 9),
                              big_logit_scale=40.0)
    z = 4.0 * rng.normal(size=(6, 7))
    z[0, 0] = z[2, 5] = 0.0
    z[1, 3], z[4, 1] = 800.0, -800.0
    d["z"] = z
    return d


# -- references -----------------------------------------------------------------------------

def preprocess_ref(images):
    images = np.asarray(images)
    return images.reshape(len(images), 784).astype(np.float64) / 255.0


def one_hot_ref(labels, k=10):
    return np.eye(k)[np.asarray(labels)]


def forward_ref(d, x=None):
    x = np.asarray(d["x"] if x is None else x, np.float64)
    w1, b1, w2, b2 = (np.asarray(d[k], np.float64) for k in ("W1", "b1", "W2", "b2"))
    return (x @ w1 + b1) @ w2 + b2


def cross_entropy_ref(logits, labels_onehot):
    """Mean softmax cross-entropy, computed by TensorFlow's own op in float64."""
    import tensorflow as tf

    per_example = tf.nn.softmax_cross_entropy_with_logits(labels=np.asarray(labels_onehot, np.float64),
                                                          logits=np.asarray(logits, np.float64))
    return float(tf.reduce_mean(per_example))


def _loss_np(d, flat=None):
    """Mean cross-entropy of the batch at the given (flattened) parameters, numpy float64."""
    params = unflatten(flat_params(d) if flat is None else flat)
    z = forward_ref(params, d["x"])
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-np.mean(np.sum(one_hot_ref(d["y"]) * log_p, axis=1)))


def gd_step_update_ref(d):
    """The change of (W1, b1, W2, b2), flattened, after one gradient step on the mean cross-entropy."""
    x = np.asarray(d["x"], np.float64)
    y = one_hot_ref(d["y"])
    w1, b1, w2, b2 = (np.asarray(d[k], np.float64) for k in ("W1", "b1", "W2", "b2"))
    h = x @ w1 + b1
    z = h @ w2 + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = (p - y) / len(x)
    dh = dz @ w2.T
    grads = (x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0))
    return -float(d["lr"]) * np.concatenate([np.ravel(g) for g in grads])


def flat_params(d):
    return np.concatenate([np.ravel(np.asarray(d[k], np.float64)) for k in ("W1", "b1", "W2", "b2")])


def unflatten(flat):
    """{name: array} from the four parameters flattened in the order W1, b1, W2, b2."""
    out, i = {}, 0
    for k, shape in PARAM_SHAPES.items():
        n = math.prod(shape)
        out[k] = np.asarray(flat[i:i + n]).reshape(shape)
        i += n
    return out


def _names(names):
    names = list(names)
    return names[0] if len(names) == 1 else tr("{items} and {last}").format(items=", ".join(names[:-1]), last=names[-1])


def _with_cause(fn, cause):
    """Run a failing expectation; add the likely cause (when one is known) to its message."""
    try:
        fn()
    except CheckFailure as e:
        cause = cause() if callable(cause) else cause
        if cause:
            raise CheckFailure(f"{e}: {cause}") from None
        raise


# -- 03.preprocess ----------------------------------------------------------------------------

@check("03.preprocess", points=1)
def test_preprocess_public(art):
    images = public_inputs()["images"]
    got = art.array("preprocess_public")
    expect_shape(got, (len(images), 784), tr("preprocess(images) for 8 images"))
    expect_close(got, preprocess_ref(images), tr("preprocess(images): pixels / 255, flattened"), rtol=1e-5, atol=1e-6)
    expect(got.dtype == np.float32, tr("preprocess(images) returns {dtype} values, expected float32 as the "
                                       "exercise asks (.astype(np.float32))").format(dtype=got.dtype))


@check("03.preprocess", points=1)
def test_x_train_prepared(art):
    s = art.json("x_train_summary")
    shape = s["shape"]
    expect(len(shape) == 2 and shape[1] == 784, tr("x_train has shape {shape}, expected (n, 784)").format(
                                                    shape=tuple(shape)))
    expect(s["dtype"] in ("float32", "float64"),
               tr("x_train has dtype {dtype}, expected float32").format(dtype=s['dtype']))
    expect(s["finite"], tr("x_train contains NaN or infinite values"))
    expect(s["min"] >= 0.0 and s["max"] <= 1.0, (
               tr("x_train's values go from {min} to {max}, expected them in [0, 1] (divide the pixels by 255)").format(
                   min=fmt(s['min']), max=fmt(s['max']))))
    expect(s["max"] > 0.5, tr("x_train's largest value is {max}, expected 1 (pixels scaled once, by 255)").format(
                               max=fmt(s['max'])))


@check("03.preprocess", points=1, hidden=True)
def test_preprocess_other_inputs(art):
    images = art.hidden("images")
    got = art.array("preprocess_hidden")
    expect_shape(got, (len(images), 784), tr("preprocess on {n_images} other images").format(n_images=len(images)))
    x = images.reshape(len(images), 784).astype(np.float64)
    cause = None
    if got.shape == x.shape:
        if np.allclose(got, x / x.max(), atol=1e-6):
            cause = "divided by the largest pixel of the batch instead of by 255"
        elif np.allclose(got, (x - x.min()) / (x.max() - x.min()), atol=1e-6):
            cause = "scaled from the batch's smallest to largest pixel instead of dividing by 255"
    _with_cause(lambda: expect_close(got, preprocess_ref(images),
                                     tr("preprocess on {n_images} other images (pixels {low} to {high})").format(
                                         n_images=len(images), low=int(images.min()), high=int(images.max())),
                                     rtol=1e-5, atol=1e-6), cause)


# -- 03.one_hot -------------------------------------------------------------------------------

@check("03.one_hot", points=1)
def test_one_hot_public(art):
    labels = public_inputs()["labels"]
    got = art.array("one_hot_public")
    expect_close(got, one_hot_ref(labels), f"one_hot({labels.tolist()})")
    expect(got.dtype == np.float32, tr("one_hot returns {dtype} values, expected float32 as the exercise asks "
                                       "(np.eye(num_classes, dtype=np.float32))").format(dtype=got.dtype))


@check("03.one_hot", points=1, hidden=True)
def test_one_hot_other_inputs(art):
    labels = art.hidden("labels")
    got = art.array("one_hot_hidden")
    what = (f"one_hot on {len(labels)} other labels (classes {int(labels.min())} to {int(labels.max())} only, "
            "so some of the 10 classes are absent)")
    cause = None
    if got.ndim == 2 and got.shape[1] != 10:
        cause = (f"one_hot gave {got.shape[1]} columns, expected 10 whatever labels occur "
                 "(use num_classes, not labels.max() + 1 or the labels present)")
    _with_cause(lambda: expect_close(got, one_hot_ref(labels), what), cause)


# -- 03.forward -------------------------------------------------------------------------------

@check("03.forward", points=1)
def test_forward_public(art):
    d = public_inputs()
    expect_close(art.array("forward_public"), forward_ref(d),
               tr("forward(params, x): logits (x W1 + b1) W2 + b2"),
                 rtol=1e-4, atol=1e-4)


@check("03.forward", points=1, hidden=True)
def test_forward_other_inputs(art):
    d = art.hidden_inputs
    expect_close(art.array("forward_hidden"), forward_ref(d),
                 tr("forward on {n} other inputs and other parameters").format(n=len(d['x'])), rtol=1e-4, atol=1e-4)


# -- 03.loss ----------------------------------------------------------------------------------
# cross_entropy is always given the grader's one-hot labels (a wrong one_hot costs at 03.one_hot only).

def _expect_loss(got, logits, labels, what):
    expect_shape(got, (), tr("{what} (the mean over the batch, a scalar)").format(what=what))
    expected = cross_entropy_ref(logits, one_hot_ref(labels))
    cause = None
    if np.isfinite(got) and abs(float(got) - expected * len(labels)) <= 1e-4 * expected * len(labels):
        cause = "this is the sum over the batch; the loss is the mean"
    _with_cause(lambda: expect_close(got, expected, what, rtol=1e-4), cause)


@check("03.loss", points=1)
def test_cross_entropy_public(art):
    d = public_inputs()
    _expect_loss(art.array("cross_entropy_public"), d["logits"], d["ce_labels"], "cross_entropy on 16 examples")


@check("03.loss", points=2, hidden=True)
def test_cross_entropy_other_inputs(art):
    logits, labels = art.hidden("logits"), art.hidden("ce_labels")
    _expect_loss(art.array("cross_entropy_hidden"), logits, labels,
                 f"cross_entropy on {len(labels)} other examples, against tf.nn.softmax_cross_entropy_with_logits")


@check("03.loss", points=1, hidden=True)
def test_cross_entropy_big_logits(art):
    logits, labels = art.hidden("big_logits"), art.hidden("ce_labels")
    got = art.array("cross_entropy_big_logits")
    what = f"cross_entropy on {len(labels)} examples with large logits (up to {fmt(float(np.abs(logits).max()))})"
    expect_shape(got, (), what)
    expect(np.all(np.isfinite(got)), tr("{what}: got {got}, expected {expected}: the softmax of a logit far below "
                                        "the largest underflows to 0 and its log is -inf; compute log p = z - "
                                        "tf.reduce_logsumexp(z) (or tf.nn.log_softmax) instead of the log of a "
                                        "softmax").format(
                                         what=what, got=fmt(got),
                                         expected=fmt(cross_entropy_ref(logits, one_hot_ref(labels)))))
    _expect_loss(got, logits, labels, what)


# -- 03.gd_step -------------------------------------------------------------------------------
# gd_step runs with the reference forward and cross_entropy (see the exporter): only the step is judged here.

def _step_cause(change, expected, d):
    """Why the change of the parameters differs from one step of gradient descent, in the student's terms."""
    lr = float(d["lr"])
    moved = {k: not np.allclose(v, 0.0, rtol=0, atol=1e-9) for k, v in unflatten(change).items()}
    still = [k for k, m in moved.items() if not m]
    if len(still) == len(moved):
        return tr("{names} did not change: update each variable in place with variable.assign_sub(lr * gradient) "
                  "(a new value bound to a name or a list leaves the caller's variables as they were)").format(
                   names=_names(still))
    if still:
        return tr("{names} did not change: update all four parameters").format(names=_names(still))
    if np.allclose(change, -expected, rtol=1e-3, atol=1e-6):
        return tr("the parameters moved along the gradient instead of against it: subtract lr * gradient")
    k = float(change @ expected / (expected @ expected))
    if np.allclose(change, k * expected, rtol=1e-3, atol=1e-6):
        hint = (" (" + tr("use the `lr` argument, not LEARNING_RATE or 0.25") + ")"
                if abs(k * lr - LEARNING_RATE) < 1e-3 else "")
        return tr("each step is {k} times lr * gradient, with lr = {lr}").format(k=f"{k:.4g}", lr=f"{lr:g}") + hint
    ref, got = unflatten(expected), unflatten(change)
    wrong = [tr("{name} changed by up to {got} (expected up to {expected})").format(
                 name=name, got=f"{np.abs(got[name]).max():.3g}", expected=f"{np.abs(ref[name]).max():.3g}")
             for name in PARAM_SHAPES if not np.allclose(got[name], ref[name], rtol=1e-3, atol=1e-6)]
    return "; ".join(wrong)


def _expect_step(art, name, d, what):
    got = art.array(name)
    before = flat_params(d)
    expect(got.shape == before.shape, tr("{what}: expected the four parameters W1, b1, W2, b2 with {expected} "
                                         "values, got {got}").format(what=what, expected=before.size, got=got.size))
    expected = gd_step_update_ref(d)
    change = np.asarray(got, np.float64) - before
    if np.allclose(change, expected, rtol=1e-3, atol=1e-6):
        return
    expect(np.all(np.isfinite(got)), tr("{what}: the parameters became NaN or infinite after one step").format(
                                         what=what))
    raise CheckFailure(f"{what}: {_step_cause(change, expected, d)}")


@check("03.gd_step", points=1)
def test_gd_step_public(art):
    _expect_step(art, "gd_step_public", public_inputs(), "gd_step on 32 examples, lr 0.25")


@check("03.gd_step", points=1)
def test_gd_step_returns_loss_before(art):
    d = public_inputs()
    got = art.array("gd_step_public_loss")
    what = "gd_step's return value on 32 examples"
    expect(got.ndim == 0, tr("{what} has shape {shape}, expected a scalar (the mean loss of the batch)").format(
                              what=what, shape=got.shape))
    before = _loss_np(d)
    expect(np.isfinite(got), tr("{what} is {got}, expected {before}, the batch's loss before the update").format(
                                 what=what, got=fmt(float(got)), before=fmt(before)))
    if abs(float(got) - before) <= 1e-4 * before:
        return
    after = _loss_np(d, flat_params(d) + gd_step_update_ref(d))
    expect(abs(float(got) - after) > 1e-4 * after,
           tr("{what} is {got}, the loss after the update; expected {before}, the loss computed before the update "
              "(return the loss from the tape)").format(what=what, got=fmt(float(got)), before=fmt(before)))
    raise CheckFailure(tr("{what} is {got}, expected {before}, the batch's loss before the update").format(
                           what=what, got=fmt(float(got)), before=fmt(before)))


@check("03.gd_step", points=1, hidden=True)
def test_gd_step_other_inputs(art):
    d = art.hidden_inputs
    _expect_step(art, "gd_step_hidden", d, f"gd_step on {len(d['x'])} other examples, lr {float(d['lr']):g}")


# -- 03.train_by_hand -------------------------------------------------------------------------

@check("03.train_by_hand", points=1)
def test_loss_curve_decreases(art):
    losses = art.array("losses")
    uses = "the training runs your preprocess, one_hot, forward, cross_entropy and gd_step: see their checks"
    expect(losses.size, tr("losses is empty: the training cell raised at its first step ({uses})").format(uses=uses))
    expect(losses.ndim == 1 and len(losses) >= 100,
           tr("losses has shape {shape}, expected one loss per step (1000 steps)").format(shape=losses.shape))
    bad = ~np.isfinite(losses)
    expect(not bad.any(), tr("training diverged (NaN loss): {count} of the {n_losses} losses are NaN or infinite, "
                             "from step {first} on ({uses})").format(
                              count=int(bad.sum()), n_losses=len(losses), first=int(np.argmax(bad)), uses=uses))
    first, last = float(np.mean(losses[:10])), float(np.mean(losses[-50:]))
    expect(last < first, tr("the loss did not decrease: {first:.4f} over the first 10 steps, {last:.4f} over the "
                            "last 50 ({uses})").format(first=first, last=last, uses=uses))
    expect(last <= FINAL_LOSS_MAX, tr("the mean loss over the last 50 steps is {last:.4f}, expected at most "
                                      "{FINAL_LOSS_MAX} (it starts near ln 10 = {LN10:.3f})").format(
                                       last=last, FINAL_LOSS_MAX=fmt(FINAL_LOSS_MAX), LN10=LN10))


# -- 03.activations ---------------------------------------------------------------------------

def activation_ref(name, z):
    z = np.asarray(z, np.float64)
    if name == "step":
        return (z > 0).astype(np.float64)
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    return np.maximum(z, 0.0)


def _activation_cause(name, got, z):
    """The likely mistake behind a wrong activation, in the student's terms (None when unknown)."""
    if got.shape != z.shape:
        return None
    with np.errstate(all="ignore"):
        if name == "step" and np.allclose(got, (z >= 0).astype(float)):
            return "step(0) gave 1: the step is 1 only where z > 0 (0 at z = 0)"
        if name == "sigmoid" and np.isnan(got).any():
            return ("NaN for large z: exp(z) / (1 + exp(z)) gives inf / inf; compute 1 / (1 + exp(-z)), which "
                    "stays right when exp(-z) overflows")
        if name == "sigmoid" and np.allclose(got, 1.0 / (1.0 + np.exp(z)), equal_nan=True):
            return "this is 1 / (1 + exp(z)), sigmoid(-z): the sigmoid is 1 / (1 + exp(-z))"
    return None


def _expect_activation(art, name, z, suffix, what):
    got = art.array(f"{name}_{suffix}")
    z = np.asarray(z, np.float64)
    _with_cause(lambda: expect_close(got, activation_ref(name, z), what, rtol=1e-6, atol=1e-9),
                lambda: _activation_cause(name, np.asarray(got, dtype=float), z))


@check("03.activations", points=1)
def test_step_values(art):
    z = _exporter.ACTIVATION_POINTS
    _expect_activation(art, "step", z, "public", f"step(z) at z = {list(z)}")


@check("03.activations", points=1)
def test_sigmoid_values(art):
    z = _exporter.ACTIVATION_POINTS
    _expect_activation(art, "sigmoid", z, "public", f"sigmoid(z) at z = {list(z)}")


@check("03.activations", points=1)
def test_relu_values(art):
    z = _exporter.ACTIVATION_POINTS
    _expect_activation(art, "relu", z, "public", f"relu(z) at z = {list(z)}")


@check("03.activations", points=1, hidden=True)
def test_activations_other_inputs(art):
    z = art.hidden("z")
    for name in _exporter.ACTIVATIONS:
        _expect_activation(art, name, z, "hidden", f"{name} on a {z.shape[0]} x {z.shape[1]} array of other values "
                                                   f"(from {fmt(z.min())} to {fmt(z.max())}, zeros included)")


@functools.cache
def load_test_set():
    """The official Fashion-MNIST test split, prepared as the notebook documents (grader's process only; once per
    process, read-only)."""
    from autograder.data import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    return read_only(images.astype(np.float32) / 255.0), labels


def _expect_accuracy(art, key, acc, what, cause=None):
    """The calibrated accuracy threshold; a failure says "training diverged" when the loss went NaN."""
    _with_cause(lambda: expect_calibrated(art, ASSIGNMENT, key, acc, what), cause)


@check("03.train_by_hand", points=2, hidden=True)
def test_test_accuracy_by_hand(art):
    images, labels = art.cached("test_set", load_test_set)
    d = {}
    for k, shape in PARAM_SHAPES.items():
        d[k] = art.array(f"by_hand_{k}")
        expect_shape(d[k], shape, tr("the trained parameter {k}").format(k=k))
    with np.errstate(all="ignore"):
        logits = forward_ref(d, images.reshape(len(images), 784))
    acc = float(np.mean(np.argmax(logits, axis=1) == labels))
    nan = [k for k in PARAM_SHAPES if not np.all(np.isfinite(d[k]))]
    _expect_accuracy(art, "test_accuracy_by_hand", acc, "test accuracy of the hand-written two-layer model (params)",
                     f"training diverged (NaN loss): {_names(nan)} became NaN or infinite" if nan else None)


# -- Keras models: structure and training from the exported .keras file ----------------------

def _keras_member(art, name, member):
    path = art.path(name, ".keras")
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(member)
            if member.endswith(".json") and info.file_size > MAX_CONFIG_BYTES:
                raise MissingAnswer(tr("`{name}`'s {member} is too large").format(name=name, member=member),
                                    raised=False)
            return z.read(info)
    except (zipfile.BadZipFile, KeyError) as e:
        raise MissingAnswer(tr("`{name}` is not a Keras model file ({error})").format(
                                name=name, error=type(e).__name__), raised=False)


def keras_config(art, name):
    """The saved model's config.json (read as JSON from the .keras zip: nothing is deserialised)."""

    def read():
        try:
            return json.loads(_keras_member(art, name, "config.json"))
        except ValueError as e:
            raise MissingAnswer(tr("`{name}` is not a Keras model file ({error})").format(
                                    name=name, error=type(e).__name__), raised=False)

    return art.cached(f"config:{name}", read)


def optimizer_steps(art, name):
    """The optimizer's ``iterations`` as saved in the .keras weights (None when no optimizer state is saved).

    Keras 3 saves the optimizer's variables under ``optimizer/vars``; the first is its step count.
    """

    def read():
        import h5py

        with h5py.File(io.BytesIO(_keras_member(art, name, "model.weights.h5")), "r") as f:
            var = f.get("optimizer/vars/0")
            if var is None or var.shape != () or var.dtype.kind not in "iu":
                return None
            return int(var[()])

    return art.cached(f"steps:{name}", read)


def _activation(value):
    if value is None:
        return "linear"
    if isinstance(value, dict):
        inner = value.get("config")
        return inner if isinstance(inner, str) else str(value.get("class_name", "?")).lower()
    return str(value)


def _initialiser(value):
    """(class name, config) of a serialised initialiser."""
    if isinstance(value, dict):
        return str(value.get("class_name")), value.get("config") or {}
    return str(value), {}


def layer_stack(config):
    """(input shape, [(kind, units, activation)]) of a plain stack of layers; Input/Flatten/Dropout are skipped.

    An ``Activation``/``ReLU``/``Softmax`` layer is folded into the linear Dense layer before it.
    """
    top = config.get("config", {})
    input_shape = top.get("build_input_shape") or (config.get("build_config") or {}).get("input_shape")
    stack = []
    for layer in top.get("layers", []):
        kind, c = layer.get("class_name"), layer.get("config", {})
        if kind == "InputLayer":
            input_shape = c.get("batch_shape") or c.get("batch_input_shape") or input_shape
        elif kind in ("Flatten", "Dropout"):
            continue
        elif kind == "Dense":
            stack.append(["Dense", c.get("units"), _activation(c.get("activation"))])
        elif kind in ("Activation", "ReLU", "Softmax"):
            act = {"ReLU": "relu", "Softmax": "softmax"}.get(kind) or _activation(c.get("activation"))
            if kind == "ReLU" and any(c.get(k) not in (None, 0, 0.0) for k in ("max_value", "negative_slope", "threshold")):
                act = "relu-variant"
            if stack and stack[-1][0] == "Dense" and stack[-1][2] == "linear":
                stack[-1][2] = act
            else:
                stack.append([kind, None, act])
        else:
            stack.append([kind, None, None])
    return input_shape, [tuple(s) for s in stack]


def dense_initialisers(config):
    """[(layer number from 1, class name, config)] of the kernel initialiser of every Dense layer."""
    dense = [layer.get("config", {}) for layer in config.get("config", {}).get("layers", [])
             if layer.get("class_name") == "Dense"]
    return [(i, *_initialiser(c.get("kernel_initializer"))) for i, c in enumerate(dense, 1)]


def describe(stack):
    parts = []
    for kind, units, act in stack:
        parts.append(f"{kind}({units}, {act})" if kind == "Dense" else f"{kind}({act})" if act else kind)
    return " -> ".join(parts) or "no layers"


def loss_from_logits(config):
    """True/False for the compiled loss's from_logits; None when the model was not compiled with a known CE loss."""
    loss = (config.get("compile_config") or {}).get("loss")
    if isinstance(loss, str):
        return False if "crossentropy" in loss.lower().replace("_", "") else None
    if isinstance(loss, dict) and "Crossentropy" in str(loss.get("class_name", "")):
        return bool((loss.get("config") or {}).get("from_logits", False))
    return None


def expect_hidden_layers(art, name, hidden_layers):
    """The hidden layers the question asks for, then a Dense(10) output (its activation is build_mlp's, judged
    at 03.keras on model_10)."""
    _, stack = layer_stack(keras_config(art, name))
    expected = [("Dense", units, act) for units, act in hidden_layers]
    want = describe(expected) + " -> Dense(10)"
    got = describe(stack)
    expect(len(stack) == len(expected) + 1, tr("{name} has layers {got}; expected {want}").format(
                                                name=name, got=got, want=want))
    for i, (g, e) in enumerate(zip(stack, expected)):
        expect(g == e, tr("{name}'s hidden layer {i} is {layer}, expected {expected} (model: {got})").format(
                           name=name, i=i + 1, layer=describe([g]), expected=describe([e]), got=got))
    kind, units, _ = stack[-1]
    expect(kind == "Dense" and units == 10, tr("{name}'s output layer is {layer}, expected Dense(10)").format(
                                                name=name, layer=describe([stack[-1]])))
    return stack


def expect_structure(art, name, hidden_layers):
    """All of build_mlp's instructions, on model_10: input, layers, output logits, initialiser."""
    config = keras_config(art, name)
    input_shape, _ = layer_stack(config)
    dims = [d for d in (input_shape or [])[1:]]
    expect(dims and all(isinstance(d, int) for d in dims) and math.prod(dims) == 784,
           tr("{name} takes inputs of shape {input_shape}, expected (None, 784) (flattened images)").format(
               name=name, input_shape=input_shape))
    stack = expect_hidden_layers(art, name, hidden_layers)
    act = stack[-1][2]
    expect(act in ("linear", "softmax"), tr("{name}'s output layer has activation {act}, expected none "
                                            "(logits)").format(
                                             name=name, act=act))
    if act == "softmax":
        expect(loss_from_logits(config) is not True,
               tr("{name} ends with a softmax and is trained with a loss that has from_logits=True: the softmax "
                  "is applied twice (Keras then silently uses the values before the softmax); build_mlp's last "
                  "Dense(10) must have no activation").format(name=name))
    for i, kind, c in dense_initialisers(config):
        ok = kind == "RandomNormal" and c.get("mean", 0.0) == 0.0 and c.get("stddev") == INIT_STDDEV
        shown = f"{kind}(stddev={fmt(c['stddev'])})" if "stddev" in c else kind
        expect(ok, tr("{name}'s Dense layer {i} starts from {shown}, expected RandomNormal(stddev={INIT_STDDEV}): "
                      "give every Dense layer kernel_initializer=init").format(
                       name=name, i=i, shown=shown, INIT_STDDEV=fmt(INIT_STDDEV)))


def _diverged(art, name, history_name=None):
    """'training diverged (NaN loss ...)' when the model's history or weights say so, else None."""
    try:
        history = art.json(history_name or f"history{name[5:]}")
        losses = history.get("loss", []) if isinstance(history, dict) else []
        bad = [i for i, v in enumerate(losses, 1) if not (isinstance(v, (int, float)) and math.isfinite(v))]
        if bad:
            return tr("training diverged (NaN loss from epoch {epoch} on)").format(epoch=bad[0])
    except MissingAnswer:
        pass
    try:
        if not all(np.all(np.isfinite(w)) for w in art.model(name).get_weights()):
            return tr("training diverged (NaN loss): the weights are NaN")
    except MissingAnswer:
        pass
    return None


@functools.cache
def load_validation_set():
    """The notebook's validation split (its fixed permutation of the training split), prepared like x_val (once per
    process, read-only)."""
    from autograder.data import load_fashion_mnist

    images, labels = load_fashion_mnist("train")
    val = np.random.default_rng(0).permutation(len(images))[:N_VAL]
    return read_only(images[val].reshape(N_VAL, 784).astype(np.float32) / 255.0), read_only(labels[val])


def model_accuracy(art, name, split):
    """Accuracy of the exported model on the test split or the notebook's validation split (cached)."""
    images, labels = art.cached(f"{split}_set", load_test_set if split == "test" else load_validation_set)

    def predict():
        model = art.model(name)
        shape = tuple(model.inputs[0].shape[1:])
        expect(math.prod(shape) == 784, tr("{name} takes inputs of shape {shape}, expected 784 values per "
                                           "image").format(
                                            name=name, shape=shape))
        out = infer(model, images.reshape((len(images), *shape)), batch_size=2000)
        expect_shape(out, (len(images), 10), tr("{name}'s output on the {split} images").format(
                                                 name=name, split=split))
        return float(np.mean(np.argmax(out, axis=1) == labels))

    return art.cached(f"accuracy:{split}:{name}", predict)


def _expect_model_accuracy(art, name, what):
    _expect_accuracy(art, f"test_accuracy_{name}", model_accuracy(art, name, "test"),
                     f"test accuracy of {name} ({what})", lambda: _diverged(art, name))


# -- 03.keras: build_mlp and train_keras, judged once, on model_10 ----------------------------

@check("03.keras", points=1)
def test_model_10_structure(art):
    expect_structure(art, "model_10", [(10, "linear")])


@check("03.keras", points=1)
def test_keras_training_setup(art):
    config = keras_config(art, "model_10")
    compiled = config.get("compile_config")
    expect(compiled, tr("model_10 was not compiled: compile it with the SGD optimizer and a cross-entropy loss"))
    opt = compiled.get("optimizer") or {}
    opt_name = opt.get("class_name") if isinstance(opt, dict) else opt
    expect(str(opt_name).lower() == "sgd", tr("model_10's optimizer is {opt_name}, expected SGD (plain gradient "
                                              "descent)").format(opt_name=opt_name))
    c = opt.get("config", {}) if isinstance(opt, dict) else {}
    lr = c.get("learning_rate")
    expect(isinstance(lr, (int, float)) and abs(lr - LEARNING_RATE) < 1e-6,
           tr("model_10's learning rate is {lr}, expected {LEARNING_RATE} (LEARNING_RATE)").format(
               lr=fmt(lr) if isinstance(lr, (int, float)) else repr(lr), LEARNING_RATE=fmt(LEARNING_RATE)))
    expect(not c.get("momentum"), tr("model_10's SGD has momentum {momentum}, expected 0 (plain gradient "
                                     "descent)").format(momentum=fmt(c.get('momentum'))))
    from_logits = loss_from_logits(config)
    expect(from_logits is not None, tr("model_10's loss is {loss!r}, expected a softmax cross-entropy").format(
                                        loss=compiled.get('loss')))
    _, stack = layer_stack(config)
    if stack and stack[-1][2] == "linear":
        expect(from_logits, tr("model_10 outputs logits (no activation) but its loss has from_logits=False: the "
                               "loss treats logits as probabilities (use "
                               "SparseCategoricalCrossentropy(from_logits=True))"))


def _steps_cause(steps):
    """The likeliest reading of an optimizer step count other than 2 epochs x 500 mini-batches of 100."""
    data = {N_TRAIN: None,
            N_TRAIN + 10_000: "fitted on 60,000 images, x_train and x_val together: fit on x_train only "
                              "(x_val goes in validation_data)",
            N_TRAIN * 4 // 5: "fitted on 40,000 images, a validation_split of x_train: fit on all of x_train "
                              "with validation_data=(x_val, y_val)"}
    batches = {BATCH_SIZE: None, 32: "mini-batches of 32, Keras' default: pass batch_size=BATCH_SIZE"}
    best = None
    for epochs in range(1, 51):
        for n, n_text in data.items():
            for b, b_text in list(batches.items()) + [(b, None) for b in (10, 16, 50, 64, 128, 200, 256, 500, 1000)]:
                if epochs * math.ceil(n / b) != steps:
                    continue
                causes = [t for t in (
                    f"{epochs} epoch{'s' if epochs > 1 else ''} instead of {EPOCHS} (pass `epochs` to fit; EPOCHS "
                    f"must be {EPOCHS} when you submit)" + (", or fit ran more than once on it"
                                                           if epochs % EPOCHS == 0 else "")
                    if epochs != EPOCHS else None,
                    n_text,
                    (b_text or f"mini-batches of {b} instead of {BATCH_SIZE}: pass batch_size=BATCH_SIZE")
                    if b != BATCH_SIZE else None) if t]
                if best is None or len(causes) < len(best):
                    best = causes
    return "; ".join(best) if best else None


@check("03.keras", points=1)
def test_keras_training_steps(art):
    steps = optimizer_steps(art, "model_10")
    expect(steps is not None, tr("model_10's file records no optimizer state: was it compiled and fitted by "
                                 "train_keras?"))
    expect(steps == KERAS_STEPS,
           tr("model_10's optimizer made {steps:,} steps, expected {KERAS_STEPS:,} ({EPOCHS} epochs of "
              "{N_TRAIN:,} / {BATCH_SIZE} = {batches} mini-batches)").format(
               steps=steps, KERAS_STEPS=KERAS_STEPS, EPOCHS=EPOCHS, N_TRAIN=N_TRAIN, BATCH_SIZE=BATCH_SIZE,
               batches=N_TRAIN // BATCH_SIZE)
           + (f": {_steps_cause(steps)}" if steps and _steps_cause(steps) else
              ": model_10 was not trained" if steps == 0 else ""))
    history = art.json("history_10")
    expect("val_loss" in history, tr("what train_keras returned for model_10 has no val_loss: pass "
                                     "validation_data=(x_val, y_val) to fit and return what fit returns"))


@check("03.keras", points=1, hidden=True)
def test_test_accuracy_model_10(art):
    _expect_model_accuracy(art, "model_10", "784-10-10, no activation")


# -- 03.hidden30 ------------------------------------------------------------------------------

@check("03.hidden30", points=1)
def test_model_30_structure(art):
    expect_hidden_layers(art, "model_30", [(30, "linear")])


@check("03.hidden30", points=1, hidden=True)
def test_test_accuracy_model_30(art):
    _expect_model_accuracy(art, "model_30", "784-30-10, no activation")


# -- 03.relu ----------------------------------------------------------------------------------

@check("03.relu", points=1)
def test_model_relu_structure(art):
    expect_hidden_layers(art, "model_relu", [(30, "relu")])


@check("03.relu", points=1, hidden=True)
def test_test_accuracy_model_relu(art):
    _expect_model_accuracy(art, "model_relu", "784-30-10, ReLU")


# -- 03.deeper --------------------------------------------------------------------------------
# (its parameter count follows from its layers: counting it again would penalise a wrong layer twice)

@check("03.deeper", points=1)
def test_model_final_structure(art):
    expect_hidden_layers(art, "model_final", [(30, "relu"), (25, "relu")])


@check("03.deeper", points=2, hidden=True)
def test_test_accuracy_model_final(art):
    _expect_model_accuracy(art, "model_final", "784-30-25-10, ReLU")


# -- 03.optimisers: how each run was trained, read from its .keras file ------------------------

def _optimizer(config):
    """(class name, config) of the compiled optimizer; (None, {}) when the model was not compiled."""
    opt = (config.get("compile_config") or {}).get("optimizer") or {}
    if isinstance(opt, dict):
        return opt.get("class_name"), opt.get("config") or {}
    return str(opt), {}


@check("03.optimisers", points=1)
def test_optimisers_prescribed(art):
    for name in OPTIMISERS:
        run = f"runs[{name!r}]"
        config = keras_config(art, f"compare_{name}")
        kind, c = _optimizer(config)
        expect(kind is not None, tr("{run}'s model was not compiled: train_with must compile it with the "
                                    "optimizer it is given").format(run=run))
        expect(kind == name, tr("{run} was trained with {kind}, expected keras.optimizers.{name}").format(
                                 run=run, kind=kind, name=name))
        lr = c.get("learning_rate")
        expect(isinstance(lr, (int, float)) and abs(lr - COMPARE_LR[name]) <= 1e-6 * COMPARE_LR[name],
               tr("{run}'s learning rate is {lr}, expected {COMPARE_LR} (COMPARE_LR[{name!r}])").format(
                   run=run, lr=fmt(lr) if isinstance(lr, (int, float)) else repr(lr),
                   COMPARE_LR=fmt(COMPARE_LR[name]), name=name))
        if name == "SGD":
            expect(not c.get("momentum"), tr("{run}'s SGD has momentum {momentum}, expected 0 (plain SGD)").format(
                                              run=run, momentum=fmt(c.get('momentum'))))
        from_logits = loss_from_logits(config)
        expect(from_logits is not None, tr("{run}'s loss is {loss!r}, expected the softmax cross-entropy of "
                                           "train_keras").format(
                                            run=run, loss=(config.get('compile_config') or {}).get('loss')))
        _, stack = layer_stack(config)
        if stack and stack[-1][2] == "linear":
            expect(from_logits, tr("{run}'s model outputs logits but its loss has from_logits=False: use the loss "
                                   "of train_keras").format(run=run))


def _compare_steps_cause(steps):
    """The likeliest reading of a step count other than 2 epochs x 50 mini-batches of 100."""
    per_epoch = {math.ceil(N_TRAIN / BATCH_SIZE): tr("fitted on all of x_train: use its first COMPARE_N images"),
                 math.ceil(COMPARE_N / 32): tr("mini-batches of 32, Keras' default: pass batch_size=BATCH_SIZE")}
    if steps % COMPARE_EPOCHS == 0 and steps // COMPARE_EPOCHS in per_epoch:
        return per_epoch[steps // COMPARE_EPOCHS]
    batches = COMPARE_STEPS // COMPARE_EPOCHS
    if steps and steps % batches == 0:
        return tr("{epochs} epochs instead of {expected}: pass epochs=COMPARE_EPOCHS").format(
            epochs=steps // batches, expected=COMPARE_EPOCHS)
    return None


@check("03.optimisers", points=1)
def test_optimisers_budget(art):
    for name in OPTIMISERS:
        run = f"runs[{name!r}]"
        steps = optimizer_steps(art, f"compare_{name}")
        expect(steps is not None, tr("{run}'s model records no optimizer state: was it compiled and fitted by "
                                     "train_with?").format(run=run))
        cause = _compare_steps_cause(steps)
        expect(steps == COMPARE_STEPS,
               tr("{run}'s optimizer made {steps:,} steps, expected {COMPARE_STEPS} ({COMPARE_EPOCHS} epochs of "
                  "{COMPARE_N:,} / {BATCH_SIZE} = {batches} mini-batches)").format(
                   run=run, steps=steps, COMPARE_STEPS=COMPARE_STEPS, COMPARE_EPOCHS=COMPARE_EPOCHS,
                   COMPARE_N=COMPARE_N, BATCH_SIZE=BATCH_SIZE, batches=COMPARE_STEPS // COMPARE_EPOCHS)
               + (f": {cause}" if cause else ""))
        epochs = len(art.json(f"compare_history_{name}").get("loss", []))
        expect(epochs == COMPARE_EPOCHS, tr("what fit returned for {run} records {epochs} epochs, expected "
                                            "{COMPARE_EPOCHS}: call fit once, with epochs=COMPARE_EPOCHS").format(
                                             run=run, epochs=epochs, COMPARE_EPOCHS=COMPARE_EPOCHS))


@check("03.optimisers", points=1)
def test_optimisers_same_network(art):
    """Each run is a copy of start (its layers; the weights have trained since)."""
    _, start = layer_stack(keras_config(art, "compare_start"))
    for name in OPTIMISERS:
        _, stack = layer_stack(keras_config(art, f"compare_{name}"))
        expect(stack == start, tr("runs[{name!r}]'s model has layers {layers}, expected a copy of start "
                                  "({expected}): train_with must train fresh_copy()").format(
                                   name=name, layers=describe(stack), expected=describe(start)))


@check("03.optimisers", points=1)
def test_final_val_acc_recorded(art):
    recorded = art.json("final_val_acc")
    expect(sorted(recorded) == sorted(OPTIMISERS),
           tr("final_val_acc has the names {recorded}, expected {OPTIMISERS}").format(
               recorded=sorted(recorded), OPTIMISERS=sorted(OPTIMISERS)))
    for name in OPTIMISERS:
        measured = model_accuracy(art, f"compare_{name}", "validation")
        # a few of the 10,000 predictions may differ in the last float digit between the kernel and the grader
        expect(np.isclose(recorded[name], measured, rtol=0, atol=VAL_ACC_TOLERANCE),
               tr("final_val_acc[{name!r}] is {recorded}, but runs[{name!r}]'s model classifies {measured:.4f} of "
                  "x_val correctly: record each model's accuracy on x_val, after its training").format(
                   name=name, recorded=fmt(recorded[name]), measured=measured))


@check("03.optimisers", points=2, hidden=True)
def test_test_accuracy_compared(art):
    accuracies = {name: model_accuracy(art, f"compare_{name}", "test") for name in OPTIMISERS}
    for name, acc in accuracies.items():  # all three measured before any verdict: calibration needs each one
        art.measure(f"test_accuracy_compare_{name}", acc)
    for name, acc in accuracies.items():
        model = f"compare_{name}"
        _expect_accuracy(art, f"test_accuracy_{model}", acc,
                         f"test accuracy of runs[{name!r}] (784-30-10 ReLU, {name}, {COMPARE_STEPS} steps)",
                         lambda model=model, name=name: _diverged(art, model, f"compare_history_{name}"))


# -- 03.params --------------------------------------------------------------------------------

def _expect_count(art, name, expected, model):
    got = art.json(name)
    expect(isinstance(got, int), tr("{name} is {got!r}, expected an integer").format(name=name, got=got))
    expect(got == expected, tr("{name} is {got:,}, which is not the number of parameters of the {model} network: "
                               "count the weights and the biases of every Dense layer").format(
                                name=name, got=got, model=model))


@check("03.params", points=1)
def test_n_params_10_answer(art):
    _expect_count(art, "n_params_10", PARAMS_10, "784-10-10")


@check("03.params", points=1)
def test_n_params_final_answer(art):
    _expect_count(art, "n_params_final", PARAMS_FINAL, "784-30-25-10")
