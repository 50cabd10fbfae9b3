"""Practical 04 graded end to end: answer key, blank release, wrong submissions.

The answer key is executed once (it trains a convnet); most wrong submissions are made by changing its exported
files (another model built here, untrained; wrong answers written as arrays) and re-running the checks, so no
variant retrains. One cheap real notebook variant checks the whole path for a wrong submission.
"""

import shutil

import numpy as np
import pytest

from autograder import assignments
from autograder.checks.api import Artifacts
from autograder.checks.runner import run_checks
from autograder.export.common import Exporter
from autograder.grade import grade_notebook, hidden_inputs
from autograder.paths import REPO
from conftest import mutate, not_passed

NAME = "04-convnet"
A = assignments.get(NAME)
KEY = A.solution_notebook(REPO)
MODULE = A.checks_module
QUESTIONS = {"04.dense", "04.inputs", "04.filter", "04.params", "04.model", "04.train", "04.learned"}
MAX_SCORE = 31


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

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][0]


def ref_filters(model):
    kernel = _first_conv(model).get_weights()[0]
    return np.transpose(kernel[:, :, 0, :], (2, 0, 1))


def ref_maps(model, image):
    return _first_conv(model)(image[np.newaxis]).numpy()[0]


def build(filters=(16, 32), kernel=3, padding="valid", pool=True, relu="after_pool", dense=100, out_act=None,
          functional=False):
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((28, 28, 1))
    x = inp
    for f in filters:
        x = L.Conv2D(f, kernel, padding=padding, activation="relu" if relu == "in_conv" else None)(x)
        if pool:
            x = L.MaxPooling2D(2)(x)
        if relu == "after_pool":
            x = L.ReLU()(x)
    x = L.Flatten()(x)
    x = L.Dense(dense, activation="relu" if relu else None)(x)
    x = L.Dense(10, activation=out_act)(x)
    if functional:
        return keras.Model(inp, x)
    return keras.Sequential([inp] + [layer for layer in keras.Model(inp, x).layers[1:]])


def with_model(folder, hidden, model):
    """Export ``model`` and what depends on it (filters, feature maps) over a copy of the key's files."""
    from autograder.export import p04_convnet

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
    from autograder.export.p04_convnet import public_filter_inputs

    image, kernel = public_filter_inputs()
    return both(write("convolve_public", _convolve(image, kernel, **kw)),
                write("convolve_hidden", _convolve(hidden["image"], hidden["kernel"], **kw)))


def _preprocess_wrong(raw, scale=False, channel=True):
    x = raw.astype(np.float32) / (255.0 if scale else 1.0)
    return x[..., None] if channel else x


def preprocess_outputs(hidden, **kw):
    from autograder.export.p04_convnet import public_raw_images

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
    ("functional-softmax", dict(functional=True, out_act="softmax"), set()),
]


@pytest.mark.parametrize("kw, expected", [s[1:] for s in STRUCTURE], ids=[s[0] for s in STRUCTURE])
def test_wrong_model_structure(key_run, tmp_path, hidden, kw, expected):
    lost, messages = recheck(key_run[1], tmp_path, hidden, lambda f: with_model(f, hidden, build(**kw)),
                             questions=["04.model", "04.learned"])
    assert lost == expected, {n: messages[n] for n in lost}


def test_untrained_model_fails_accuracy_only(key_run, tmp_path, hidden):
    """The key's architecture, trained 0 epochs: only the accuracy checks lose points."""
    lost, messages = recheck(key_run[1], tmp_path, hidden, lambda f: with_model(f, hidden, build()))
    assert lost == {"validation_accuracy", "test_accuracy"}, {n: messages[n] for n in lost}
    assert "expected at least" in messages["test_accuracy"]


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
        from autograder.export import p04_convnet
        ns = {"model": model, "feature_maps": pooled, "first_layer_filters": ref_filters}
        p04_convnet.export(Exporter(ns, folder, hidden))

    lost, messages = recheck(key_run[1], tmp_path, hidden, change, questions=["04.learned"])
    assert lost == {"feature_maps", "feature_maps_other_image"}, messages


def test_messages_say_expected_and_got(key_run, tmp_path, hidden):
    _, messages = recheck(key_run[1], tmp_path, hidden, filter_outputs(hidden, flip=True), questions=["04.filter"])
    assert "flipped" in messages["convolve_values"]
    _, messages = recheck(key_run[1], tmp_path / "b", hidden, write("seed_conv_params", [144, 18432, 147456]),
                          questions=["04.params"])
    assert messages["seed_conv_params"] == "seed_conv_params is [144, 18432, 147456]: the biases are missing " \
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
                    "validation_accuracy", "test_accuracy"}, {c.name: c.message for c in result.checks
                                                              if c.status != "passed"}
    assert 0 < result.score < result.max_score
