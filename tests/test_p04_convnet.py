"""Practical 04 graded end to end: answer key, blank release, wrong submissions.

The answer key is executed once (it trains a convnet); most wrong submissions are made by changing its exported
files (another model built here, untrained; wrong answers written as arrays) and re-running the checks, so no
variant retrains. One cheap real notebook variant checks the whole path for a wrong submission.
"""

import shutil

import numpy as np
import pytest

from autograder import practicals
from autograder.check_api import Artifacts
from autograder.engine.check_runner import run_checks
from autograder.engine.in_kernel import Exporter
from autograder.practicals.p04_convnet.in_kernel import public_raw_images
from autograder.grade import grade_notebook, hidden_inputs
from autograder.paths import REPO
from helpers import edit_keras, mutate, not_passed

NAME = "04-convnet"
A = practicals.get(NAME)
KEY = A.solution_notebook(REPO)
MODULE = A.checks_module
QUESTIONS = {"04.dense", "04.inputs", "04.filter", "04.params", "04.model", "04.train", "04.learned"}
MAX_SCORE = 34


@pytest.fixture(scope="module")
def key_run(graded_key, key_artifacts):
    """The answer key graded once per session (shared fixture), and the folder of its exported files."""
    return graded_key(NAME), key_artifacts(NAME)


@pytest.fixture(scope="module")
def hidden():
    return hidden_inputs(A)


# -- reference answers, for re-exporting what depends on a replaced model -------------------------

def _first_conv(model):
    import keras

    def walk(m):  # a block written as a nested Sequential is searched too
        for layer in m.layers:
            yield from walk(layer) if hasattr(layer, "layers") else [layer]

    return [layer for layer in walk(model) if isinstance(layer, keras.layers.Conv2D)][0]


def ref_filters(model):
    kernel = _first_conv(model).get_weights()[0]
    return np.transpose(kernel[:, :, 0, :], (2, 0, 1))


def ref_maps(model, image):
    return _first_conv(model)(image[np.newaxis]).numpy()[0]


def build(filters=(16, 32), kernel=3, padding="valid", pool=True, relu="after_pool", dense=100, out_act=None,
          functional=False, nested=False):
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((28, 28, 1))
    x = inp
    for f in filters:
        block = [L.Conv2D(f, kernel, padding=padding, activation="relu" if relu == "in_conv" else None)]
        if pool:
            block.append(L.MaxPooling2D(2))
        if relu == "after_pool":
            block.append(L.ReLU())
        if nested:  # each block written as its own Sequential
            block = [keras.Sequential(block)]
        for layer in block:
            x = layer(x)
    x = L.Flatten()(x)
    x = L.Dense(dense, activation="relu" if relu else None)(x)
    x = L.Dense(10, activation=out_act)(x)
    if functional:
        return keras.Model(inp, x)
    return keras.Sequential([inp] + [layer for layer in keras.Model(inp, x).layers[1:]])


def with_model(folder, hidden, model):
    """Export ``model`` and what depends on it (filters, feature maps) over a copy of the key's files."""
    from autograder.practicals.p04_convnet import in_kernel as p04_convnet

    ns = {"model": model, "first_layer_filters": ref_filters, "feature_maps": ref_maps}
    p04_convnet.export(Exporter(ns, folder, hidden))  # other names are missing: their key files stay


def recheck(key_folder, tmp_path, hidden, change, questions=None):
    folder = tmp_path / "artifacts"
    shutil.copytree(key_folder, folder)
    change(folder)
    art = Artifacts(folder, hidden)
    if questions is None:
        results = run_checks(MODULE, art)
    else:
        results = [r for q in questions for r in run_checks(MODULE, art, question=q)]
    return {r.name for r in results if r.status != "passed"}, {r.name: r.message for r in results}


def write(name, value):
    return lambda folder: np.save(folder / f"{name}.npy", np.asarray(value), allow_pickle=False)


def both(*changes):
    def change(folder):
        for c in changes:
            c(folder)
    return change


def _convolve(image, kernel, flip=False, mode="valid"):
    from scipy.signal import correlate2d

    kernel = np.asarray(kernel)[::-1, ::-1] if flip else kernel
    return correlate2d(image, kernel, mode=mode)


def filter_outputs(hidden, **kw):
    from autograder.practicals.p04_convnet.in_kernel import public_filter_inputs

    image, kernel = public_filter_inputs()
    return both(write("convolve_public", _convolve(image, kernel, **kw)),
                write("convolve_hidden", _convolve(hidden["image"], hidden["kernel"], **kw)))


def _preprocess_wrong(raw, scale=False, channel=True):
    x = raw.astype(np.float32) / (255.0 if scale else 1.0)
    return x[..., None] if channel else x


def preprocess_outputs(hidden, **kw):
    from autograder.practicals.p04_convnet.in_kernel import public_raw_images

    return both(write("preprocess_public", _preprocess_wrong(public_raw_images(), **kw)),
                write("preprocess_hidden", _preprocess_wrong(hidden["raw"], **kw)))


# -- the answer key and the blank release -------------------------------------------------------

def test_answer_key_scores_full_marks(key_run):
    result, _ = key_run
    assert result.status == "graded", result.reason
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == MAX_SCORE
    assert {c.question for c in result.checks} == QUESTIONS
    assert any(c.hidden for c in result.checks)
    assert set(result.measurements) == {"val_accuracy", "test_accuracy"}


def test_blank_release_scores_zero_and_is_graded(graded_blank):
    result = graded_blank(NAME)
    assert result.status == "graded", result.reason
    assert result.score == 0 and result.max_score == MAX_SCORE
    assert all(c.message for c in result.checks), "every lost point says why"


# -- wrong models (built here, not trained): structure checks ---------------------------------

STRUCTURE = [
    ("same-padding", dict(padding="same"), {"conv_padding_valid", "output_shapes", "parameter_count"}),
    ("missing-pooling", dict(pool=False), {"max_pooling", "output_shapes", "parameter_count"}),
    ("wrong-filter-count", dict(filters=(32, 64)), {"conv_filters", "output_shapes", "parameter_count"}),
    ("three-blocks", dict(filters=(16, 32, 32)), {"conv_filters", "max_pooling", "relu_activations",
                                                  "output_shapes", "parameter_count"}),
    ("wrong-kernel-size", dict(kernel=5), {"conv_kernel_size", "output_shapes", "parameter_count"}),
    ("missing-relu", dict(relu=None), {"relu_activations"}),
    ("wrong-dense-units", dict(dense=128), {"dense_head", "parameter_count"}),
    # other correct styles: full marks on structure
    ("relu-inside-conv", dict(relu="in_conv"), set()),
    ("functional", dict(functional=True), set()),
    ("blocks-as-nested-sequentials", dict(nested=True, functional=True), set()),
    # the text asks for logits: a final softmax is lost once, here (04.train's checks do not see it)
    ("functional-softmax", dict(functional=True, out_act="softmax"), {"output_logits"}),
    ("relu-on-logits", dict(out_act="relu"), {"output_logits"}),
]


@pytest.mark.parametrize("kw, expected", [s[1:] for s in STRUCTURE], ids=[s[0] for s in STRUCTURE])
def test_wrong_model_structure(key_run, tmp_path, hidden, kw, expected):
    lost, messages = recheck(key_run[1], tmp_path, hidden, lambda f: with_model(f, hidden, build(**kw)),
                             questions=["04.model", "04.learned"])
    assert lost == expected, {n: messages[n] for n in lost}


def test_untrained_model_fails_accuracy_only(key_run, tmp_path, hidden):
    """The key's architecture, trained 0 epochs: only the accuracy checks lose points."""
    lost, messages = recheck(key_run[1], tmp_path, hidden, lambda f: with_model(f, hidden, build()))
    assert lost == {"validation_accuracy", "test_accuracy", "training_steps", "compile_settings"}, \
        {n: messages[n] for n in lost}
    assert "expected at least" in messages["test_accuracy"]
    assert "no optimizer state" in messages["training_steps"]


# -- how it was trained: the key's saved model, edited (no retraining) ----------------------------

def compiled(key, value, sub=None):
    """Set compile_config[key] (or its config's ``sub``) to ``value``."""
    def edit(cfg):
        if sub is None:
            cfg["compile_config"][key] = value
        else:
            cfg["compile_config"][key]["config"][sub] = value
    return edit


def last_dense_activation(activation):
    def edit(cfg):
        dense = [layer for layer in cfg["config"]["layers"] if layer["class_name"] == "Dense"]
        dense[-1]["config"]["activation"] = activation
    return edit


def nan_weights(f):
    hits = []
    f["layers"].visititems(lambda name, obj: hits.append(obj) if getattr(obj, "shape", None) == (800, 100) else None)
    hits[0][...] = np.nan


def on_model(**kw):
    return lambda folder: edit_keras(folder / "model.keras", **kw)


# (id, edit of the key's saved model, the checks that must lose their points, a phrase of the message)
TRAINING = [
    ("one-epoch", on_model(iterations=430), {"training_steps"}, "1 epoch"),
    ("train-plus-validation", on_model(iterations=938), {"training_steps"}, "x_train and x_val together"),
    ("default-batch-size", on_model(iterations=3438), {"training_steps"}, "batches of 32 (Keras' default)"),
    ("fit-called-twice", on_model(iterations=1720), {"training_steps"}, "4 epochs"),
    ("learning-rate-10x", on_model(config=compiled("optimizer", 0.03, "learning_rate")), {"compile_settings"},
     "learning rate is 0.03, expected LEARNING_RATE = 0.003"),
    ("default-learning-rate", on_model(config=compiled("optimizer", 0.001, "learning_rate")), {"compile_settings"},
     "Keras' default"),
    ("sgd", on_model(config=compiled("optimizer", {"class_name": "SGD", "config": {"learning_rate": 0.003}})),
     {"compile_settings"}, "'SGD'"),
    ("loss-from-probabilities", on_model(config=compiled("loss", False, "from_logits")), {"compile_settings"},
     "from_logits=False"),
    ("loss-as-a-string", on_model(config=compiled("loss", "sparse_categorical_crossentropy")), {"compile_settings"},
     "from_logits=False"),
    # a final softmax with from_logits=True trains as the key does: same accuracy; only the structure shows it
    ("softmax-with-from-logits", on_model(config=last_dense_activation("softmax")), {"output_logits"},
     "ends with a softmax"),
    ("diverged", on_model(weights=nan_weights), {"validation_accuracy", "test_accuracy"}, "training diverged"),
]


@pytest.mark.parametrize("edit, expected, phrase", [t[1:] for t in TRAINING], ids=[t[0] for t in TRAINING])
def test_how_it_was_trained(key_run, tmp_path, hidden, edit, expected, phrase):
    lost, messages = recheck(key_run[1], tmp_path, hidden, edit, questions=["04.model", "04.train"])
    assert lost == expected, {n: messages[n] for n in lost}
    assert any(phrase in messages[n] for n in expected), {n: messages[n] for n in lost}


def test_training_steps_message_in_full(key_run, tmp_path, hidden):
    _, messages = recheck(key_run[1], tmp_path, hidden, on_model(iterations=938), questions=["04.train"])
    assert messages["training_steps"] == (
        "the optimizer of `model` made 938 update steps, expected 860 = EPOCHS (2) x 430 batches of BATCH_SIZE (128) "
        "on the 55,000 images of x_train: that is training on x_train and x_val together (the validation images "
        "must stay unseen)")


def test_unscaled_preprocess_is_lost_at_inputs_only(key_run, tmp_path, hidden):
    """A model trained on unscaled pixels (the locked cells feed it preprocess's output) is measured on test images
    prepared the same way: the mistake costs 04.inputs' points, not 04.train's too."""
    import keras

    trained = keras.saving.load_model(key_run[1] / "model.keras", compile=False)
    # the key's trained network behind a x/255: it expects 0..255 inputs, as one trained on them would
    raw_model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255.0)] + trained.layers)

    raw_model.compile(optimizer=keras.optimizers.Adam(3e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    raw_model.optimizer.build(raw_model.trainable_variables)
    raw_model.optimizer.iterations.assign(860)

    def change(folder):
        raw_model.save(folder / "model.keras")
        preprocess_outputs(hidden, scale=False)(folder)

    lost, messages = recheck(key_run[1], tmp_path, hidden, change, questions=["04.inputs", "04.train"])
    assert lost == {"preprocess", "preprocess_other_images"}, {n: messages[n] for n in lost}


# -- wrong answers written as files ---------------------------------------------------------------

# (id, the change as a function of the hidden inputs, the checks that must lose their points)
ANSWERS = [
    ("dense-params-no-bias", lambda h: write("params_dense_fashion", 28 * 28 * 100), {"dense_params_fashion"}),
    ("dense-params-photo-rgb", lambda h: write("params_dense_photo", 2000 * 1000 * 3 * 100 + 100),
     {"dense_params_photo"}),
    ("pixels-not-scaled", lambda h: preprocess_outputs(h, scale=False), {"preprocess", "preprocess_other_images"}),
    ("no-channel-axis", lambda h: preprocess_outputs(h, scale=True, channel=False),
     {"preprocess", "preprocess_other_images"}),
    ("filter-flipped", lambda h: filter_outputs(h, flip=True), {"convolve_values", "convolve_other_inputs"}),
    ("filter-same-size", lambda h: filter_outputs(h, mode="same"),
     {"convolve_output_size", "convolve_values", "convolve_other_inputs"}),
    ("seed-params-no-bias", lambda h: write("seed_conv_params", [144, 18432, 147456]), {"seed_conv_params"}),
    ("conv-params-formula-no-bias",
     lambda h: both(write("conv_params_public", 9 * 3 * 8),
                    write("conv_params_hidden", [9 * 32, 9 * 32 * 64, 9 * 64 * 7]),
                    write("seed_conv_params", [144, 18432, 147456])),
     {"conv_params_formula", "conv_params_other_sizes", "seed_conv_params"}),
    # hidden inputs, each against the shortcut it defeats (the same mistakes are mutants in autograder/mutants)
    ("scale-by-batch-maximum",  # public images reach 255, the hidden ones stop at 119
     lambda h: both(*[write(name, (raw.astype(np.float32) / raw.max())[..., None])
                      for name, raw in (("preprocess_public", public_raw_images()), ("preprocess_hidden", h["raw"]))]),
     {"preprocess_other_images"}),
    ("preprocess-float64", lambda h: both(write("preprocess_public", _preprocess_wrong(public_raw_images(), True)
                                                 .astype(np.float64)),
                                          write("preprocess_hidden", _preprocess_wrong(h["raw"], True).astype(np.float64))),
     {"preprocess", "preprocess_other_images"}),
    ("conv-params-hard-coded-for-public-pair",
     lambda h: both(write("conv_params_hidden", [9 * k * l + k for k, l in h["conv_pairs"]])),
     {"conv_params_other_sizes"}),
    ("convolve-output-transposed",  # (W-2, H-2): the hidden image is taller than wide, the public one wider
     lambda h: write("convolve_hidden", _convolve(h["image"], h["kernel"]).T), {"convolve_other_inputs"}),
    ("filters-as-keras-stores-them",
     lambda h: lambda f: write("first_filters", np.load(f / "first_filters.npy").transpose(1, 2, 0)[:, :, None, :])(f),
     {"first_layer_filters"}),
]


@pytest.mark.parametrize("make, expected", [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS])
def test_wrong_answer_loses_points_at_the_intended_check(key_run, tmp_path, hidden, make, expected):
    lost, messages = recheck(key_run[1], tmp_path, hidden, make(hidden),
                             questions=["04.dense", "04.inputs", "04.filter", "04.params", "04.learned"])
    assert lost == expected, {n: messages[n] for n in lost}


def test_feature_maps_after_pooling_lose_points(key_run, tmp_path, hidden):
    import keras

    model = keras.saving.load_model(key_run[1] / "model.keras", compile=False)  # the key's own trained model

    def pooled(model, image):
        return ref_maps(model, image).reshape(13, 2, 13, 2, -1).max(axis=(1, 3))

    def change(folder):
        from autograder.practicals.p04_convnet import in_kernel as p04_convnet
        ns = {"model": model, "feature_maps": pooled, "first_layer_filters": ref_filters}
        p04_convnet.export(Exporter(ns, folder, hidden))

    lost, messages = recheck(key_run[1], tmp_path, hidden, change, questions=["04.learned"])
    assert lost == {"feature_maps", "feature_maps_other_image"}, messages


def test_messages_say_expected_and_got(key_run, tmp_path, hidden):
    _, messages = recheck(key_run[1], tmp_path, hidden, filter_outputs(hidden, flip=True), questions=["04.filter"])
    assert "flipped" in messages["convolve_values"]
    _, messages = recheck(key_run[1], tmp_path / "b", hidden, write("seed_conv_params", [144, 18432, 147456]),
                          questions=["04.params"])
    assert messages["seed_conv_params"] == "workshop_conv_params is [144, 18432, 147456]: the biases are missing " \
                                           "(one per output map)"


# -- one real wrong notebook (cheap: it trains on 512 images) -------------------------------------

def test_real_wrong_notebook(tmp_path):
    edits = [
        ("(images.astype(np.float32) / 255.0)[..., np.newaxis]", "images.astype(np.float32)[..., np.newaxis]"),
        ("out += kernel[a, b] * image[a:a + h, b:b + w]", "out += kernel[2 - a, 2 - b] * image[a:a + h, b:b + w]"),
        ("model.fit(x_train, y_train,", "model.fit(x_train[:512], y_train[:512],"),
    ]
    result = grade_notebook(mutate(KEY, tmp_path, edits))
    assert result.status == "graded", result.reason
    lost = not_passed(result)
    assert lost == {"preprocess", "preprocess_other_images", "convolve_values", "convolve_other_inputs",
                    "validation_accuracy", "test_accuracy", "training_steps"}, {c.name: c.message for c in result.checks
                                                              if c.status != "passed"}
    assert 0 < result.score < result.max_score
