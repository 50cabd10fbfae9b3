"""Checks of practical 04 (convnets): parameter counts, the 3x3 filter, model structure, accuracy, filters.

The model's input convention (stated in the notebook): float32 pixels in [0, 1], shape (28, 28, 1).
Validation and test accuracies are computed here, in the grader's process, from the exported model:
validation on the notebook's own split of the training set, test on the official test split, which never
enters the student's kernel.
"""

import numpy as np

from autograder.i18n import tr
from autograder.check_api import (CheckFailure, check, expect, expect_calibrated, expect_close, expect_equal,
                                   expect_shape, fmt, infer)
from autograder.practicals.p04_convnet.in_kernel import (PUBLIC_CONV_PAIR, public_filter_inputs, public_model_image,
                                           public_raw_images)

ASSIGNMENT = "04-convnet"
INPUT_SHAPE = (28, 28, 1)
N_CLASSES = 10
FILTERS = (16, 32)        # the notebook's FILTERS: two conv blocks (the seed had three: 16, 128, 128)
DENSE_UNITS = 100
SEED_FILTERS = (16, 128, 128)
N_VAL, SPLIT_SEED = 5000, 0  # the notebook's locked data cell


# -- references ---------------------------------------------------------------------------------

def to_inputs(raw):
    """The input convention: uint8 (n, 28, 28) -> float32 in [0, 1], shape (n, 28, 28, 1)."""
    return (np.asarray(raw, dtype=np.float32) / 255.0)[..., None]


def correlate_valid(image, kernel):
    """What a Conv2D layer computes on one channel: no kernel flip, VALID output (H-2, W-2)."""
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    kh, kw = kernel.shape
    h, w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((h, w))
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * image[i:i + h, j:j + w]
    return out


def conv3x3_params_ref(k, l):
    return 9 * k * l + l


def make_hidden(rng):
    """Other inputs: reach the kernel only in the export cell. Each defeats a shortcut the public ones let pass:

    - raw: 3 images (public: 5) whose pixels stay in 0..119: a batch size written as 5, or scaling by the
      batch's own maximum (x / x.max()) instead of 255, gives other values (the public images reach 255).
    - image 12x10, taller than wide (public: 7x9, wider than tall): swapping H and W in the output size, or an
      answer written for 7x9, fails; the kernel is drawn anew (a hard-coded or symmetric kernel fails).
    - conv_pairs: k != l, k = 1, and l < k: a bias per input map (9 k l + k) fails on every pair, an answer
      written for the public (3, 8) fails, and so does one that swaps k and l only in the bias (9 k l + k).
    - model_image: another image: feature_maps that ignores its argument (x_val[0]) fails.
    """
    return {
        "raw": rng.integers(0, 120, size=(3, 28, 28)).astype(np.uint8),
        "image": rng.normal(size=(12, 10)),
        "kernel": rng.normal(size=(3, 3)),
        "conv_pairs": np.array([[1, 32], [32, 64], [64, 7]]),
        "model_image": rng.uniform(0, 1, size=(28, 28, 1)),
    }


# -- 04.dense -----------------------------------------------------------------------------------

def _count(art, name):
    a = art.array(name)
    expect(a.size == 1, tr("{name} should be one number, got an array of shape {shape}").format(name=name,
                                                                                                 shape=a.shape))
    return float(a.ravel()[0])


@check("04.dense", points=1)
def test_dense_params_fashion(art):
    expect_close(_count(art, "params_dense_fashion"), 28 * 28 * 100 + 100,
                 tr("parameters of Dense(100) on a flattened 28x28 image (weights + biases)"), rtol=0, atol=0.5)


@check("04.dense", points=1)
def test_dense_params_photo(art):
    expect_close(_count(art, "params_dense_photo"), 2000 * 1000 * 100 + 100,
                 tr("parameters of Dense(100) on a flattened 2000x1000 grey photo (weights + biases)"),
                 rtol=0, atol=0.5)


# -- 04.inputs ----------------------------------------------------------------------------------

def _expect_inputs(got, raw, what):
    expected = to_inputs(raw)
    expect_shape(got, expected.shape, what)
    if got.max() > 1.5:
        raise CheckFailure(tr("{what}: pixel values go up to {largest:.4g}, expected them scaled to [0, 1] (divide by "
                              "255)").format(what=what, largest=got.max()))
    expect_close(got, expected, what, rtol=1e-5, atol=1e-6)
    expect(got.dtype == np.float32, tr("{what} has dtype {dtype}, expected float32").format(what=what, dtype=got.dtype))


@check("04.inputs", points=2)
def test_preprocess(art):
    _expect_inputs(art.array("preprocess_public"), public_raw_images(), tr("preprocess(5 uint8 images)"))


@check("04.inputs", points=1, hidden=True)
def test_preprocess_other_images(art):
    _expect_inputs(art.array("preprocess_hidden"), art.hidden("raw"), tr("preprocess(3 other images)"))


# -- 04.filter ----------------------------------------------------------------------------------

def _expect_filtered(got, image, kernel, what):
    got = np.asarray(got, dtype=float)
    expected = correlate_valid(image, kernel)
    if got.shape == np.shape(image):
        raise CheckFailure(tr("{what} has shape {shape}, the input's own size (SAME); expected the VALID size "
                              "{valid}: a 3x3 filter fits H-2 x W-2 times").format(what=what, shape=got.shape,
                                                                                   valid=expected.shape))
    expect_shape(got, expected.shape, what)
    flipped = correlate_valid(image, np.asarray(kernel)[::-1, ::-1])
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-6) and np.allclose(got, flipped, rtol=1e-5, atol=1e-6):
        raise CheckFailure(tr("{what} matches the kernel flipped (a mathematical convolution); a Conv2D layer, and "
                              "this exercise, slide the kernel as it is: out[i, j] = sum(image[i:i+3, j:j+3] * kernel)"
                              ).format(what=what))
    expect_close(got, expected, what, rtol=1e-5, atol=1e-6)


@check("04.filter", points=1)
def test_convolve_output_size(art):
    image, kernel = public_filter_inputs()
    got = art.array("convolve_public")
    valid = (image.shape[0] - 2, image.shape[1] - 2)
    expect(got.shape != image.shape, tr("convolve3x3 on a {shape} image returned {got}, the input's size (SAME); "
                                        "expected the VALID size {valid}").format(shape=image.shape, got=got.shape,
                                                                                  valid=valid))
    expect_shape(got, valid, tr("convolve3x3 on a {shape} image").format(shape=image.shape))


@check("04.filter", points=2)
def test_convolve_values(art):
    image, kernel = public_filter_inputs()
    _expect_filtered(art.array("convolve_public"), image, kernel, tr("convolve3x3(image 7x9, kernel)"))


@check("04.filter", points=2, hidden=True)
def test_convolve_other_inputs(art):
    _expect_filtered(art.array("convolve_hidden"), art.hidden("image"), art.hidden("kernel"),
                     tr("convolve3x3 on another image (12x10) and kernel"))


# -- 04.params ----------------------------------------------------------------------------------

@check("04.params", points=1)
def test_conv_params_formula(art):
    k, l = PUBLIC_CONV_PAIR
    expect_close(_count(art, "conv_params_public"), conv3x3_params_ref(k, l),
                 f"conv3x3_params(k={k}, l={l})", rtol=0, atol=0.5)


@check("04.params", points=2)
def test_seed_conv_params(art):
    got = art.array("seed_conv_params").astype(float).ravel()
    channels = (1,) + SEED_FILTERS
    expected = [conv3x3_params_ref(k, l) for k, l in zip(channels[:-1], channels[1:])]
    if got.shape == (3,) and np.allclose(got, [9 * k * l for k, l in zip(channels[:-1], channels[1:])]):
        raise CheckFailure(tr("workshop_conv_params is {got}: the biases are missing (one per output map)").format(
            got=got.astype(int).tolist()))
    expect_close(got, expected, tr("workshop_conv_params (conv layers 1, 2, 3 of the original workshop's network)"),
                 rtol=0, atol=0.5)


@check("04.params", points=1, hidden=True)
def test_conv_params_other_sizes(art):
    pairs = art.hidden("conv_pairs")
    expect_close(art.array("conv_params_hidden").astype(float).ravel(),
                 [conv3x3_params_ref(k, l) for k, l in pairs],
                 tr("conv3x3_params on (k, l) = {pairs}").format(pairs=[tuple(int(v) for v in p) for p in pairs]),
                 rtol=0, atol=0.5)


# -- 04.model: structure, read from the exported model ------------------------------------------

def _tuple(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def _flat_layers(model):
    """The model's layers, with the layers of a nested model (a block written as a Sequential) in its place."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional", "Model"):
            out += _flat_layers(layer)
        else:
            out.append(layer)
    return out


def layer_steps(model):
    """The model as a flat list of steps: ("conv", layer), ("pool", layer), ("relu",), ("flatten",),
    ("dense", layer), ("softmax",), ("other", name). Activations inside a layer become their own step."""
    steps = []
    for layer in _flat_layers(model):
        kind = type(layer).__name__
        cfg = layer.get_config()
        act = cfg.get("activation")
        act = act if isinstance(act, str) or act is None else str(act)
        if kind == "InputLayer" or kind == "Dropout":
            continue
        if kind == "Conv2D":
            steps.append(("conv", layer))
        elif kind == "MaxPooling2D":
            steps.append(("pool", layer))
        elif kind == "ReLU":
            plain = not cfg.get("max_value") and not cfg.get("negative_slope") and not cfg.get("threshold")
            steps.append(("relu",) if plain else ("other", "ReLU with options"))
            act = None
        elif kind == "Activation":
            pass
        elif kind == "Flatten":
            steps.append(("flatten",))
        elif kind == "Dense":
            steps.append(("dense", layer))
        elif kind == "Softmax":
            steps.append(("softmax",))
        else:
            steps.append(("other", kind))
        if act == "relu":
            steps.append(("relu",))
        elif act == "softmax":
            steps.append(("softmax",))
        elif act not in (None, "linear"):
            steps.append(("other", f"activation {act}"))
    return steps


def describe(steps) -> str:
    out = []
    for s in steps:
        if s[0] == "conv":
            c = s[1].get_config()
            k = _tuple(c["kernel_size"])
            out.append(f"Conv2D({c['filters']}, {k[0]}x{k[1]}, {c['padding']})")
        elif s[0] == "pool":
            p = _tuple(s[1].get_config()["pool_size"])
            out.append(f"MaxPool({p[0]}x{p[1]})")
        elif s[0] == "dense":
            out.append(f"Dense({s[1].get_config()['units']})")
        elif s[0] == "other":
            out.append(str(s[1]))
        else:
            out.append(s[0])
    return " -> ".join(out)


def _layers(art, kind):
    return [s[1] for s in layer_steps(art.model("model")) if s[0] == kind]


def _convs(art):
    convs = _layers(art, "conv")
    expect(convs, tr("the model has no Conv2D layer: {model}").format(model=describe(layer_steps(art.model("model")))))
    return convs


def expected_shapes():
    """Output shapes of (conv, pool) per block, then the flattened size, for 3x3 VALID convs and 2x2 pools."""
    side, channels, blocks = INPUT_SHAPE[0], INPUT_SHAPE[2], []
    for f in FILTERS:
        conv = side - 2
        side = conv // 2
        blocks.append(((conv, conv, f), (side, side, f)))
        channels = f
    return blocks, side * side * channels


def expected_param_counts():
    counts, channels = [], INPUT_SHAPE[2]
    for f in FILTERS:
        counts.append(conv3x3_params_ref(channels, f))
        channels = f
    flat = expected_shapes()[1]
    counts += [flat * DENSE_UNITS + DENSE_UNITS, DENSE_UNITS * N_CLASSES + N_CLASSES]
    return counts


@check("04.model", points=1)
def test_model_input_output(art):
    model = art.model("model")
    expect_equal(tuple(model.inputs[0].shape), (None,) + INPUT_SHAPE, tr("the model's input shape"))
    expect_equal(tuple(model.outputs[0].shape), (None, N_CLASSES), tr("the model's output shape"))


@check("04.model", points=1)
def test_conv_kernel_size(art):
    got = [(_tuple(c.get_config()["kernel_size"]), _tuple(c.get_config()["strides"])) for c in _convs(art)]
    expect_equal([k for k, _ in got], [(3, 3)] * len(got), tr("kernel sizes of the Conv2D layers"))
    expect_equal([s for _, s in got], [(1, 1)] * len(got), tr("strides of the Conv2D layers"))


@check("04.model", points=1)
def test_conv_filters(art):
    expect_equal([c.get_config()["filters"] for c in _convs(art)], list(FILTERS),
                 tr("numbers of filters of the Conv2D layers, in order (FILTERS)"))


@check("04.model", points=1)
def test_conv_padding_valid(art):
    expect_equal([c.get_config()["padding"] for c in _convs(art)], ["valid"] * len(_convs(art)),
                 tr("padding of the Conv2D layers"))


def _blocks(steps):
    """Split the steps before Flatten into conv blocks: each a list of step kinds starting at a conv."""
    kinds = [s[0] for s in steps]
    end = kinds.index("flatten") if "flatten" in kinds else len(kinds)
    blocks = []
    for k in kinds[:end]:
        if k == "conv" or not blocks:
            blocks.append([])
        blocks[-1].append(k)
    return blocks


@check("04.model", points=1)
def test_max_pooling(art):
    steps = layer_steps(art.model("model"))
    pools = [s[1] for s in steps if s[0] == "pool"]
    sizes = [(_tuple(p.get_config()["pool_size"]), _tuple(p.get_config()["strides"] or p.get_config()["pool_size"]))
             for p in pools]
    for size, stride in sizes:
        expect(size == (2, 2) and stride == (2, 2), tr("a MaxPooling2D has pool {size} and strides {stride}, expected "
                                                       "2x2").format(size=size, stride=stride))
    per_block = [b.count("pool") for b in _blocks(steps)]
    expect(per_block == [1] * len(FILTERS),
           tr("max-pooling per conv block: {per_block}, expected one 2x2 MaxPooling2D after each of the {count} "
              "convolutions; the model is {model}").format(per_block=per_block, count=len(FILTERS),
                                                           model=describe(steps)))


@check("04.model", points=1)
def test_relu_activations(art):
    steps = layer_steps(art.model("model"))
    per_block = [b.count("relu") for b in _blocks(steps)]
    expect(per_block == [1] * len(FILTERS),
           tr("ReLU per conv block: {per_block}, expected one in each of the {count} blocks; the model is {model}"
              ).format(per_block=per_block, count=len(FILTERS), model=describe(steps)))
    kinds = [s[0] for s in steps]
    dense_idx = [i for i, k in enumerate(kinds) if k == "dense"]
    expect(dense_idx and dense_idx[0] + 1 < len(kinds) and kinds[dense_idx[0] + 1] == "relu",
           tr("the hidden Dense layer should be followed by a ReLU; the model is {model}").format(
               model=describe(steps)))


@check("04.model", points=1)
def test_dense_head(art):
    steps = layer_steps(art.model("model"))
    kinds = [s[0] for s in steps]
    expect("flatten" in kinds, tr("no Flatten layer before the dense layers; the model is {model}").format(
        model=describe(steps)))
    head = [s for s in steps[kinds.index("flatten") + 1:] if s[0] != "relu"]
    units = [s[1].get_config()["units"] if s[0] == "dense" else s[0] for s in head]
    if units and units[-1] == "softmax":
        units = units[:-1]
    expect_equal(units, [DENSE_UNITS, N_CLASSES], tr("the layers after Flatten (Dense units)"))
    expect(not [s for s in steps[kinds.index("flatten"):] if s[0] in ("conv", "pool")],
           tr("convolutions or pooling after Flatten; the model is {model}").format(model=describe(steps)))


@check("04.model", points=1)
def test_output_logits(art):
    steps = layer_steps(art.model("model"))
    kinds = [s[0] for s in steps]
    last = max((i for i, k in enumerate(kinds) if k == "dense"), default=None)
    after = [s[1] if s[0] == "other" else s[0] for s in steps[last + 1:]] if last is not None else []
    if "softmax" in after:
        raise CheckFailure(
            tr("the model ends with a softmax; expected logits: Dense(10) with no activation. The loss "
               "SparseCategoricalCrossentropy(from_logits=True) applies the softmax itself (with both, Keras silently "
               "trains on the values before your softmax, so accuracy does not show the mistake)"))
    expect(not after, tr("after the last Dense layer the model applies {after}; expected logits: Dense(10) with no "
                         "activation. The model is {model}").format(after=after, model=describe(steps)))


@check("04.model", points=1, hidden=True)
def test_output_shapes(art):
    blocks, flat = expected_shapes()
    expect_equal([tuple(c.output.shape[1:]) for c in _convs(art)], [b[0] for b in blocks],
                 tr("output shapes of the Conv2D layers"))
    expect_equal([tuple(p.output.shape[1:]) for p in _layers(art, "pool")], [b[1] for b in blocks],
                 tr("output shapes of the MaxPooling2D layers"))
    dense = _layers(art, "dense")
    expect(dense, tr("the model has no Dense layer"))
    expect_equal(int(dense[0].input.shape[-1]), flat, tr("size of the flattened features entering Dense(100)"))


@check("04.model", points=1, hidden=True)
def test_parameter_count(art):
    model = art.model("model")
    layers = _convs(art) + _layers(art, "dense")
    expect_equal([int(layer.count_params()) for layer in layers], expected_param_counts(),
                 tr("parameters of the Conv2D and Dense layers, in order"))
    expect_equal(int(model.count_params()), sum(expected_param_counts()), tr("the model's total parameter count"))


# -- 04.train: how it was trained (from the saved .keras file), and accuracy, computed here ---------

N_TRAIN = 55000          # len(train_idx): the training images, without the 5,000 validation ones
EPOCHS, BATCH_SIZE, LEARNING_RATE = 2, 128, 3e-3   # the notebook's locked training constants


def n_steps(n_images, epochs=EPOCHS, batch=BATCH_SIZE):
    return epochs * -(-n_images // batch)


def training_record(art) -> dict:
    """What the saved .keras file records of training: its compile config (optimizer, loss, metrics) and the
    optimizer's `iterations` (update steps = epochs x batches). Read from the zip's config.json and weights file."""
    def read():
        import io
        import json
        import zipfile

        import h5py

        with zipfile.ZipFile(art.path("model", ".keras")) as z:
            config = json.loads(z.read("config.json"))
            names = z.namelist()
            iterations = None
            if "model.weights.h5" in names:
                with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                    if "optimizer" in f and "vars" in f["optimizer"]:
                        var = f["optimizer"]["vars"]
                        if "0" in var:
                            iterations = int(np.asarray(var["0"]).ravel()[0])
        return {"compile": config.get("compile_config"), "iterations": iterations}

    return art.cached("training_record", read)


def _steps_cause(got):
    """The likely cause of a number of update steps other than 2 x 430."""
    if got == 0:
        return tr("the model was compiled but never trained (model.fit did not run)")
    together = tr("on x_train and x_val together (the validation images must stay unseen)")
    for batch in (BATCH_SIZE, 32, 64, 256, 512):        # the asked batch size first: 1,720 is 4 epochs, not 64s
        for n, what in ((N_TRAIN, ""), (N_TRAIN + 5000, together)):
            for epochs in range(1, 21):
                if n_steps(n, epochs, batch) == got and (n, epochs, batch) != (N_TRAIN, EPOCHS, BATCH_SIZE):
                    parts = []
                    if epochs != EPOCHS:
                        count = (tr("{count} epoch") if epochs == 1 else tr("{count} epochs")).format(count=epochs)
                        parts.append((tr("{epochs} (EPOCHS is {EPOCHS}; or fit was called more than once)")
                                      if epochs > EPOCHS else tr("{epochs} (EPOCHS is {EPOCHS})")).format(
                            epochs=count, EPOCHS=EPOCHS))
                    if batch != BATCH_SIZE:
                        parts.append((tr("batches of {batch} (Keras' default)") if batch == 32
                                      else tr("batches of {batch}")).format(batch=batch))
                    parts += [what] if what else []
                    return tr("that is training {how}").format(how=", ".join(parts))
    return tr("{got} steps is not 2 epochs of batches of {BATCH_SIZE} on the {N_TRAIN:,} training images (a fit on a "
              "subset of x_train?)").format(got=got, BATCH_SIZE=BATCH_SIZE, N_TRAIN=N_TRAIN)


@check("04.train", points=1)
def test_training_steps(art):
    got = training_record(art)["iterations"]
    expected = n_steps(N_TRAIN)
    if got is None:
        raise CheckFailure(tr("the saved model has no optimizer state: compile and fit `model` itself (model.compile, "
                              "then model.fit), not a copy of it"))
    expect(got == expected,
           tr("the optimizer of `model` made {got} update steps, expected {expected} = EPOCHS ({EPOCHS}) x {batches} "
              "batches of BATCH_SIZE ({BATCH_SIZE}) on the {N_TRAIN:,} images of x_train: {cause}").format(
               got=fmt(got), expected=fmt(expected), EPOCHS=EPOCHS, batches=fmt(n_steps(N_TRAIN, 1)),
               BATCH_SIZE=BATCH_SIZE, N_TRAIN=N_TRAIN, cause=_steps_cause(got)))


def _class_config(entry):
    """(class name, config) of a serialised Keras object (a dict, or a plain string such as "adam")."""
    if isinstance(entry, dict):
        return str(entry.get("class_name", "")), entry.get("config") or {}
    return str(entry), {}


@check("04.train", points=1)
def test_compile_settings(art):
    compiled = training_record(art)["compile"]
    if not compiled:
        raise CheckFailure(tr("`model` was saved without its compile settings: compile it (model.compile) before "
                              "training"))
    name, opt = _class_config(compiled.get("optimizer"))
    expect(name.lower() == "adam", tr("`model` was compiled with the optimizer {name!r}, expected "
                                      "keras.optimizers.Adam(LEARNING_RATE)").format(name=name))
    lr = opt.get("learning_rate")
    shown = fmt(lr) if isinstance(lr, (int, float)) else tr("a schedule") if isinstance(lr, dict) else repr(lr)
    default = isinstance(lr, (int, float)) and np.isclose(lr, 1e-3)
    expect(isinstance(lr, (int, float)) and np.isclose(float(lr), LEARNING_RATE, rtol=1e-4, atol=0),
           tr("Adam's learning rate is {got}, expected LEARNING_RATE = {expected}{hint}").format(
               got=shown, expected=fmt(LEARNING_RATE),
               hint=tr(" (Keras' default, 0.001: pass LEARNING_RATE to Adam)") if default else ""))
    loss_name, loss = _class_config(compiled.get("loss"))
    expect(loss_name in ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
           tr("`model` was compiled with the loss {loss_name!r}, expected "
              "keras.losses.SparseCategoricalCrossentropy(from_logits=True)").format(loss_name=loss_name))
    expect(loss.get("from_logits") is True,
           tr("the loss has from_logits=False (or not set), expected from_logits=True: the model outputs logits "
              "(Dense(10) with no activation) and the loss applies the softmax"))


def _student_convention(art):
    """(a, b) such that the student's preprocess(raw) is a * raw + b (None if it is not such a map).

    The test images are fed to the model prepared as the student's own preprocess prepares them: a preprocessing
    mistake (say no division by 255) is penalised at 04.inputs, and not a second time through the accuracy of a
    model that was trained, by the locked cells, on images prepared that way."""
    try:
        got = np.asarray(art.array("preprocess_public"), dtype=np.float64).ravel()
    except Exception:
        return None
    raw = public_raw_images().astype(np.float64).ravel()
    if got.size != raw.size or not np.all(np.isfinite(got)):
        return None
    a, b = np.polyfit(raw, got, 1)
    if a <= 0 or not np.allclose(a * raw + b, got, rtol=1e-4, atol=1e-4 * max(1.0, abs(a) * 255)):
        return None
    return float(a), float(b)


def _accuracy(art, split):
    def compute():
        from autograder.data import load_fashion_mnist

        images, labels = load_fashion_mnist("train" if split == "val" else "test")
        if split == "val":
            idx = np.random.default_rng(SPLIT_SEED).permutation(len(images))[:N_VAL]
            images, labels = images[idx], labels[idx]
        model = art.model("model")
        x = to_inputs(images)
        convention = _student_convention(art)
        if convention is not None:
            a, b = convention
            x = (a * np.asarray(images, np.float32) + b).astype(np.float32)[..., None]
        shape = tuple(d for d in model.inputs[0].shape[1:])
        if None not in shape and int(np.prod(shape)) == 28 * 28:
            x = x.reshape((len(x),) + shape)
        out = infer(model, x, batch_size=1000)
        if out.shape != (len(labels), N_CLASSES):
            raise CheckFailure(tr("the model's predictions have shape {shape}, expected {expected}").format(
                shape=out.shape, expected=(len(labels), N_CLASSES)))
        if not np.all(np.isfinite(out)):
            raise CheckFailure(tr("the model predicts NaN: training diverged (NaN loss); check the learning rate and "
                                  "the inputs' scale"))
        return float(np.mean(out.argmax(axis=1) == labels))

    return art.cached(f"accuracy_{split}", compute)


@check("04.train", points=2)
def test_validation_accuracy(art):
    expect_calibrated(art, ASSIGNMENT, "val_accuracy", _accuracy(art, "val"),
                      tr("accuracy on the {N_VAL} validation images (test images prepared as your preprocess "
                         "prepares them)").format(N_VAL=N_VAL))


@check("04.train", points=3, hidden=True)
def test_test_accuracy(art):
    expect_calibrated(art, ASSIGNMENT, "test_accuracy", _accuracy(art, "test"),
                      tr("accuracy on the 10,000 Fashion-MNIST test images (test images prepared as your preprocess "
                         "prepares them)"))


# -- 04.learned: filters and activation maps of the student's own model -------------------------

def _first_conv(art):
    return _convs(art)[0]


def _expect_maps(art, got, image, what):
    conv = _first_conv(art)
    maps = np.asarray(conv(np.asarray(image, np.float32)[None]))[0]
    got = np.asarray(got, dtype=float)
    expect_shape(got, maps.shape, what)
    if np.allclose(got, np.maximum(maps, 0), rtol=1e-3, atol=1e-4):
        return  # after the ReLU is fine too
    expect_close(got, maps, tr("{what} (the first Conv2D layer's output)").format(what=what), rtol=1e-3, atol=1e-4)


@check("04.learned", points=1)
def test_first_layer_filters(art):
    kernel = np.asarray(_first_conv(art).get_weights()[0])  # (3, 3, 1, filters)
    expected = np.transpose(kernel[:, :, 0, :], (2, 0, 1))
    expect_close(art.array("first_filters"), expected,
                 tr("first_layer_filters(model): the first Conv2D kernels, shape (filters, 3, 3)"),
                 rtol=1e-5, atol=1e-6)


@check("04.learned", points=1)
def test_feature_maps(art):
    _expect_maps(art, art.array("feature_maps_public"), public_model_image(), tr("feature_maps(model, image)"))


@check("04.learned", points=1, hidden=True)
def test_feature_maps_other_image(art):
    _expect_maps(art, art.array("feature_maps_hidden"), art.hidden("model_image"),
                 tr("feature_maps(model, another image)"))
