"""Practical 05 graded end to end, wrong submissions on exported files, the shipped network, the ImageNet path
(the kitten's check included, on fabricated predictions), the layers of InceptionV3.

The answer key runs once (session fixture, artifacts kept); most wrong submissions are edits of those exported
files re-checked with ``run_checks`` (no retraining); one real notebook variant trains on the wrong classes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from autograder import practicals
from autograder.check_api import Artifacts
from autograder.engine.check_runner import run_checks
from autograder.grade import grade_notebook, hidden_inputs
from autograder.datasets import IMAGENET, IMAGENET_FILES, how_to_get_imagenet, imagenet_missing
from autograder.models import FEATURE_DIM, FEATURE_LAYER, PRETRAIN_CLASSES, fashion_base_path
from autograder.paths import REPO
from autograder.practicals.p05_pretrained import checks as p05
from helpers import edit_keras, mutate, not_passed, notebook_constants

NAME = "05-pretrained"
A = practicals.get(NAME)
KEY = A.solution_notebook(REPO)
IMAGENET_CHECKS = {"imagenet_top5_photos", "imagenet_features", "imagenet_kitten"}
TOTAL = 37
SHARED_REFERENCES = ("transfer_test", "train_lookup", "shipped_weights", "ref_extractor")
BASE_LAYERS = ["rescale", "conv1", "pool1", "conv2", "pool2", "flatten", "fc", "dropout", "predictions"]


def lost(results) -> set[str]:
    """Checks that lost points (a skipped check loses nothing)."""
    return {c.name for c in results if c.status not in ("passed", "skipped")}


def skipped_expected() -> set[str]:
    return set() if not imagenet_missing() else IMAGENET_CHECKS


# -- the answer key and the blank release ----------------------------------------------------------

def test_answer_key_scores_full_marks(graded_key):
    result = graded_key(NAME)
    assert result.status == "graded", result.reason
    assert not result.notes, result.notes  # no cell of the key raised
    failed = {c.name: c.message for c in result.checks if c.status not in ("passed", "skipped")}
    assert not failed, failed
    skipped = {c.name for c in result.checks if c.status == "skipped"}
    assert skipped == skipped_expected()
    assert all("ImageNet weights" in c.message for c in result.checks if c.status == "skipped")
    assert sum(c.max_points for c in result.checks) == TOTAL
    assert result.score == result.max_score == TOTAL - sum(c.max_points for c in result.checks if c.name in skipped)
    assert {c.question for c in result.checks} == {"05.preprocess", "05.inception", "05.top5", "05.imagenet",
                                                   "05.layers", "05.cut", "05.features", "05.pixels", "05.transfer",
                                                   "05.finetune"}
    assert set(result.measurements) == {"pixel_accuracy", "transfer_accuracy", "finetune_accuracy"}
    assert result.measurements["transfer_accuracy"] > result.measurements["pixel_accuracy"]


def test_blank_release_scores_zero_and_is_graded(graded_blank):
    result = graded_blank(NAME)
    assert result.status == "graded", result.reason
    assert result.score == 0
    assert {c.name for c in result.checks if c.status == "skipped"} == skipped_expected()
    assert all(c.message for c in result.checks), "every lost point says why"


def test_a_notebook_stopped_before_its_check_cells_is_graded_out_of_the_same_total(keras_home_at, tmp_path):
    # a notebook stopped (time limit, crash) before any check cell ran: its ImageNet checks are skipped where the
    # grader has no weights, as for one that ran to the end (they counted as errors, out of 4 more points)
    keras_home_at(tmp_path)   # an empty Keras cache: the grader has no ImageNet weights
    assert imagenet_missing()
    results = run_checks(A.checks_module, {}, missing="not graded: the notebook stopped before this question")
    skipped = {c.name for c in results if c.status == "skipped"}
    assert skipped == IMAGENET_CHECKS
    assert all("ImageNet weights" in c.message for c in results if c.status == "skipped")
    assert {c.status for c in results if c.name not in IMAGENET_CHECKS} == {"error"}
    assert sum(c.max_points for c in results if c.status != "skipped") == \
        TOTAL - sum(c.max_points for c in results if c.name in IMAGENET_CHECKS)


def test_grade_cell_points_match_the_checks():
    import nbformat

    from autograder.engine.check_runner import list_checks

    points = {}
    for c in list_checks(A.checks_module):
        points[c.question] = points.get(c.question, 0) + c.max_points
    nb = nbformat.read(REPO / "source" / NAME / A.notebook, as_version=4)
    cells = {c.source.strip(): c.metadata["nbgrader"]["points"] for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    assert cells == {f'check("{q}")': p for q, p in points.items()}


# -- wrong submissions as edits of the key's exported files ---------------------------------------

def _load(path):
    import keras

    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _arr(folder, name, fn):
    np.save(folder / f"{name}.npy", fn(np.load(folder / f"{name}.npy")))


def _resize_224(folder):
    import tensorflow as tf

    def ref(images):
        return tf.image.resize(tf.cast(images, tf.float32), (224, 224)).numpy() / 127.5 - 1

    np.save(folder / "x_photos.npy", np.concatenate([ref(photo[None]) for photo in p05.photos()]))
    np.save(folder / "preprocess_hidden.npy", ref(hidden_inputs(A)["images"]))


def _inception_cut_mixed10(folder):
    path = folder / "inception_extractor.json"
    s = json.loads(path.read_text())
    s.update(output_shape=[None, 8, 8, 2048], last_layer="mixed10", last_layer_class="Concatenate")
    path.write_text(json.dumps(s))
    _arr(folder, "photo_features", lambda f: np.repeat(np.repeat(f[:, None, None, :], 8, 1), 8, 2))


def _top5_ascending(folder):
    for name in ("top_idx", "top_p", "top5_public_idx", "top5_public_p", "top5_hidden_idx", "top5_hidden_p"):
        _arr(folder, name, lambda a: a[:, ::-1])


def _cut_at(layer, fresh=False):
    def edit(folder):
        import keras

        from autograder.models.build_base import build

        base = build() if fresh else _load(fashion_base_path())
        extractor = keras.Model(base.inputs, base.get_layer(layer).output, name="extractor")
        extractor.trainable = False
        extractor.save(folder / "extractor.keras")
        x = np.load(folder / "x_train.npy")
        np.save(folder / "train_features.npy", extractor.predict(x, verbose=0))
    return edit


def _set_trainable(name, which="all", perturb=None):
    """Reload an exported model, make layers trainable (all, or those named), optionally move some weights."""
    def edit(folder):
        import keras

        # compiled: the optimizer state and compile settings saved with it stay as they were
        model = keras.saving.load_model(folder / f"{name}.keras", compile=True, safe_mode=True)

        def walk(m):
            for layer in m.layers:
                if which == "all" or layer.name in which:
                    layer.trainable = True
                if hasattr(layer, "layers"):
                    walk(layer)
        model.trainable = True
        walk(model)
        if perturb is not None:
            for w in model.weights:
                if tuple(w.shape) == perturb:
                    w.assign(np.asarray(w) + 1e-3)
        model.save(folder / f"{name}.keras")
    return edit


def _copy_model(src, dst):
    def edit(folder):
        shutil.copy(folder / f"{src}.keras", folder / f"{dst}.keras")
    return edit


def _untrained_pixel_model(folder):
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Rescaling(1 / 255), layers.Flatten(),
                              layers.Dense(5, activation="softmax")])
    model.save(folder / "pixel_model.keras")


def _zero_head(folder):
    model = _load(folder / "transfer_model.keras")
    for w in model.weights:
        if tuple(w.shape) in ((FEATURE_DIM, 5), (5,)):
            w.assign(np.zeros(w.shape, "float32"))
    model.save(folder / "transfer_model.keras")


def _garbage(name):
    def edit(folder):
        (folder / f"{name}.keras").write_bytes(b"PK\x03\x04 not really a zip")
    return edit


def _raised(name, message):
    def edit(folder):
        (folder / f"{name}.keras").unlink()
        errors = json.loads((folder / "_errors.json").read_text())
        errors[name] = message
        (folder / "_errors.json").write_text(json.dumps(errors))
    return edit


def _finetune_lr(lr):
    def edit(folder):
        edit_keras(folder / "finetuned_model.keras",
                   config=lambda c: c["compile_config"]["optimizer"]["config"].update(learning_rate=lr))
    return edit


def _finetune_steps(n):
    return lambda folder: edit_keras(folder / "finetuned_model.keras", iterations=n)


def _locked_cell_crashed(folder):
    """What a wrong x_photos does downstream: photo_features' and the top-5 cell's names never defined."""
    errors = json.loads((folder / "_errors.json").read_text())
    for name in ("photo_features", "top_idx", "top_p"):
        (folder / f"{name}.npy").unlink()
        errors[name] = f"NameError: `{name}` is not defined (did its cell run?)"
    (folder / "_errors.json").write_text(json.dumps(errors))


def _scale_by_range(folder):
    """preprocess with (x - min) / (max - min) * 2 - 1: off on the kitten (0..231), further on 40..199 images."""
    import tensorflow as tf

    def wrong(images):
        x = tf.image.resize(tf.cast(images, tf.float32), (299, 299)).numpy()
        return (x - x.min()) / (x.max() - x.min()) * 2 - 1

    np.save(folder / "x_photos.npy", np.concatenate([wrong(photo[None]) for photo in p05.photos()]))
    np.save(folder / "preprocess_hidden.npy", wrong(hidden_inputs(A)["images"]))


def _json(name, change):
    """Rewrite the exported JSON ``name`` with ``change(value)`` (which edits it in place)."""
    def edit(folder):
        path = folder / f"{name}.json"
        value = json.loads(path.read_text())
        change(value)
        path.write_text(json.dumps(value))
    return edit


def _hard_coded_count_layers(folder):
    """count_layers returning InceptionV3's numbers whatever the model: what it gives on the hidden network."""
    numbers = {"BatchNormalization": 94, "Concatenate": 15}
    (folder / "count_layers_hidden.json").write_text(json.dumps({k: numbers.get(k, 0) for k in p05.LAYER_KINDS}))


def _both(*edits):
    def edit(folder):
        for e in edits:
            e(folder)
    return edit


PREPROCESS_VALUE_CHECKS = {"preprocess_values", "preprocess_other_images"}

# (id, edit of the exported files, the checks that must lose their points; every other check must pass)
WRONG = [
    ("preprocess-to-0-1", lambda f: [_arr(f, n, lambda x: (x + 1) / 2) for n in ("x_photos", "preprocess_hidden")],
     {"preprocess_range"} | PREPROCESS_VALUE_CHECKS),
    ("preprocess-not-scaled", lambda f: [_arr(f, n, lambda x: (x + 1) * 127.5) for n in ("x_photos", "preprocess_hidden")],
     {"preprocess_range"} | PREPROCESS_VALUE_CHECKS),
    ("resize-to-224", _resize_224, {"preprocess_shape"} | PREPROCESS_VALUE_CHECKS),
    # ... and the locked cells that use x_photos crashed: top5 (judged on the grader's probabilities) and the
    # extractor keep their points
    ("resize-to-224-downstream-crashed", _both(_resize_224, _locked_cell_crashed),
     {"preprocess_shape"} | PREPROCESS_VALUE_CHECKS),
    ("scale-by-batch-range", _scale_by_range, PREPROCESS_VALUE_CHECKS),  # the kitten's pixels reach 231 only
    ("inception-cut-at-mixed10", _inception_cut_mixed10, {"inception_cut", "photo_features_shape"}),
    ("top5-least-probable-first", _top5_ascending, {"top5_sorted", "top5_other_inputs"}),
    # 05.layers
    ("batchnorm-count-off-by-one", _json("layer_counts", lambda c: c.update(n_batchnorm=93)),
     {"layers_batchnorm_count"}),
    ("residual-counted-as-concatenate", _json("layer_counts", lambda c: c.update(n_add=15)), {"layers_other_counts"}),
    ("dropout-counted-in-the-paper", _json("layer_counts", lambda c: c.update(n_dropout=1)), {"layers_other_counts"}),
    ("batchnorm-name-is-a-convolution", _json("layer_names", lambda n: n.update(batchnorm=["conv2d_94", "Conv2D"])),
     {"layers_named"}),
    ("merge-name-not-in-the-network", _json("layer_names", lambda n: n.update(merge=["mixed11", None])),
     {"layers_named"}),
    ("count-layers-hard-coded", _hard_coded_count_layers, {"count_layers_other_network"}),
    # (a cut at `fc`: test_cut_at_fc_is_lost_at_the_cut_only, with a transfer model built on it)
    # train_features of the student's own (wrong) extractor are right: the mistake is lost at 05.cut only
    ("extractor-not-pretrained", _cut_at(FEATURE_LAYER, fresh=True), {"cut_values"}),
    ("features-not-flattened", lambda f: _arr(f, "train_features", lambda a: a.reshape(len(a), 5, 5, 64)),
     {"features_shape", "features_values"}),
    ("pixel-baseline-untrained", _untrained_pixel_model, {"pixel_accuracy"}),
    # freezing is asked at 05.cut: a trainable (but unchanged) base is lost there, not again at 05.transfer
    ("extractor-not-frozen", _both(_set_trainable("extractor"), _set_trainable("transfer_model")), {"cut_frozen"}),
    ("transfer-base-retrained", _set_trainable("transfer_model", perturb=(3, 3, 32, 64)),
     {"transfer_parameter_counts"}),
    ("pixel-model-raised", _raised("pixel_model", "NotImplementedError (this exercise is not done yet)"),
     {"pixel_model_io", "pixel_accuracy"}),  # transfer_beats_pixels compares with the key's pixel accuracy instead
    ("finetune-default-learning-rate", _finetune_lr(0.001), {"finetune_schedule"}),
    ("finetune-twenty-epochs", _finetune_steps(160), {"finetune_schedule"}),
    ("transfer-head-untrained", _zero_head, {"transfer_accuracy", "transfer_beats_pixels"}),
    ("finetune-everything-frozen", _copy_model("transfer_model", "finetuned_model"),
     {"finetune_frozen_layers", "finetune_trained", "finetune_schedule"}),  # the copy was never fine-tuned
    ("finetune-nothing-frozen", _set_trainable("finetuned_model", perturb=(3, 3, 1, 32)), {"finetune_frozen_layers"}),
    # hostile or broken submissions: only the affected checks score 0
    ("extractor-not-a-keras-file", _garbage("extractor"), {"cut_shapes", "cut_values", "cut_frozen"}),
    ("finetune-raised", _raised("finetuned_model", "NotImplementedError (this exercise is not done yet)"),
     {"finetune_frozen_layers", "finetune_trained", "finetune_accuracy", "finetune_schedule"}),
]


@pytest.fixture(scope="module")
def recheck(key_artifacts, tmp_path_factory):
    """Copy the key's exported files, apply an edit, run every check (grader references shared across runs)."""
    hidden = hidden_inputs(A)
    shared = {}

    def run(edit):
        folder = tmp_path_factory.mktemp("p05-variant")
        shutil.copytree(key_artifacts(NAME), folder, dirs_exist_ok=True)
        edit(folder)
        art = Artifacts(folder, hidden)
        art._cache.update(shared)
        results = run_checks(A.checks_module, art)
        shared.update({k: v for k, v in art._cache.items() if k in SHARED_REFERENCES})
        return results, art

    return run


def test_key_artifacts_recheck_full_marks(recheck):
    results, art = recheck(lambda folder: None)
    assert lost(results) == set(), {c.name: c.message for c in results if c.status not in ("passed", "skipped")}
    assert set(art.measurements) == {"pixel_accuracy", "transfer_accuracy", "finetune_accuracy"}


@pytest.mark.parametrize("edit, expected", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_wrong_submission_loses_points_at_the_intended_check(recheck, edit, expected):
    results, _ = recheck(edit)
    assert lost(results) == expected, {c.name: c.message for c in results if c.status not in ("passed", "skipped")}


def test_messages_say_expected_and_got(recheck):
    results, _ = recheck(dict((w[0], w[1]) for w in WRONG)["preprocess-to-0-1"])
    messages = {c.name: c.message for c in results}
    assert "expected InceptionV3's scaling to [-1, 1]" in messages["preprocess_range"]
    assert "from 0 to 1" in messages["preprocess_range"]
    results, _ = recheck(_cut_at("fc"))
    messages = {c.name: c.message for c in results}
    assert messages["cut_shapes"].startswith("extractor's output shape is (None, 128) (last layer 'fc'), "
                                             "expected (None, 1600)")
    results, _ = recheck(_set_trainable("extractor"))
    assert {c.name: c.message for c in results}["cut_frozen"] == (
        "extractor has 18,816 trainable parameters (and 0 frozen), expected 0: freeze it with extractor.trainable = "
        "False, so that training a model built on it cannot change the pretrained weights")
    results, _ = recheck(_finetune_lr(0.001))
    assert {c.name: c.message for c in results}["finetune_schedule"].startswith(
        "finetuned_model was trained with learning rate 0.001, expected 0.0001")
    results, _ = recheck(_finetune_steps(160))
    assert "made 160 update steps, expected 80 = 10 epochs x 8 batches of 32" in \
        {c.name: c.message for c in results}["finetune_schedule"]
    results, _ = recheck(_json("layer_counts", lambda c: c.update(n_add=15)))
    assert {c.name: c.message for c in results}["layers_other_counts"].startswith(
        "got {'n_add': 15}, expected n_add = 0: count instances of layers.Dropout, layers.Add")
    results, _ = recheck(_json("layer_names", lambda n: n.update(batchnorm=["conv2d_94", "Conv2D"])))
    assert {c.name: c.message for c in results}["layers_named"] == (
        "batchnorm_name = 'conv2d_94' is a Conv2D layer of inception, expected a BatchNormalization layer")


def test_cut_at_fc_is_lost_at_the_cut_only(recheck):
    """A transfer model built on an extractor cut at `fc` (as the student's would be): its structure is judged on
    the student's own features; only the accuracy (worse features, a real consequence) may drop."""
    def edit(folder):
        import keras

        _cut_at("fc")(folder)
        extractor = _load(folder / "extractor.keras")
        head = keras.Sequential([keras.Input((128,)), keras.layers.Dense(5, activation="softmax")])
        keras.Sequential([keras.Input((28, 28, 1)), extractor, head]).save(folder / "transfer_model.keras")

    results, _ = recheck(edit)
    assert lost(results) - {"transfer_accuracy", "transfer_beats_pixels"} == {"cut_shapes", "cut_values"}, (
        {c.name: c.message for c in results if c.status not in ("passed", "skipped")})


# -- 05.layers: the architecture the checks count, the hidden network, the text's claims --------------

def test_layer_counts_are_inception_v3s():
    """What the text says of Keras' InceptionV3: a batch normalisation per convolution, no dropout, no Add."""
    classes = p05.inception_layer_classes()
    assert p05.expected_counts() == {"n_batchnorm": 94, "n_dropout": 0, "n_add": 0, "n_concatenate": 15}
    assert classes.count("Conv2D") == classes.count("BatchNormalization")


def test_hidden_network_defeats_inception_v3s_numbers():
    """Every layer kind is in the hidden network, with other counts than InceptionV3's, and the exporter's network
    holds what the check expects."""
    from autograder.practicals.p05_pretrained.in_kernel import hidden_network

    codes = hidden_inputs(A)["layer_codes"]
    kinds = [p05.LAYER_KINDS[c] for c in codes]
    assert set(kinds) == set(p05.LAYER_KINDS)
    assert kinds.count("BatchNormalization") != 94 and kinds.count("Concatenate") != 15
    counts = {}
    for layer in hidden_network(codes).layers:
        counts[type(layer).__name__] = counts.get(type(layer).__name__, 0) + 1
    assert counts["Dense"] == kinds.count("Dense") + kinds.count("Add") + kinds.count("Concatenate")
    assert all(counts[k] == kinds.count(k) for k in p05.LAYER_KINDS if k != "Dense")


def test_fine_tuning_text_matches_keras():
    """The notebook's warnings hold in this Keras: `base.input` raises on the shipped Sequential (`base.inputs`
    works), and in a clone of a frozen Sequential extractor the whole-model flag leaves 8,005 trainable parameters
    where setting each layer's flag gives the 26,501 the text states."""
    import keras

    base = keras_load_base()
    with pytest.raises(AttributeError, match="never been called"):
        base.input
    assert tuple(base.inputs[0].shape) == (None, 28, 28, 1)

    def trainable(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    extractor = keras.Sequential([keras.Input((28, 28, 1)), *base.layers[:6]], name="extractor")
    extractor.trainable = False
    head = keras.Sequential([keras.Input((FEATURE_DIM,)), keras.layers.Dense(5, activation="softmax")])
    copy = keras.models.clone_model(keras.Sequential([keras.Input((28, 28, 1)), extractor, head]))
    inner = copy.get_layer("extractor")
    inner.trainable = True
    inner.get_layer("conv1").trainable = False
    assert trainable(copy) == 8_005
    for layer in inner.layers:
        layer.trainable = layer.name != "conv1"
    assert trainable(copy) == 26_501
    text = "".join(c.source for c in __import__("nbformat").read(KEY, as_version=4).cells)
    assert "8,005" in text and "26,501" in text and "base.inputs" in text


# -- one real notebook variant: the new classifier trained on the classes the network was pretrained on --
# (the data cell is locked and restored at grading, so the wrong data comes from a solution cell)

def test_training_on_the_pretraining_classes(tmp_path):
    wrong_data = ("extractor.trainable = False\n"
                  "old = np.flatnonzero(np.isin(labels, PRETRAIN_CLASSES))[:250]\n"
                  "x_train = images[old][..., None].astype('float32')\n"
                  "y_train = np.searchsorted(PRETRAIN_CLASSES, labels[old])")
    result = grade_notebook(mutate(KEY, tmp_path, [("extractor.trainable = False", wrong_data)]), timeout_s=900)
    assert result.status == "graded", result.reason
    assert not_passed(result) - skipped_expected() == {
        "transfer_training_classes", "pixel_accuracy", "transfer_accuracy", "finetune_accuracy"}, (
        {c.name: c.message for c in result.checks if c.status != "passed"})
    assert 0 < result.score < result.max_score


# -- the shipped pretrained network ---------------------------------------------------------------

def test_shipped_base_loads_in_safe_mode_with_the_documented_layers():
    import keras

    from autograder.models.build_base import build

    path = Path(fashion_base_path())
    assert path.stat().st_size < 2 * 2**20
    base = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in base.layers] == BASE_LAYERS
    assert tuple(base.inputs[0].shape) == (None, 28, 28, 1)
    assert tuple(base.get_layer(FEATURE_LAYER).output.shape) == (None, FEATURE_DIM)
    assert tuple(base.outputs[0].shape) == (None, len(PRETRAIN_CLASSES))
    assert base.count_params() == 224_389
    assert getattr(base, "optimizer", None) is None  # shipped without a training state
    rebuilt = build()
    assert [(type(a).__name__, a.name) for a in rebuilt.layers] == [(type(b).__name__, b.name) for b in base.layers]
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in base.weights]


def test_shipped_base_accuracy_on_its_classes():
    from autograder.models.build_base import evaluate

    acc = evaluate(keras_load_base())
    assert acc >= 0.90, acc   # 0.916 when built (python -m autograder.models.build_base)


def keras_load_base():
    import keras

    return keras.saving.load_model(fashion_base_path(), safe_mode=True)


@pytest.mark.skipif(os.environ.get("AUTOGRADER_REBUILD_BASE") != "1",
                    reason="retrains the shipped network (about 40 s of CPU); set AUTOGRADER_REBUILD_BASE=1")
def test_rebuilding_the_base_is_reproducible(tmp_path):
    from autograder.models import build_base

    out = tmp_path / "fashion_base.keras"
    assert build_base.main(["--out", str(out)]) == 0
    rebuilt, shipped = _load(out), keras_load_base()
    for a, b in zip(rebuilt.weights, shipped.weights):
        assert np.allclose(np.asarray(a), np.asarray(b), atol=1e-4), a.path
    assert abs(build_base.evaluate(rebuilt) - build_base.evaluate(shipped)) < 0.005


# -- ImageNet weights: Keras' real loading path, offline, with files a test writes ------------------
#
# InceptionV3(weights="imagenet") calls keras.utils.get_file(<name>, <url>, cache_subdir="models",
# file_hash=<md5>): a file already at $KERAS_HOME/models/<name> is used only if its md5 matches the published
# one, else Keras tries to download it again (offline: "URL fetch failure"). A file written by a test cannot
# match that md5, so these tests replace only keras.src.utils.file_utils.validate_file (the md5 comparison);
# the cache location, the legacy .h5 weight loading by layer name and decode_predictions are Keras' own code.
# Keras fixes its cache folder when it is imported (keras.src.backend.config._KERAS_DIR), so the tests point
# that at a temporary folder as well as $KERAS_HOME.

@pytest.fixture(scope="module")
def fake_imagenet(tmp_path_factory):
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    home = tmp_path_factory.mktemp("keras-home")
    (home / "models").mkdir()
    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(weights=None)
    with h5py.File(home / "models" / IMAGENET_FILES[0][0], "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    names = {str(i): [f"n{i:08d}", f"fake_class_{i}"] for i in range(1000)}
    (home / "models" / IMAGENET_FILES[1][0]).write_text(json.dumps(names))
    return home, model


@pytest.fixture
def keras_home_at(monkeypatch):
    def point(home, accept_any_hash=True):
        import keras.src.applications.imagenet_utils as imagenet_utils
        import keras.src.backend.config as config
        import keras.src.utils.file_utils as file_utils

        def offline(url, *args, **kwargs):
            raise OSError(f"no network in this test ({url})")

        monkeypatch.setenv("KERAS_HOME", str(home))
        monkeypatch.setattr(config, "_KERAS_DIR", str(home))
        monkeypatch.setattr(file_utils, "urlretrieve", offline)
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
        if accept_any_hash:
            monkeypatch.setattr(file_utils, "validate_file", lambda *a, **k: True)
    return point


def _loading_cell():
    import nbformat

    nb = nbformat.read(KEY, as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and 'InceptionV3(weights="imagenet")' in c.source
              and "IMAGENET = True" in c.source]
    return cell.source


def _run_loading_cell(capsys):
    import keras

    ns = {"np": np, "keras": keras}
    exec(_loading_cell(), ns)
    return ns, capsys.readouterr().out


def test_notebook_loads_imagenet_weights_from_keras_cache(fake_imagenet, keras_home_at, capsys):
    home, source = fake_imagenet
    keras_home_at(home)
    assert imagenet_missing() == []
    ns, _ = _run_loading_cell(capsys)
    assert ns["IMAGENET"] is True
    assert ns["CLASS_NAMES"][:2] == ["fake_class_0", "fake_class_1"]
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 299, 299, 3)).astype("float32")
    assert np.allclose(ns["inception"].predict(x, verbose=0), source.predict(x, verbose=0), atol=1e-5)


def test_keras_hash_check_refuses_a_file_it_did_not_publish(fake_imagenet, keras_home_at, tmp_path):
    import keras

    (tmp_path / "models").mkdir()
    for name, _, _ in IMAGENET_FILES:  # links: Keras deletes a file whose re-download failed
        (tmp_path / "models" / name).symlink_to(fake_imagenet[0] / "models" / name)
    keras_home_at(tmp_path, accept_any_hash=False)
    with pytest.raises(Exception, match="URL fetch failure|no network"):
        keras.applications.InceptionV3(weights="imagenet")


def test_notebook_without_weights_says_where_to_put_them(tmp_path, keras_home_at, capsys):
    keras_home_at(tmp_path)
    ns, out = _run_loading_cell(capsys)
    assert ns["IMAGENET"] is False and ns["CLASS_NAMES"][0] == "class 0"
    assert ns["inception"].count_params() == 23_851_784
    for name, url, md5 in IMAGENET_FILES:
        assert str(tmp_path / "models" / name) in out and url in out and md5 in out
    assert how_to_get_imagenet() in out


def test_imagenet_checks_grade_with_the_weights_and_skip_without(fake_imagenet, keras_home_at, key_artifacts,
                                                                 tmp_path):
    """With weights in the grader's cache, the checks compare; a notebook that ran without them fails."""
    import keras

    home, _ = fake_imagenet
    folder = tmp_path / "art"
    # the key is graded (once per session) before Keras' cache points at the fake weights: the grader's check
    # worker, a process whose hash check is Keras' own, would find them corrupt and Keras would delete them
    shutil.copytree(key_artifacts(NAME), folder)
    keras_home_at(home)
    ns = {"np": np, "keras": keras}
    exec(_loading_cell(), ns)
    inception = ns["inception"]
    x = np.load(folder / "x_photos.npy")
    probs = inception.predict(x, verbose=0)
    idx = np.argsort(probs, axis=1)[:, ::-1][:, :5]
    features = keras.Model(inception.input, inception.get_layer("avg_pool").output).predict(x, verbose=0)

    def grade(**arrays):
        for name, value in arrays.items():
            if name == "imagenet_loaded":
                (folder / "imagenet_loaded.json").write_text(json.dumps(value))
            else:
                np.save(folder / f"{name}.npy", value)
        return {c.name: (c.status, c.message) for c in run_checks(A.checks_module, Artifacts(folder),
                                                                  question="05.imagenet")}

    # the key's export: computed offline with random weights, IMAGENET False
    without = grade()
    assert {k: s for k, (s, _) in without.items()} == {n: "failed" for n in IMAGENET_CHECKS}
    assert "ran without the ImageNet weights" in without["imagenet_top5_photos"][1]
    assert "ran without the ImageNet weights" in without["imagenet_kitten"][1]
    compared = IMAGENET_CHECKS - {"imagenet_kitten"}  # the fake weights' top-1 for the kitten is no cat class
    right = grade(probs=probs, top_idx=idx, top_p=np.take_along_axis(probs, idx, 1), photo_features=features,
                  imagenet_loaded=True)
    assert {k: right[k][0] for k in compared} == {n: "passed" for n in compared}, right
    wrong = grade(photo_features=features * 1.5, top_idx=np.roll(idx, 1, axis=1))
    assert {k: wrong[k][0] for k in compared} == {n: "failed" for n in compared}, wrong

    # the kitten: its top-1 must be one of ImageNet's cat classes (fabricated predictions, real check)
    kitten_first = idx.copy()
    kitten_first[p05.KITTEN] = [282, 281, 285, 0, 1]   # tiger cat first
    cat = grade(top_idx=kitten_first)
    assert cat["imagenet_kitten"][0] == "passed", cat
    kitten_first[p05.KITTEN] = [0, 281, 282, 283, 284]  # tench first, cats after
    fish = grade(top_idx=kitten_first)
    assert fish["imagenet_kitten"] == ("failed", "the kitten's (chelsea's) top-1 ImageNet class is 0, expected one "
                                       "of the cat classes 281 tabby, 282 tiger_cat, 283 Persian_cat, 284 "
                                       "Siamese_cat, 285 Egyptian_cat")

    keras_home_at(tmp_path / "empty")
    skipped = grade()
    assert {k: s for k, (s, _) in skipped.items()} == {n: "skipped" for n in IMAGENET_CHECKS}
    assert all("missing: " in m for _, m in skipped.values())


def test_notebook_names_the_same_cat_classes():
    """The kitten cell's CAT_CLASSES are the check's (ImageNet indices 281-285: tabby ... Egyptian cat)."""
    assert notebook_constants(NAME)["CAT_CLASSES"] == p05.CAT_CLASSES
    assert p05.PHOTO_NAMES[p05.KITTEN] == "chelsea"


def test_kernel_gets_the_graders_imagenet_files(fake_imagenet, tmp_path, monkeypatch):
    home, _ = fake_imagenet
    monkeypatch.setenv("KERAS_HOME", str(home))
    kernel = tmp_path / "kernel" / ".keras"
    assert IMAGENET.provide(kernel, binds=None) == [n for n, _, _ in IMAGENET_FILES]
    assert all((kernel / "models" / n).resolve() == (home / "models" / n).resolve() for n, _, _ in IMAGENET_FILES)
    binds = {}
    sandboxed = tmp_path / "sandboxed" / ".keras"
    assert IMAGENET.provide(sandboxed, binds=binds) == [n for n, _, _ in IMAGENET_FILES]
    assert binds == {sandboxed / "models" / n: (home / "models" / n).resolve() for n, _, _ in IMAGENET_FILES}
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-weights"))
    assert IMAGENET.provide(tmp_path / "other", binds=None) == []   # optional: the checks that need it are skipped


def test_graded_kernel_reads_the_graders_imagenet_files(tmp_path, monkeypatch):
    """The engine hands the grader's ImageNet files to the kernel's own Keras cache (sandboxed: read-only binds)."""
    import nbformat

    from autograder.engine.execute import execute

    home = tmp_path / "grader-keras"
    (home / "models").mkdir(parents=True)
    for name, _, _ in IMAGENET_FILES:
        (home / "models" / name).write_text(f"grader's copy of {name}")
    monkeypatch.setenv("KERAS_HOME", str(home))
    source = ("import os\nfolder = os.path.join(os.environ['KERAS_HOME'], 'models')\n"
              "print(folder != %r)\nfor name in sorted(os.listdir(folder)):\n"
              "    print(open(os.path.join(folder, name)).read())" % str(home / "models"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    run = execute(nb, A, None, timeout_s=300)
    executed = nbformat.read(run.executed, as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", [])
                      if o.get("name") == "stdout")
    assert printed.startswith("True\n"), printed  # the kernel has its own cache...
    for name, _, _ in IMAGENET_FILES:             # ...holding the grader's files
        assert f"grader's copy of {name}" in printed, printed
