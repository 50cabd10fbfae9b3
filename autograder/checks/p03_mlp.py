"""Checks of practical 03 (optimisation and the multilayer perceptron).

Loss values and one gradient step are compared with references computed here (numpy closed form, and
TensorFlow's own softmax cross-entropy); model structure is read from the exported ``.keras`` file's
``config.json``; test accuracy is measured here, on the official Fashion-MNIST test split, which never
enters the student's kernel. Test images are prepared as the notebook documents: float32 in [0, 1],
flattened to 784 values (28 x 28 for a model whose input is an image).
"""

import json
import math
import zipfile

import numpy as np

from autograder.export import p03_mlp as _exporter

from autograder.checks.api import MissingAnswer, check, expect_calibrated, expect_close, expect_shape

ASSIGNMENT = "03-mlp"
LN10 = math.log(10.0)
INITIAL_LOSS_TOLERANCE = 0.5    # a fresh model with small weights guesses uniformly: loss ln 10 = 2.303
FINAL_LOSS_MAX = 1.0            # mean of the last 50 losses of the hand-written training (answer key: ~0.5)
MAX_CONFIG_BYTES = 10 * 2**20
PARAMS_10 = 784 * 10 + 10 + 10 * 10 + 10                        # 7,960
PARAMS_FINAL = 784 * 30 + 30 + 30 * 25 + 25 + 25 * 10 + 10      # 24,585


# The self-checks' fixed inputs are drawn by the exporter; the grader draws the very same ones.
public_inputs = _exporter.public_inputs


def make_hidden(rng):
    """Other images, labels, logits, batch size and learning rate: they reach the kernel only in the export cell."""
    return _exporter.draw_inputs(rng, 20, 37, 50, 3.0, 64, 0.1)


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


# -- 03.preprocess ----------------------------------------------------------------------------

@check("03.preprocess", points=1)
def test_preprocess_public(art):
    images = public_inputs()["images"]
    got = art.array("preprocess_public")
    expect_shape(got, (len(images), 784), "preprocess(images) for 8 images")
    expect_close(got, preprocess_ref(images), "preprocess(images): pixels / 255, flattened", rtol=1e-5, atol=1e-6)


@check("03.preprocess", points=1)
def test_x_train_prepared(art):
    s = art.json("x_train_summary")
    shape = s["shape"]
    assert len(shape) == 2 and shape[1] == 784, f"x_train has shape {tuple(shape)}, expected (n, 784)"
    assert s["dtype"] in ("float32", "float64"), f"x_train has dtype {s['dtype']}, expected float32"
    assert s["finite"], "x_train contains NaN or infinite values"
    assert s["min"] >= 0.0 and s["max"] <= 1.0, (f"x_train's values go from {s['min']:g} to {s['max']:g}, "
                                                 "expected them in [0, 1] (divide the pixels by 255)")
    assert s["max"] > 0.5, f"x_train's largest value is {s['max']:g}, expected 1.0 (scaled once by 255)"


@check("03.preprocess", points=1, hidden=True)
def test_preprocess_other_inputs(art):
    images = art.hidden("images")
    expect_close(art.array("preprocess_hidden"), preprocess_ref(images), "preprocess on 20 other images",
                 rtol=1e-5, atol=1e-6)


# -- 03.one_hot -------------------------------------------------------------------------------

@check("03.one_hot", points=1)
def test_one_hot_public(art):
    labels = public_inputs()["labels"]
    expect_close(art.array("one_hot_public"), one_hot_ref(labels), f"one_hot({labels.tolist()})")


@check("03.one_hot", points=1, hidden=True)
def test_one_hot_other_inputs(art):
    expect_close(art.array("one_hot_hidden"), one_hot_ref(art.hidden("labels")), "one_hot on 37 other labels")


# -- 03.forward -------------------------------------------------------------------------------

@check("03.forward", points=1)
def test_forward_public(art):
    d = public_inputs()
    expect_close(art.array("forward_public"), forward_ref(d), "forward(params, x): logits (x W1 + b1) W2 + b2",
                 rtol=1e-4, atol=1e-4)


@check("03.forward", points=1, hidden=True)
def test_forward_other_inputs(art):
    expect_close(art.array("forward_hidden"), forward_ref(art.hidden_inputs), "forward on other parameters and inputs",
                 rtol=1e-4, atol=1e-4)


# -- 03.loss ----------------------------------------------------------------------------------

@check("03.loss", points=1)
def test_cross_entropy_public(art):
    d = public_inputs()
    got = art.array("cross_entropy_public")
    expect_shape(got, (), "cross_entropy(logits, labels_onehot) (the mean over the batch, a scalar)")
    expect_close(got, cross_entropy_ref(d["logits"], one_hot_ref(d["ce_labels"])),
                 "cross_entropy on 16 examples", rtol=1e-4)


@check("03.loss", points=2, hidden=True)
def test_cross_entropy_other_inputs(art):
    logits, labels = art.hidden("logits"), art.hidden("ce_labels")
    got = art.array("cross_entropy_hidden")
    expect_shape(got, (), "cross_entropy on 50 other examples (the mean, a scalar)")
    expect_close(got, cross_entropy_ref(logits, one_hot_ref(labels)),
                 "cross_entropy on 50 other examples, against tf.nn.softmax_cross_entropy_with_logits", rtol=1e-4)


@check("03.loss", points=1)
def test_initial_loss_near_ln10(art):
    got = art.json("initial_loss")
    assert isinstance(got, (int, float)) and math.isfinite(got), f"initial_loss is {got!r}, expected a finite number"
    assert abs(got - LN10) <= INITIAL_LOSS_TOLERANCE, (
        f"initial_loss is {got:.4f}, expected close to ln 10 = {LN10:.4f} (within {INITIAL_LOSS_TOLERANCE}): "
        "a fresh model with small weights predicts about 1/10 for every class")


# -- 03.gd_step -------------------------------------------------------------------------------

def _expect_step(art, name, d, what):
    got = art.array(name)
    expect_shape(got, flat_params(d).shape, f"{what}: the parameters after the step, flattened")
    expect_close(got - flat_params(d), gd_step_update_ref(d), f"{what}: the change of the parameters",
                 rtol=1e-3, atol=1e-6)


@check("03.gd_step", points=1)
def test_gd_step_public(art):
    _expect_step(art, "gd_step_public", public_inputs(), "gd_step on 32 examples, lr 0.25")


@check("03.gd_step", points=2, hidden=True)
def test_gd_step_other_inputs(art):
    d = art.hidden_inputs
    _expect_step(art, "gd_step_hidden", d, f"gd_step on {len(d['x'])} other examples, lr {float(d['lr']):g}")


# -- 03.train_by_hand -------------------------------------------------------------------------

@check("03.train_by_hand", points=1)
def test_loss_curve_decreases(art):
    losses = art.array("losses")
    assert losses.ndim == 1 and len(losses) >= 100, f"losses has shape {losses.shape}, expected one loss per step"
    bad = int(np.sum(~np.isfinite(losses)))
    assert bad == 0, f"{bad} of the {len(losses)} losses are NaN or infinite: the training diverged"
    first, last = float(np.mean(losses[:10])), float(np.mean(losses[-50:]))
    assert last < first, f"the loss did not decrease: {first:.4f} over the first 10 steps, {last:.4f} over the last 50"
    assert last <= FINAL_LOSS_MAX, (f"the mean loss over the last 50 steps is {last:.4f}, expected at most "
                                    f"{FINAL_LOSS_MAX} (it starts near ln 10 = {LN10:.3f})")


def load_test_set():
    """The official Fashion-MNIST test split, prepared as the notebook documents (grader's process only)."""
    from autograder.data import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    return images.astype(np.float32) / 255.0, labels



@check("03.train_by_hand", points=2, hidden=True)
def test_test_accuracy_by_hand(art):
    images, labels = art.cached("test_set", load_test_set)
    shapes = {"W1": (784, 10), "b1": (10,), "W2": (10, 10), "b2": (10,)}
    d = {}
    for k, shape in shapes.items():
        d[k] = art.array(f"by_hand_{k}")
        expect_shape(d[k], shape, f"the trained parameter {k}")
    logits = forward_ref(d, images.reshape(len(images), 784))
    acc = float(np.mean(np.argmax(logits, axis=1) == labels))
    expect_calibrated(art, ASSIGNMENT, "test_accuracy_by_hand", acc,
                      "test accuracy of the hand-written two-layer model (params)")


# -- Keras models: structure from the exported config ----------------------------------------

def keras_config(art, name):
    """The saved model's config.json (read as JSON from the .keras zip: nothing is deserialised)."""

    def read():
        path = art.path(name, ".keras")
        try:
            with zipfile.ZipFile(path) as z:
                info = z.getinfo("config.json")
                if info.file_size > MAX_CONFIG_BYTES:
                    raise MissingAnswer(f"`{name}`'s config is too large", raised=False)
                return json.loads(z.read(info))
        except (zipfile.BadZipFile, KeyError, ValueError) as e:
            raise MissingAnswer(f"`{name}` is not a Keras model file ({type(e).__name__})", raised=False)

    return art.cached(f"config:{name}", read)


def _activation(value):
    if value is None:
        return "linear"
    if isinstance(value, dict):
        inner = value.get("config")
        return inner if isinstance(inner, str) else str(value.get("class_name", "?")).lower()
    return str(value)


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


def expect_structure(art, name, hidden_layers):
    config = keras_config(art, name)
    input_shape, stack = layer_stack(config)
    expected = [("Dense", units, act) for units, act in hidden_layers]
    want = describe(expected) + " -> Dense(10) giving logits"
    dims = [d for d in (input_shape or [])[1:]]
    assert dims and all(isinstance(d, int) for d in dims) and math.prod(dims) == 784, (
        f"{name} takes inputs of shape {input_shape}, expected (None, 784) (flattened images)")
    got = describe(stack)
    assert len(stack) == len(expected) + 1, f"{name} has layers {got}; expected {want}"
    for i, (g, e) in enumerate(zip(stack, expected)):
        assert g == e, f"{name}'s hidden layer {i + 1} is {describe([g])}, expected {describe([e])} (model: {got})"
    kind, units, act = stack[-1]
    assert kind == "Dense" and units == 10, f"{name}'s output layer is {describe([stack[-1]])}, expected Dense(10)"
    assert act in ("linear", "softmax"), f"{name}'s output layer has activation {act}, expected none (logits)"
    if act == "softmax":
        assert loss_from_logits(config) is not True, (
            f"{name} ends with a softmax and is trained with a loss that has from_logits=True: the softmax is "
            "applied twice; output logits (no activation) or use from_logits=False")


def model_test_accuracy(art, name):
    """Accuracy of the exported model on the test split, in the grader's process (cached per model)."""
    images, labels = art.cached("test_set", load_test_set)

    def predict():
        model = art.model(name)
        shape = tuple(model.inputs[0].shape[1:])
        x = images.reshape((len(images), *shape)) if math.prod(shape) == 784 else None
        assert x is not None, f"{name} takes inputs of shape {shape}, expected 784 values per image"
        out = np.asarray(model.predict(x, batch_size=2000, verbose=0))
        expect_shape(out, (len(images), 10), f"{name}'s output on the test images")
        return float(np.mean(np.argmax(out, axis=1) == labels))

    return art.cached(f"accuracy:{name}", predict)



# -- 03.keras ---------------------------------------------------------------------------------

@check("03.keras", points=1)
def test_model_10_structure(art):
    expect_structure(art, "model_10", [(10, "linear")])


@check("03.keras", points=1)
def test_keras_training_setup(art):
    config = keras_config(art, "model_10")
    compiled = config.get("compile_config")
    assert compiled, "model_10 was not compiled: compile it with the SGD optimizer and a cross-entropy loss"
    opt = compiled.get("optimizer") or {}
    opt_name = opt.get("class_name") if isinstance(opt, dict) else opt
    assert str(opt_name).lower() == "sgd", f"model_10's optimizer is {opt_name}, expected SGD (plain gradient descent)"
    c = opt.get("config", {}) if isinstance(opt, dict) else {}
    lr = c.get("learning_rate")
    assert isinstance(lr, (int, float)) and abs(lr - 0.25) < 1e-6, f"model_10's learning rate is {lr!r}, expected 0.25"
    assert not c.get("momentum"), f"model_10's SGD has momentum {c.get('momentum')}, expected 0 (plain gradient descent)"
    from_logits = loss_from_logits(config)
    assert from_logits is not None, f"model_10's loss is {compiled.get('loss')!r}, expected a softmax cross-entropy"
    _, stack = layer_stack(config)
    if stack and stack[-1][2] == "linear":
        assert from_logits, ("model_10 outputs logits (no activation) but its loss has from_logits=False: "
                             "the loss treats logits as probabilities")


@check("03.keras", points=1, hidden=True)
def test_test_accuracy_model_10(art):
    expect_calibrated(art, ASSIGNMENT, "test_accuracy_model_10", model_test_accuracy(art, "model_10"),
                      "test accuracy of model_10 (784-10-10, no activation)")


# -- 03.hidden30 ------------------------------------------------------------------------------

@check("03.hidden30", points=1)
def test_model_30_structure(art):
    expect_structure(art, "model_30", [(30, "linear")])


@check("03.hidden30", points=1, hidden=True)
def test_test_accuracy_model_30(art):
    expect_calibrated(art, ASSIGNMENT, "test_accuracy_model_30", model_test_accuracy(art, "model_30"),
                      "test accuracy of model_30 (784-30-10, no activation)")


# -- 03.relu ----------------------------------------------------------------------------------

@check("03.relu", points=1)
def test_model_relu_structure(art):
    expect_structure(art, "model_relu", [(30, "relu")])


@check("03.relu", points=1, hidden=True)
def test_test_accuracy_model_relu(art):
    expect_calibrated(art, ASSIGNMENT, "test_accuracy_model_relu", model_test_accuracy(art, "model_relu"),
                      "test accuracy of model_relu (784-30-10, ReLU)")


# -- 03.deeper --------------------------------------------------------------------------------

@check("03.deeper", points=1)
def test_model_final_structure(art):
    expect_structure(art, "model_final", [(30, "relu"), (25, "relu")])


@check("03.deeper", points=1)
def test_model_final_param_count(art):
    got = int(art.model("model_final").count_params())
    assert got == PARAMS_FINAL, (f"model_final has {got:,} parameters, expected "
                                 f"784*30+30 + 30*25+25 + 25*10+10 = {PARAMS_FINAL:,}")


@check("03.deeper", points=2, hidden=True)
def test_test_accuracy_model_final(art):
    expect_calibrated(art, ASSIGNMENT, "test_accuracy_model_final", model_test_accuracy(art, "model_final"),
                      "test accuracy of model_final (784-30-25-10, ReLU)")


# -- 03.params --------------------------------------------------------------------------------

def _expect_count(art, name, expected, model):
    got = art.json(name)
    assert isinstance(got, int), f"{name} is {got!r}, expected an integer"
    assert got == expected, (f"{name} is {got:,}, which is not the number of parameters of the {model} network: "
                             "count the weights and the biases of every Dense layer")


@check("03.params", points=1)
def test_n_params_10_answer(art):
    _expect_count(art, "n_params_10", PARAMS_10, "784-10-10")


@check("03.params", points=1)
def test_n_params_final_answer(art):
    _expect_count(art, "n_params_final", PARAMS_FINAL, "784-30-25-10")
