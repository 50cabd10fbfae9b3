"""Wrong submissions of practical 04 that must lose points at named checks (`autograder ci` grades them).

Each entry: (id, edits to the answer key as (old, new) code replacements, the checks that must not pass;
every other check must pass). tests/test_p04_convnet.py checks the same mistakes on the key's exported files,
without retraining.
"""

FIT = "history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2)"
SCALE = "(images.astype(np.float32) / 255.0)[..., np.newaxis]"

WRONG = [
    # how it was trained: invisible to the accuracy thresholds, visible in the saved optimizer and compile config
    ("train-plus-validation", [(FIT, "history = model.fit(np.concatenate([x_train, x_val]), np.concatenate([y_train, "
                                     "y_val]), epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2)")],
     {"training_steps"}),                                   # 2 x 469 = 938 steps, not 860
    ("default-batch-size", [(FIT, "history = model.fit(x_train, y_train, epochs=EPOCHS, verbose=2)")],
     {"training_steps"}),                                   # batches of 32: 3,438 steps
    ("default-learning-rate", [("optimizer=keras.optimizers.Adam(LEARNING_RATE)", "optimizer=keras.optimizers.Adam()")],
     {"compile_settings"}),
    ("softmax-with-from-logits", [("keras.layers.Dense(N_CLASSES)]", "keras.layers.Dense(N_CLASSES, activation=\"softmax\")]")],
     {"output_logits"}),                                    # Keras trains on the pre-softmax values: same accuracy
    ("softmax-and-probability-loss", [("keras.layers.Dense(N_CLASSES)]", "keras.layers.Dense(N_CLASSES, activation=\"softmax\")]"),
                                      ("from_logits=True", "from_logits=False")],
     {"output_logits", "compile_settings"}),                # two instructions not followed, each lost once
    # hidden inputs: each defeats one shortcut that the public inputs let pass
    ("scale-by-batch-maximum", [(SCALE, "(images.astype(np.float32) / images.max())[..., np.newaxis]")],
     {"preprocess_other_images"}),                          # public images reach 255, the hidden ones stop at 119
    ("bias-per-input-map", [("return 9 * k * l + l", "return 9 * k * l + k")],
     {"conv_params_formula", "conv_params_other_sizes", "seed_conv_params"}),
    ("conv-params-hard-coded", [("return 9 * k * l + l", "return 224 if (k, l) == (3, 8) else 9 * k * l + k")],
     {"conv_params_other_sizes", "seed_conv_params"}),     # right on the public pair only
    ("feature-maps-ignore-image", [("first_conv_layer(model)(image[np.newaxis])", "first_conv_layer(model)(x_val[:1])")],
     {"feature_maps", "feature_maps_other_image"}),
    ("output-size-swapped", [("h, w = image.shape[0] - 2, image.shape[1] - 2", "h, w = image.shape[1] - 2, image.shape[0] - 2")],
     {"convolve_output_size", "convolve_values", "convolve_other_inputs"}),  # the locked 28x28 cell still runs
    # the accuracy is measured on test images prepared the same way, yet a network trained on 0..255 pixels learns
    # less in 2 epochs (measured by `autograder ci`): the accuracy checks report that real consequence
    ("pixels-not-scaled", [(SCALE, "images.astype(np.float32)[..., np.newaxis]")],
     {"preprocess", "preprocess_other_images", "test_accuracy", "validation_accuracy"}),
    ("same-padding", [('Conv2D(filters, 3, padding="valid")', 'Conv2D(filters, 3, padding="same")')],
     {"conv_padding_valid", "output_shapes", "parameter_count"}),
]
