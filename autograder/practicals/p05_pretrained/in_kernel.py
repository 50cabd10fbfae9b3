"""Export of practical 05 (pretrained networks): arrays, model summaries and the small Keras models.

InceptionV3 itself (92 MB) is never exported: only its input/output shapes and those of the cut, as JSON, and
what the notebook computed with it. The small models (extractor, pixel, transfer, fine-tuned) are exported in
Keras' format; the grader reloads them in safe mode and measures them on the test split itself.
"""


def _summary(model):
    """Shapes and cut point of a Keras model (JSON: None for an open dimension)."""
    def shape(t):
        return [None if d is None else int(d) for d in t.shape]

    last = model.layers[-1]
    return {"input_shape": shape(model.inputs[0]), "output_shape": shape(model.outputs[0]),
            "n_inputs": len(model.inputs), "n_outputs": len(model.outputs), "layers": len(model.layers),
            "last_layer": last.name, "last_layer_class": type(last).__name__, "params": int(model.count_params())}


PUBLIC_SEED = 505  # the checks import it: they draw the same public probabilities
LAYER_COUNTS = ("n_batchnorm", "n_dropout", "n_add", "n_concatenate")   # 05.layers: the notebook's names
LAYER_KINDS = ("Dense", "BatchNormalization", "Dropout", "Add", "Concatenate")  # codes of the hidden network


def public_probs():
    import numpy as np

    return np.random.default_rng(PUBLIC_SEED).dirichlet(np.full(1000, 0.05), size=4).astype(np.float32)


def hidden_network(codes):
    """A small functional network whose layers follow ``codes`` (indices into LAYER_KINDS; make_hidden draws them):
    an Add is a residual connection around a new Dense, a Concatenate stacks a new Dense's output beside its input."""
    import keras
    from keras import layers

    x = inputs = keras.Input((8,))
    for code in codes:
        kind = LAYER_KINDS[int(code)]
        if kind == "Dense":
            x = layers.Dense(8)(x)
        elif kind == "BatchNormalization":
            x = layers.BatchNormalization()(x)
        elif kind == "Dropout":
            x = layers.Dropout(0.25)(x)
        elif kind == "Add":
            x = layers.Add()([x, layers.Dense(x.shape[-1])(x)])
        else:
            x = layers.Concatenate()([x, layers.Dense(4)(x)])
    return keras.Model(inputs, x)


def _named_layer(model, name):
    """[name, its class in ``model``] (class None when ``model`` has no layer of that name)."""
    found = [layer for layer in model.layers if layer.name == str(name)]
    return [str(name), type(found[0]).__name__ if found else None]


def export(ex):
    g = ex.get
    h = ex.hidden
    with ex.question("05.preprocess", "05.inception"):
        ex.array("x_photos", lambda: g("x_photos"))  # 05.inception: was photo_features' input of the wrong size?
    with ex.question("05.preprocess"):
        if h is not None:
            ex.array("preprocess_hidden", lambda: g("preprocess")(h["images"].copy()))
    with ex.question("05.inception"):
        ex.json("inception", lambda: _summary(g("inception")))
        ex.json("inception_extractor", lambda: _summary(g("inception_extractor")))
    with ex.question("05.inception", "05.imagenet"):
        ex.array("photo_features", lambda: g("photo_features"))
    with ex.question("05.imagenet"):
        ex.json("imagenet_loaded", lambda: bool(g("IMAGENET")))
    with ex.question("05.imagenet"):  # not 05.top5: a wrong x_photos can crash the locked cell that makes them
        ex.array("top_idx", lambda: g("top_idx"))
        ex.array("top_p", lambda: g("top_p"))
    with ex.question("05.top5"):
        public = {}

        def top5_public(i):
            if "r" not in public:
                public["r"] = g("top5")(public_probs())
            return public["r"][i]

        ex.array("top5_public_idx", lambda: top5_public(0))
        ex.array("top5_public_p", lambda: top5_public(1))
        if h is not None:
            top = {}

            def top5_hidden(i):
                if "r" not in top:
                    top["r"] = g("top5")(h["probs"].copy())
                return top["r"][i]

            ex.array("top5_hidden_idx", lambda: top5_hidden(0))
            ex.array("top5_hidden_p", lambda: top5_hidden(1))

    with ex.question("05.layers"):
        ex.json("layer_counts", lambda: {name: int(g(name)) for name in LAYER_COUNTS})
        ex.json("layer_names", lambda: {"batchnorm": _named_layer(g("inception"), g("batchnorm_name")),
                                        "merge": _named_layer(g("inception"), g("merge_name"))})
        if h is not None:
            def count_hidden():
                import keras

                net = hidden_network(h["layer_codes"])
                return {kind: int(g("count_layers")(net, getattr(keras.layers, kind))) for kind in LAYER_KINDS}

            ex.json("count_layers_hidden", count_hidden)

    with ex.question("05.cut", "05.features", "05.transfer"):
        ex.array("x_train", lambda: g("x_train"))
    with ex.question("05.features", "05.transfer"):
        ex.array("y_train", lambda: g("y_train"))
    # 05.features and 05.transfer judge train_features and transfer_model against the student's own extractor:
    # a wrong cut is lost at 05.cut only
    with ex.question("05.cut", "05.features", "05.transfer"):
        ex.keras("extractor", lambda: g("extractor"))
    with ex.question("05.features"):
        ex.array("train_features", lambda: g("train_features"))
    with ex.question("05.pixels", "05.transfer"):
        ex.keras("pixel_model", lambda: g("pixel_model"))
    with ex.question("05.transfer"):
        ex.keras("transfer_model", lambda: g("transfer_model"))
    with ex.question("05.finetune"):
        ex.keras("finetuned_model", lambda: g("finetuned_model"))
