"""Wrong submissions of practical 01 that must lose points at named checks (tests and `autograder ci` use them).

Each entry: (id, edits to the answer key as (old, new) code replacements in its solution cells, the checks that
must not pass; every other check must pass). tests/test_p01_sklearn.py adds variants made on exported files.
"""

FIT_FINAL = "final_model = LogisticRegression(max_iter=1000).fit(X64[idx_train], labels[idx_train])"

WRONG = [
    # x and y swapped inside fit_line: the regression of length on width (fit_per_group reuses it)
    ("swapped-x-and-y", [("reg = LinearRegression().fit(x.reshape(-1, 1), y)",
                          "reg = LinearRegression().fit(y.reshape(-1, 1), x)")],
     {"regression_coefficients", "fit_line_other_inputs", "per_species_coefficients", "fit_per_group_other_inputs"}),
    ("per-group-without-mask", [("fit_line(x[groups == g], y[groups == g])", "fit_line(x, y)")],
     {"per_species_coefficients", "fit_per_group_other_inputs"}),
    ("images-and-data-confused", [("images_shape = digits.images.shape\ndata_shape = digits.data.shape",
                                   "images_shape = digits.data.shape\ndata_shape = digits.images.shape")],
     {"images_and_data_shapes"}),
    # column-major flattening: X2 then holds the transposed pixels, and clf2 learns from them
    ("transposed-pixel-index", [("return 8 * row + col", "return 8 * col + row")],
     {"pixel_index_values", "two_pixel_features", "two_pixel_coefficients"}),
    ("counts-correct-predictions", [("np.asarray(y_true) != np.asarray(y_pred)", "np.asarray(y_true) == np.asarray(y_pred)")],
     {"two_pixel_training_errors", "all_pixel_training_errors", "count_errors_other_labels"}),
    ("validation-inside-test", [("idx_val = order[N_TRAIN:N_TRAIN + N_VAL]", "idx_val = order[-N_VAL:]")],
     {"split_disjoint"}),
    ("best-training-k", [("best_k = KS[int(np.argmax(val_acc))]", "best_k = KS[int(np.argmax(train_acc))]")],
     {"best_k_supported"}),
    ("final-model-trained-on-test-too", [(FIT_FINAL, FIT_FINAL.replace("X64[idx_train], labels[idx_train]",
                                                                      "X64[np.r_[idx_train, idx_test]], "
                                                                      "labels[np.r_[idx_train, idx_test]]"))],
     {"final_trained_on_train_split"}),
]
