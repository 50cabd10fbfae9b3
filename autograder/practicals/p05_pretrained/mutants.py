"""Wrong submissions of practical 05 that must lose points at named checks (`autograder ci` grades them).

Each entry: (id, edits to the answer key as (old, new) code replacements, the checks that must not pass;
every other check must pass; the ImageNet checks are skipped where the grader has no ImageNet weights).
tests/test_p05_pretrained.py checks the same mistakes on the key's exported files, without retraining.
"""

PREPROCESS = "return keras.applications.inception_v3.preprocess_input(x)"
FREEZE = "extractor.trainable = False"
FT_COMPILE = "finetuned_model.compile(optimizer=keras.optimizers.Adam(0.0001)"
FT_FIT = "finetuned_model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)"

WRONG = [
    # hidden inputs: each defeats one shortcut that the public inputs let pass
    ("scale-by-batch-range", [(PREPROCESS, "return (x - x.min()) / (x.max() - x.min()) * 2 - 1")],
     {"preprocess_values", "preprocess_other_images"}),  # the kitten reaches 231 only, the hidden images 40..199
    ("top5-unsorted", [("indices = np.argsort(probs, axis=1)[:, ::-1][:, :5]",
                        "indices = np.argsort(probs, axis=1)[:, -5:]")],
     {"top5_sorted", "top5_other_inputs"}),
    # a wrong input size: the locked top-5 cell may crash on it; top5 itself is judged on the grader's probabilities
    ("input-size-224", [("IMAGE_SIZE = (299, 299)", "IMAGE_SIZE = (224, 224)")],
     {"preprocess_shape", "preprocess_values", "preprocess_other_images"}),
    # 05.layers: InceptionV3's branch merges are concatenations, not residual additions
    ("residual-counted-as-concatenate", [("n_add = count_layers(inception, layers.Add)",
                                          "n_add = count_layers(inception, layers.Concatenate)")],
     {"layers_other_counts"}),
    # InceptionV3's own numbers written into count_layers: right on InceptionV3, wrong on the hidden network
    ("count-layers-hard-coded", [("return sum(isinstance(layer, layer_class) for layer in model.layers)",
                                  "return {layers.BatchNormalization: 94, layers.Concatenate: 15}.get(layer_class, 0)")],
     {"count_layers_other_network"}),
    # freezing is asked at 05.cut: lost there only, not again at 05.transfer
    ("extractor-not-frozen", [(FREEZE, "pass")], {"cut_frozen"}),
    # fine-tuning schedule, read from the saved optimizer and compile config
    ("finetune-default-learning-rate", [(FT_COMPILE, "finetuned_model.compile(optimizer=keras.optimizers.Adam(0.001)")],
     {"finetune_schedule"}),
    ("finetune-twenty-epochs", [(FT_FIT, FT_FIT.replace("epochs=10", "epochs=20"))], {"finetune_schedule"}),
]
