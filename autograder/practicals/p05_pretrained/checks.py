"""Checks of practical 05 (pretrained networks: InceptionV3 on a kitten, its layers, feature extraction, transfer,
fine-tuning).

References are computed here: InceptionV3's preprocessing (``tf.image.resize`` then ``x / 127.5 - 1``) of
scikit-image's photos, the top-5 of a probability matrix, InceptionV3's layer types (built without weights), and
the features of the kit's shipped network (``autograder.models``) at its
cut layer. The exported Keras models are reloaded in safe mode and measured on the official Fashion-MNIST test
split of the transfer classes, which never enters the student's kernel.

Checks that need InceptionV3's ImageNet weights call ``pytest.skip`` (status "skipped", counted neither for nor
against the student) when the grader's Keras cache lacks them; when the grader has them, autograder.datasets provides
the same files to the kernel, so a notebook that still ran without them has failed to use them.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from autograder.i18n import tr
from autograder.check_api import (MissingAnswer, check, expect, expect_calibrated, expect_equal,
                                   expect_shape, fmt, infer)
from autograder.practicals.p05_pretrained.in_kernel import (LAYER_COUNTS, LAYER_KINDS,  # the kernel's own
                                                             PUBLIC_SEED)

ASSIGNMENT = "05-pretrained"
SIZE = 299
PHOTO_NAMES = ("chelsea", "coffee", "astronaut")   # skimage.data's photos, in the notebook's order
N_PHOTOS = len(PHOTO_NAMES)
KITTEN = PHOTO_NAMES.index("chelsea")              # a tabby cat
# ImageNet's domestic cats, as in Keras' imagenet_class_index.json (index: [WordNet id, name])
CAT_CLASSES = {281: "tabby", 282: "tiger_cat", 283: "Persian_cat", 284: "Siamese_cat", 285: "Egyptian_cat"}
FEATURES_INCEPTION = 2048
PREPROCESS_TOL = 0.05        # mean |difference| in [-1, 1] units: another bilinear resize (PIL, cv2) is within it
TOP5_RTOL = 1e-6             # the probabilities come from the same array: only float32/64 rounding
IMAGENET_P_TOL = 0.05        # top-1 probability against the grader's InceptionV3
IMAGENET_FEATURE_TOL = 0.05  # relative mean |difference| of the avg_pool features


def make_hidden(rng):
    """Other inputs, each built to defeat a shortcut that the public ones let pass:

    - images: 4 of them in one batch (public: one photo at a time), 150x180, taller-than-wide unlike the photos,
      blocky so that any bilinear resize agrees; pixel values only in 40..199, while two photos span 0..255
      (the kitten 0..231): a scaling by the batch's own range ((x - min) / (max - min) * 2 - 1, or x / x.max())
      instead of x / 127.5 - 1 is far off, and a batch size or image size written as the photos' fails.
    - probs: 7 rows (public: 4), drawn anew: a top5 written for 4 rows, or that sorts one row only, fails.
    - layer_codes: a small network of 14 layers in random order, every kind of LAYER_KINDS present with other
      counts than InceptionV3's (94 batch normalisations, no dropout): a count_layers that returns InceptionV3's
      numbers, or counts by name, fails.
    """
    small = rng.integers(40, 200, size=(4, 15, 18, 3))
    images = np.repeat(np.repeat(small, 10, axis=1), 10, axis=2).astype(np.uint8)   # (4, 150, 180, 3)
    probs = rng.dirichlet(np.full(1000, 0.05), size=7).astype(np.float32)
    codes = np.concatenate([np.arange(len(LAYER_KINDS)), rng.integers(0, len(LAYER_KINDS), size=9)])
    return {"images": images, "probs": probs, "layer_codes": rng.permutation(codes)}


def public_probs():
    """The exporter's public probabilities (same seed): 4 rows of 1000, well separated, unlike random weights'."""
    return np.random.default_rng(PUBLIC_SEED).dirichlet(np.full(1000, 0.05), size=4).astype(np.float32)


# -- references -------------------------------------------------------------------------------

def preprocess_ref(images) -> np.ndarray:
    import tensorflow as tf

    x = tf.image.resize(tf.cast(np.asarray(images), tf.float32), (SIZE, SIZE)).numpy()
    return x / 127.5 - 1.0


def photos() -> list:
    """scikit-image's photos (in its wheel: no download), of different sizes."""
    from skimage import data

    return [getattr(data, name)() for name in PHOTO_NAMES]


def photos_ref() -> np.ndarray:
    """The photos preprocessed one at a time, as the notebook's locked cell does."""
    return np.concatenate([preprocess_ref(photo[None]) for photo in photos()])


def top5_ref(probs):
    idx = np.argsort(-np.asarray(probs), axis=1, kind="stable")[:, :5]
    return idx, np.take_along_axis(np.asarray(probs), idx, axis=1)


def shipped_base():
    import keras

    from autograder.models import fashion_base_path

    return keras.saving.load_model(fashion_base_path(), compile=False, safe_mode=True)


def reference_extractor(art):
    def build():
        import keras

        from autograder.models import FEATURE_LAYER

        base = shipped_base()
        return keras.Model(base.inputs, base.get_layer(FEATURE_LAYER).output)

    return art.cached("ref_extractor", build)


def shipped_weights(art) -> dict:
    """The shipped base's conv kernels and biases by shape: (3,3,1,32), (32,), (3,3,32,64), (64,)."""
    def build():
        base = shipped_base()
        return {layer: [np.asarray(w) for w in base.get_layer(layer).get_weights()] for layer in ("conv1", "conv2")}

    return art.cached("shipped_weights", build)


def transfer_test(art):
    """Test images (n, 28, 28) float32 0..255 and labels 0..4 of the transfer classes (official test split)."""
    def build():
        from autograder.data import load_fashion_mnist
        from autograder.models import TRANSFER_CLASSES

        x, y = load_fashion_mnist("test")
        keep = np.isin(y, TRANSFER_CLASSES)
        return x[keep].astype(np.float32), np.searchsorted(TRANSFER_CLASSES, y[keep])

    return art.cached("transfer_test", build)


def train_lookup(art) -> dict:
    """Fashion-MNIST training images (bytes) -> class, to see which classes a submission trained on."""
    def build():
        from autograder.data import load_fashion_mnist

        x, y = load_fashion_mnist("train")
        return {img.tobytes(): int(c) for img, c in zip(x, y)}

    return art.cached("train_lookup", build)


def feed(model, x: np.ndarray) -> np.ndarray:
    """``x`` (n, 28, 28) reshaped to the model's declared input: (28, 28, 1), (28, 28) or (784,)."""
    shape = tuple(model.inputs[0].shape[1:])
    if len(model.inputs) != 1:
        raise MissingAnswer(tr("the model has {n_inputs} inputs, expected one (the images)").format(
                                n_inputs=len(model.inputs)), raised=False)
    target = tuple(d if d is not None else -1 for d in shape)
    try:
        return x.reshape((len(x),) + target)
    except ValueError:
        raise MissingAnswer(tr("the model takes inputs of shape {shape}, expected 28x28 images (None, 28, 28, "
                               "1)").format(
                                shape=(None,) + shape), raised=False) from None


def predict(art, name: str) -> np.ndarray:
    def build():
        model = art.model(name)
        x, _ = transfer_test(art)
        out = infer(model, feed(model, x), batch_size=1000)
        if out.ndim != 2 or out.shape[1] != 5:
            raise MissingAnswer(tr("{name} outputs shape {shape} per image, expected 5 class probabilities").format(
                                    name=name, shape=out.shape[1:]),
                                raised=False)
        return out

    return art.cached(f"predict:{name}", build)


def accuracy(art, name: str) -> float:
    _, y = transfer_test(art)
    return float(np.mean(np.argmax(predict(art, name), axis=1) == y))


def own_feature_dim(art):
    """The output size of the student's extractor (None when it is missing, unreadable or not flat)."""
    try:
        shape = tuple(art.model("extractor").outputs[0].shape)
    except Exception:
        return None
    return int(shape[1]) if len(shape) == 2 and shape[1] is not None else None


def weight_split(model) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return trainable, frozen


def find_weight(model, shape):
    """(variable, is_trainable) of the model's only weight of ``shape`` (the base's conv kernels are unique)."""
    hits = [w for w in model.weights if tuple(w.shape) == tuple(shape)]
    if len(hits) != 1:
        return None, False
    trainable_ids = {id(w) for w in model.trainable_weights}
    return hits[0], id(hits[0]) in trainable_ids


def as_shape(value):
    return tuple(value) if isinstance(value, list) else value


# -- 05.preprocess --------------------------------------------------------------------------------

@check("05.preprocess", points=1)
def test_preprocess_shape(art):
    expect_shape(art.array("x_photos"), (N_PHOTOS, SIZE, SIZE, 3), "preprocess(photos)")


@check("05.preprocess", points=1)
def test_preprocess_range(art):
    x = art.array("x_photos").astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    expect(-1.001 <= lo and hi <= 1.001 and lo < -0.5 and hi > 0.5,
               tr("preprocess(photos) has values from {lo:.4g} to {hi:.4g}, expected InceptionV3's scaling to "
                  "[-1, 1] (x / 127.5 - 1, keras.applications.inception_v3.preprocess_input)").format(lo=lo, hi=hi))


@check("05.preprocess", points=1)
def test_preprocess_values(art):
    got = art.array("x_photos").astype(np.float64)
    expect_shape(got, (N_PHOTOS, SIZE, SIZE, 3), "preprocess(photos)")
    diff = float(np.mean(np.abs(got - photos_ref())))
    expect(diff <= PREPROCESS_TOL, tr("preprocess(photos) differs from a bilinear resize to 299x299 then x / "
                                      "127.5 - 1 by {diff:.4f} on average, expected at most {PREPROCESS_TOL}").format(
                                       diff=diff, PREPROCESS_TOL=PREPROCESS_TOL))


@check("05.preprocess", points=1, hidden=True)
def test_preprocess_other_images(art):
    images = art.hidden("images")
    got = art.array("preprocess_hidden").astype(np.float64)
    expect_shape(got, (len(images), SIZE, SIZE, 3),
               tr("preprocess of a batch of {n_images} images of size 150x180").format(n_images=len(images)))
    diff = float(np.mean(np.abs(got - preprocess_ref(images))))
    expect(diff <= PREPROCESS_TOL, tr("preprocess on other images differs from the reference by {diff:.4f} on "
                                      "average, expected at most {PREPROCESS_TOL}").format(
                                       diff=diff, PREPROCESS_TOL=PREPROCESS_TOL))


# -- 05.inception ---------------------------------------------------------------------------------

@check("05.inception", points=2)
def test_inception_cut(art):
    full = art.json("inception")
    s = art.json("inception_extractor")
    expect_equal(as_shape(full["input_shape"]), (None, SIZE, SIZE, 3),
               tr("InceptionV3's input shape"))
    expect_equal(as_shape(full["output_shape"]), (None, 1000),
               tr("InceptionV3's output shape"))
    shape = as_shape(s["input_shape"])
    expect(len(shape) == 4 and shape[3] == 3 and shape[1] in (None, SIZE) and shape[2] in (None, SIZE),
               tr("inception_extractor's input shape is {shape}, expected (None, 299, 299, 3)").format(shape=shape))
    out = as_shape(s["output_shape"])
    expect(out == (None, FEATURES_INCEPTION), tr("inception_extractor's output shape is {out} (its last layer: "
                                                 "{last_layer!r}), expected (None, {FEATURES_INCEPTION}): cut at "
                                                 "the layer 'avg_pool', just before 'predictions'").format(
                                                  out=out, last_layer=s['last_layer'],
                                                  FEATURES_INCEPTION=FEATURES_INCEPTION))
    expect(s["last_layer_class"] == "GlobalAveragePooling2D",
               tr("inception_extractor ends with a {layer_class} layer ({last_layer!r}), expected the global "
                  "average pooling 'avg_pool'").format(layer_class=s['last_layer_class'], last_layer=s['last_layer']))


@check("05.inception", points=1)
def test_photo_features_shape(art):
    try:
        x_photos_shape = tuple(art.array("x_photos").shape)
    except MissingAnswer:
        x_photos_shape = None
    try:
        got = art.array("photo_features")
    except MissingAnswer:
        if x_photos_shape != (N_PHOTOS, SIZE, SIZE, 3) and art.json("inception_extractor")["output_shape"] == [
                None, FEATURES_INCEPTION]:
            return  # x_photos has the wrong shape (lost at 05.preprocess): the extractor is right, not penalised twice
        raise
    expect_shape(got, (N_PHOTOS, FEATURES_INCEPTION), "photo_features")


# -- 05.top5 --------------------------------------------------------------------------------------

def _top5_arrays(art, idx_name, p_name, n, what):
    idx, p = art.array(idx_name), art.array(p_name).astype(np.float64)
    expect_shape(idx, (n, 5), tr("the indices of {what}").format(what=what))
    expect_shape(p, (n, 5), tr("the probabilities of {what}").format(what=what))
    expect(idx.dtype.kind in "iu" or np.all(idx == np.round(idx)),
               tr("the indices of {what} are not integers").format(what=what))
    return idx.astype(np.int64), p


def _expect_sorted(p, what):
    expect(np.all(np.diff(p, axis=1) <= 0), tr("{what} is not sorted most probable first: got {got} for the first "
                                               "row").format(what=what, got=p[0].round(6).tolist()))
    sums = p.sum(axis=1)
    expect(np.all(sums <= 1 + 1e-4) and np.all(p >= 0),
               tr("{what} sums to {sums}, expected at most 1").format(what=what, sums=sums.round(4).tolist()))


@check("05.top5", points=1)
def test_top5_sorted(art):
    # only the grader's own probabilities: the photos' (top_idx, top_p) come from a locked cell that a wrong
    # preprocess (05.preprocess) can make crash, and that mistake is not top5's
    _, p = _top5_arrays(art, "top5_public_idx", "top5_public_p", 4, "top5(probs) of 4 rows")
    _expect_sorted(p, "top5(probs) of 4 rows")


@check("05.top5", points=1)
def test_top5_is_top(art):
    probs = public_probs().astype(np.float64)
    idx, p = _top5_arrays(art, "top5_public_idx", "top5_public_p", len(probs), "top5(probs) of 4 rows")
    expect(np.all((idx >= 0) & (idx < probs.shape[1])),
               tr("top5 indices out of 0..999: {idx}").format(idx=idx[0].tolist()))
    expect(np.allclose(np.take_along_axis(probs, idx, axis=1), p, rtol=TOP5_RTOL, atol=0),
               tr("the probabilities returned by top5 are not probs[row, indices]"))
    ref_idx, _ = top5_ref(probs)
    expect(all(set(a) == set(b) for a, b in zip(idx.tolist(), ref_idx.tolist())),
               tr("top5 of the first row gives the classes {idx}, expected the five most probable {ref_idx}").format(
                   idx=sorted(idx[0].tolist()), ref_idx=sorted(ref_idx[0].tolist())))


@check("05.top5", points=1, hidden=True)
def test_top5_other_inputs(art):
    probs = art.hidden("probs").astype(np.float64)
    idx, p = _top5_arrays(art, "top5_hidden_idx", "top5_hidden_p", len(probs), "top5 of other probabilities")
    ref_idx, ref_p = top5_ref(probs)
    expect(np.array_equal(idx, ref_idx), tr("top5 on other probabilities: got indices {idx}, expected {ref_idx} "
                                            "(first row)").format(idx=idx[0].tolist(), ref_idx=ref_idx[0].tolist()))
    expect(np.allclose(p, ref_p, rtol=TOP5_RTOL, atol=0),
               tr("top5 on other probabilities: wrong probabilities"))


# -- 05.imagenet (needs the real weights) -----------------------------------------------------------

def _skip_without_weights():
    from autograder.datasets import imagenet_missing

    missing = imagenet_missing()
    if missing:
        pytest.skip(tr("needs InceptionV3's ImageNet weights, which are not in Keras' cache here (missing: "
                       "{items}; autograder.datasets.how_to_get_imagenet() says how to get them)").format(
                        items=', '.join(missing)))


@pytest.fixture
def imagenet_weights():
    """Skips the check where the grader has no ImageNet weights, before ``art`` looks for its answers: a notebook
    stopped before this question gets the same skips, so the same total, as one that ran to the end."""
    _skip_without_weights()


def imagenet_reference(art):
    """The grader's InceptionV3 with ImageNet weights: (probabilities, avg_pool features) of the photos."""
    _skip_without_weights()

    def build():
        import keras

        try:
            model = keras.applications.InceptionV3(weights="imagenet")
        except Exception as e:
            return f"{type(e).__name__}: {str(e)[:200]}"
        features = keras.Model(model.input, model.get_layer("avg_pool").output)
        x = photos_ref().astype(np.float32)
        return infer(model, x, batch_size=32), infer(features, x, batch_size=32)

    ref = art.cached("imagenet_reference", build)
    if isinstance(ref, str):
        pytest.skip(tr("the grader could not load InceptionV3's ImageNet weights ({error})").format(error=ref))
    return ref


def _require_imagenet_in_kernel(art):
    try:
        loaded = art.json("imagenet_loaded")
    except MissingAnswer:
        loaded = None
    expect(loaded is not False, tr("your notebook ran without the ImageNet weights (IMAGENET is False) although "
                                   "they were in its Keras cache: load them with InceptionV3(weights='imagenet')"))


@check("05.imagenet", points=2)
def test_imagenet_top5_photos(imagenet_weights, art):   # imagenet_weights first: it may skip before art runs
    probs, _ = imagenet_reference(art)
    idx, p = _top5_arrays(art, "top_idx", "top_p", N_PHOTOS, "top5(probs) of the photos")
    _require_imagenet_in_kernel(art)
    ref_idx, ref_p = top5_ref(probs)
    expect(np.array_equal(idx[:, 0], ref_idx[:, 0]),
               tr("top-1 ImageNet classes of the photos: got {idx}, expected {ref_idx}").format(
                   idx=idx[:, 0].tolist(), ref_idx=ref_idx[:, 0].tolist()))
    expect(np.allclose(p[:, 0], ref_p[:, 0], atol=IMAGENET_P_TOL),
               tr("top-1 probabilities of the photos: got {got}, expected {expected}").format(
                   got=np.round(p[:, 0], 3).tolist(), expected=np.round(ref_p[:, 0], 3).tolist()))


@check("05.imagenet", points=1)
def test_imagenet_features(imagenet_weights, art):   # imagenet_weights first: it may skip before art runs
    _, features = imagenet_reference(art)
    got = art.array("photo_features").astype(np.float64)
    expect_shape(got, features.shape, "photo_features")
    _require_imagenet_in_kernel(art)
    rel = float(np.mean(np.abs(got - features)) / max(np.mean(np.abs(features)), 1e-12))
    expect(rel <= IMAGENET_FEATURE_TOL, tr("photo_features differ from the grader's ImageNet avg_pool features by "
                                           "{rel:.3f} (relative), expected at most {IMAGENET_FEATURE_TOL}").format(
                                            rel=rel, IMAGENET_FEATURE_TOL=IMAGENET_FEATURE_TOL))


@check("05.imagenet", points=1)
def test_imagenet_kitten(imagenet_weights, art):   # imagenet_weights first: it may skip before art runs
    imagenet_reference(art)  # skipped without the weights
    idx, _ = _top5_arrays(art, "top_idx", "top_p", N_PHOTOS, "top5(probs) of the photos")
    _require_imagenet_in_kernel(art)
    top1 = int(idx[KITTEN, 0])
    cats = ", ".join(f"{i} {name}" for i, name in CAT_CLASSES.items())
    expect(top1 in CAT_CLASSES, tr("the kitten's (chelsea's) top-1 ImageNet class is {top1}, expected one of the "
                                   "cat classes {cats}").format(top1=top1, cats=cats))


# -- 05.layers (no weights needed: the architecture only) --------------------------------------------

@functools.lru_cache(maxsize=1)
def inception_layer_classes() -> tuple:
    """The class name of each layer of Keras' InceptionV3, built with random weights (no download)."""
    import keras

    return tuple(type(layer).__name__ for layer in keras.applications.InceptionV3(weights=None).layers)


def expected_counts() -> dict:
    classes = inception_layer_classes()
    return {name: classes.count(kind) for name, kind in zip(LAYER_COUNTS, ("BatchNormalization", "Dropout", "Add",
                                                                          "Concatenate"))}


@check("05.layers", points=1)
def test_layers_batchnorm_count(art):
    got, expected = art.json("layer_counts")["n_batchnorm"], expected_counts()["n_batchnorm"]
    expect(got == expected, tr("n_batchnorm is {got}, expected {expected}: the layers of inception.layers that "
                               "are instances of layers.BatchNormalization").format(got=got, expected=expected))


@check("05.layers", points=1)
def test_layers_other_counts(art):
    got, expected = art.json("layer_counts"), expected_counts()
    wrong = {n: got.get(n) for n in ("n_dropout", "n_add", "n_concatenate") if got.get(n) != expected[n]}
    expect(not wrong, tr("got {got}, expected {expected}: count instances of layers.Dropout, layers.Add (a residual "
                         "connection adds a block's input to its output) and layers.Concatenate (an Inception module "
                         "stacks its branches) in inception.layers").format(
        got=wrong, expected=", ".join(f"{n} = {expected[n]}" for n in wrong)))


@check("05.layers", points=1)
def test_layers_named(art):
    named = art.json("layer_names")
    for key, variable, kind in (("batchnorm", "batchnorm_name", "BatchNormalization"),
                                ("merge", "merge_name", "Concatenate")):
        name, found = named[key]
        expect(found is not None, tr("{variable} = {name!r}: inception has no layer of that name (take one from "
                                     "[layer.name for layer in inception.layers])").format(
                                      variable=variable, name=name))
        expect(found == kind, tr("{variable} = {name!r} is a {found} layer of inception, expected a {kind} "
                                 "layer").format(
                                  variable=variable, name=name, found=found, kind=kind))


@check("05.layers", points=1, hidden=True)
def test_count_layers_other_network(art):
    codes = [LAYER_KINDS[int(c)] for c in art.hidden("layer_codes")]
    expected = {kind: codes.count(kind) for kind in LAYER_KINDS}
    expected["Dense"] += codes.count("Add") + codes.count("Concatenate")  # each merges a new Dense's output
    got = art.json("count_layers_hidden")
    wrong = {kind: got.get(kind) for kind in LAYER_KINDS if got.get(kind) != expected[kind]}
    expect(not wrong, tr("count_layers on another network: got {got}, expected {expected} (count the instances of "
                         "layer_class in model.layers, whatever the model)").format(
        got=wrong, expected=", ".join(f"{k}: {expected[k]}" for k in wrong)))


# -- 05.cut ---------------------------------------------------------------------------------------

@check("05.cut", points=1)
def test_cut_shapes(art):
    from autograder.models import FEATURE_DIM, FEATURE_LAYER

    model = art.model("extractor")
    inp = tuple(model.inputs[0].shape)
    out = tuple(model.outputs[0].shape)
    expect(inp in ((None, 28, 28, 1), (None, 28, 28)),
               tr("extractor's input shape is {inp}, expected (None, 28, 28, 1)").format(inp=inp))
    expect(out == (None, FEATURE_DIM), tr("extractor's output shape is {out} (last layer {name!r}), expected "
                                          "(None, {FEATURE_DIM}): cut at the layer {FEATURE_LAYER!r}, before the "
                                          "classifier layers 'fc' and 'predictions'").format(
                                           out=out, name=model.layers[-1].name, FEATURE_DIM=FEATURE_DIM,
                                           FEATURE_LAYER=FEATURE_LAYER))


@check("05.cut", points=1)
def test_cut_values(art):
    model = art.model("extractor")
    x = art.array("x_train").astype(np.float32)[:64]
    ref = reference_extractor(art)
    expected = infer(ref, feed(ref, x), batch_size=32)
    got = infer(model, feed(model, x), batch_size=32)
    expect_shape(got, expected.shape, tr("extractor's features of 64 training images"))
    worst = float(np.max(np.abs(got - expected)))
    expect(worst <= 1e-3 * max(1.0, float(np.max(np.abs(expected)))),
               tr("extractor's features differ from the pretrained network's 'flatten' activations by up to "
                  "{worst:.4g}: build it from the loaded base (same weights, frozen), not from a new or retrained "
                  "network").format(worst=worst))


@check("05.cut", points=1)
def test_cut_frozen(art):
    model = art.model("extractor")
    trainable, frozen = weight_split(model)
    expect(trainable == 0, tr("extractor has {trainable:,} trainable parameters (and {frozen:,} frozen), expected "
                              "0: freeze it with extractor.trainable = False, so that training a model built on "
                              "it cannot change the pretrained weights").format(trainable=trainable, frozen=frozen))


# -- 05.features ----------------------------------------------------------------------------------

@check("05.features", points=1)
def test_features_shape(art):
    from autograder.models import FEATURE_DIM

    n = len(art.array("y_train"))
    dim = own_feature_dim(art) or FEATURE_DIM   # a wrong cut is lost at 05.cut: judged here with the student's own
    expect_shape(art.array("train_features"), (n, dim), "train_features")


@check("05.features", points=1)
def test_features_values(art):
    x = art.array("x_train").astype(np.float32)
    ref = reference_extractor(art)
    expected = infer(ref, feed(ref, x), batch_size=32)
    got = art.array("train_features").astype(np.float64)
    try:  # the student's own extractor (a wrong cut is lost at 05.cut, not a second time here)
        model = art.model("extractor")
        own = infer(model, feed(model, x), batch_size=32).astype(np.float64)
        if own.shape == got.shape and np.allclose(got, own, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(own).max())):
            return
    except Exception:
        pass
    expect_shape(got, expected.shape, "train_features")
    worst = float(np.max(np.abs(got - expected)))
    expect(worst <= 1e-3 * max(1.0, float(np.max(np.abs(expected)))),
               tr("train_features differ from the pretrained network's 'flatten' activations on x_train by up to "
                  "{worst:.4g}").format(worst=worst))


# -- 05.pixels ------------------------------------------------------------------------------------

@check("05.pixels", points=1)
def test_pixel_model_io(art):
    model = art.model("pixel_model")
    out = tuple(model.outputs[0].shape)
    expect(out == (None, 5), tr("pixel_model's output shape is {out}, expected (None, 5): one probability per new "
                                "class").format(out=out))
    x = np.zeros((2, 28, 28), np.float32)
    p = infer(model, feed(model, x), batch_size=32)
    expect(np.allclose(p.sum(axis=1), 1, atol=1e-3),
               tr("pixel_model's outputs sum to {sums}, expected 1 (softmax)").format(sums=p.sum(axis=1)))


@check("05.pixels", points=1, hidden=True)
def test_pixel_accuracy(art):
    expect_calibrated(art, ASSIGNMENT, "pixel_accuracy", accuracy(art, "pixel_model"),
                      tr("pixel_model's test accuracy on the new classes"))


# -- 05.transfer ----------------------------------------------------------------------------------

@check("05.transfer", points=1)
def test_transfer_training_classes(art):
    from autograder.models import PRETRAIN_CLASSES, TRANSFER_CLASSES

    art.model("transfer_model")  # the data of a model that exists
    x = art.array("x_train")
    y = np.asarray(art.array("y_train")).ravel()
    lookup = train_lookup(art)
    keys = [np.clip(np.round(img), 0, 255).astype(np.uint8).reshape(28, 28).tobytes() for img in x.reshape(len(x), -1)]
    true = np.array([lookup.get(k, -1) for k in keys])
    found = true >= 0
    expect(found.mean() >= 0.9, tr("only {count} of the {n_images} images of x_train are Fashion-MNIST training "
                                   "images (values 0..255, 28x28)").format(count=found.sum(), n_images=len(x)))
    old = sorted(set(true[found]) & set(PRETRAIN_CLASSES))
    expect(not old, tr("x_train contains images of the classes {old}, which the network was pretrained on; the "
                       "new task uses only the classes {TRANSFER_CLASSES}").format(
                        old=old, TRANSFER_CLASSES=list(TRANSFER_CLASSES)))
    expected = np.searchsorted(TRANSFER_CLASSES, true[found])
    wrong = int(np.sum(y[found] != expected))
    expect(wrong == 0, tr("{wrong} labels of y_train are not the class's position in TRANSFER_CLASSES (0..4)").format(
                           wrong=wrong))


@check("05.transfer", points=2)
def test_transfer_parameter_counts(art):
    """The new layer's size and the base's weights unchanged; whether the base is flagged frozen is 05.cut's."""
    from autograder.models import FEATURE_DIM

    model = art.model("transfer_model")
    shipped = shipped_weights(art)
    base_params = sum(int(np.prod(w.shape)) for ws in shipped.values() for w in ws)
    dim = FEATURE_DIM
    own = own_feature_dim(art)
    if own is not None and own != FEATURE_DIM:  # a wrong cut, lost at 05.cut: the head on the student's features
        dim, base_params = own, int(art.model("extractor").count_params())
    head_params = dim * 5 + 5
    total = int(model.count_params())
    expect(total == base_params + head_params,
           tr("transfer_model has {total:,} parameters, expected {expected:,}: the {base:,} of the pretrained "
              "conv1 and conv2, and {head_params:,} for the new Dense(5) layer on the {dim:,} features").format(
               total=total, expected=base_params + head_params, base=base_params, head_params=head_params, dim=dim))
    for layer, (kernel, _) in shipped.items():
        w, _ = find_weight(model, kernel.shape)
        expect(w is not None and np.allclose(np.asarray(w), kernel, atol=1e-6),
               tr("transfer_model's {layer} weights are not the pretrained ones: only the new layer may be "
                  "trained (the extractor must stay frozen)").format(layer=layer))


@check("05.transfer", points=2, hidden=True)
def test_transfer_accuracy(art):
    expect_calibrated(art, ASSIGNMENT, "transfer_accuracy", accuracy(art, "transfer_model"),
                      tr("transfer_model's test accuracy on the new classes"))


@check("05.transfer", points=1, hidden=True)
def test_transfer_beats_pixels(art):
    t = accuracy(art, "transfer_model")
    try:
        p = accuracy(art, "pixel_model")
    except Exception:  # no usable pixel_model (lost at 05.pixels): the answer key's raw-pixel accuracy instead
        from autograder.check_api import threshold_entry

        p = float(np.mean(threshold_entry(ASSIGNMENT, "pixel_accuracy")["observed"]))
    expect(t > p, tr("transfer_model's test accuracy {t:.4f} is not above the raw-pixel baseline's {p:.4f}").format(
                      t=t, p=p))


# -- 05.finetune ----------------------------------------------------------------------------------

@check("05.finetune", points=2)
def test_finetune_frozen_layers(art):
    from autograder.models import FEATURE_DIM

    model = art.model("finetuned_model")
    shipped = shipped_weights(art)
    w1, train1 = find_weight(model, shipped["conv1"][0].shape)
    w2, train2 = find_weight(model, shipped["conv2"][0].shape)
    expect(w1 is not None and w2 is not None, tr("finetuned_model does not contain the pretrained conv1 and conv2"))
    expect(not train1, tr("conv1 is trainable in finetuned_model, expected it frozen"))
    expect(train2, tr("conv2 is frozen in finetuned_model, expected it trainable (unfreeze the extractor but "
                      "conv1)"))
    expect(np.allclose(np.asarray(w1), shipped["conv1"][0], atol=1e-6),
               tr("conv1's weights changed: it must stay frozen"))
    trainable, frozen = weight_split(model)
    conv1 = sum(int(np.prod(w.shape)) for w in shipped["conv1"])
    conv2 = sum(int(np.prod(w.shape)) for w in shipped["conv2"])
    expected = (conv2 + FEATURE_DIM * 5 + 5, conv1)
    expect((trainable, frozen) == expected, tr("finetuned_model has {trainable:,} trainable and {frozen:,} frozen "
                                               "parameters, expected {expected_trainable:,} trainable (conv2 and "
                                               "the new layer) and {expected_frozen:,} frozen (conv1)").format(
                                                trainable=trainable, frozen=frozen, expected_trainable=expected[0],
                                                expected_frozen=expected[1]))


@check("05.finetune", points=1)
def test_finetune_trained(art):
    model = art.model("finetuned_model")
    shipped = shipped_weights(art)
    w2, _ = find_weight(model, shipped["conv2"][0].shape)
    expect(w2 is not None, tr("finetuned_model does not contain the pretrained conv2"))
    moved = float(np.max(np.abs(np.asarray(w2) - shipped["conv2"][0])))
    expect(moved > 1e-6, tr("conv2's weights are exactly the pretrained ones: finetuned_model was not trained "
                            "after unfreezing"))


FINETUNE_LR, FINETUNE_EPOCHS, FINETUNE_BATCH = 1e-4, 10, 32
N_TRAIN = 250   # 50 labelled images per new class


def training_record(art, name) -> dict:
    """A saved .keras file's compile config and its optimizer's `iterations` (update steps = epochs x batches)."""
    def read():
        import io
        import json
        import zipfile

        import h5py

        iterations = None
        with zipfile.ZipFile(art.path(name, ".keras")) as z:
            config = json.loads(z.read("config.json"))
            if "model.weights.h5" in z.namelist():
                with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                    if "optimizer" in f and "vars" in f["optimizer"] and "0" in f["optimizer"]["vars"]:
                        iterations = int(np.asarray(f["optimizer"]["vars"]["0"]).ravel()[0])
        return {"compile": config.get("compile_config"), "iterations": iterations}

    return art.cached(f"training_record:{name}", read)


@check("05.finetune", points=1)
def test_finetune_schedule(art):
    record = training_record(art, "finetuned_model")
    compiled = record["compile"] or {}
    opt = compiled.get("optimizer")
    lr = opt.get("config", {}).get("learning_rate") if isinstance(opt, dict) else None
    expect(isinstance(lr, (int, float)),
           tr("finetuned_model was saved without an optimizer learning rate: compile it (Adam(1e-4)) before "
              "fitting"))
    expect(np.isclose(float(lr), FINETUNE_LR, rtol=1e-4, atol=0),
           tr("finetuned_model was trained with learning rate {lr}, expected {FINETUNE_LR} (10 times smaller than "
              "Adam's default 0.001, so that the pretrained weights move only a little)").format(
               lr=fmt(lr), FINETUNE_LR=fmt(FINETUNE_LR)))
    got, expected = record["iterations"], FINETUNE_EPOCHS * -(-N_TRAIN // FINETUNE_BATCH)
    expect(got == expected,
           tr("finetuned_model's optimizer made {got} update steps, expected {expected} = {FINETUNE_EPOCHS} "
              "epochs x {batches} batches of {FINETUNE_BATCH} on the {N_TRAIN} images of x_train").format(
               got=fmt(got), expected=fmt(expected), FINETUNE_EPOCHS=FINETUNE_EPOCHS,
               batches=-(-N_TRAIN // FINETUNE_BATCH), FINETUNE_BATCH=FINETUNE_BATCH, N_TRAIN=N_TRAIN)
           + (" (batches of 32 are Keras' default; is the number of epochs 10?)" if got else
              ": it was not trained after compiling"))


@check("05.finetune", points=2, hidden=True)
def test_finetune_accuracy(art):
    expect_calibrated(art, ASSIGNMENT, "finetune_accuracy", accuracy(art, "finetuned_model"),
                      tr("finetuned_model's test accuracy on the new classes"))
