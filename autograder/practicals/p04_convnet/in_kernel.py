"""Export of practical 04 (convnets): parameter counts, the 3x3 filter, preprocessing, the trained model.

Public inputs are drawn here from fixed seeds; the checks module draws the same ones (it imports these
functions) and computes what they should give. Nothing is trained here: the model is the notebook's.
"""


def public_raw_images():
    """A small batch of uint8 images, as load_fashion_mnist returns them."""
    import numpy as np

    return np.random.default_rng(404).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


def public_filter_inputs():
    """A non-square image and an asymmetric 3x3 kernel: a flipped kernel or a SAME output shows."""
    import numpy as np

    rng = np.random.default_rng(4)
    image = rng.uniform(0, 1, size=(7, 9))
    kernel = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [-2.0, 0.5, 1.0]])
    return image, kernel


def public_model_image():
    """A float image in the notebook's input convention: (28, 28, 1) in [0, 1]."""
    import numpy as np

    return np.random.default_rng(44).uniform(0, 1, size=(28, 28, 1)).astype(np.float32)


PUBLIC_CONV_PAIR = (3, 8)  # conv3x3_params(k=3, l=8)


def export(ex):
    import numpy as np

    g = ex.get
    h = ex.hidden
    with ex.question("04.dense"):
        ex.array("params_dense_fashion", lambda: g("params_dense_fashion"))
        ex.array("params_dense_photo", lambda: g("params_dense_photo"))
    with ex.question("04.inputs", "04.train"):
        # 04.train reads it too: the test images are fed to the model prepared as the student's preprocess does,
        # so a preprocessing mistake costs points at 04.inputs only
        ex.array("preprocess_public", lambda: g("preprocess")(public_raw_images()))
    with ex.question("04.inputs"):
        if h is not None:
            ex.array("preprocess_hidden", lambda: g("preprocess")(h["raw"].astype(np.uint8)))
    with ex.question("04.filter"):
        image, kernel = public_filter_inputs()
        ex.array("convolve_public", lambda: g("convolve3x3")(image.copy(), kernel.copy()))
        if h is not None:
            ex.array("convolve_hidden", lambda: g("convolve3x3")(h["image"].copy(), h["kernel"].copy()))
    with ex.question("04.params"):
        ex.array("conv_params_public", lambda: g("conv3x3_params")(*PUBLIC_CONV_PAIR))
        ex.array("seed_conv_params", lambda: g("workshop_conv_params"))
        if h is not None:
            ex.array("conv_params_hidden",
                     lambda: [g("conv3x3_params")(int(k), int(l)) for k, l in h["conv_pairs"]])
    with ex.question("04.model", "04.train", "04.learned"):
        ex.keras("model", lambda: g("model"))
    with ex.question("04.learned"):
        ex.array("first_filters", lambda: g("first_layer_filters")(g("model")))
        ex.array("feature_maps_public", lambda: g("feature_maps")(g("model"), public_model_image()))
        if h is not None:
            ex.array("feature_maps_hidden",
                     lambda: g("feature_maps")(g("model"), h["model_image"].astype(np.float32)))
