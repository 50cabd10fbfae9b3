"""Wrong submissions of practical 01 that must lose points at named checks (tests and `autograder ci` use them).

Each entry: (id, edits to the answer key as (old, new) code replacements in its solution cells, the checks that
must not pass; every other check must pass). tests/test_p01_sklearn.py adds variants made on exported files.
A mistake loses points once, at the question that names it: later questions use the reference upstream.
"""

FIT_FINAL = "final_model = LogisticRegression(max_iter=1000).fit(X64[idx_train], labels[idx_train])"
PER_GROUP = "fits = [fit_line(x[groups == g], y[groups == g]) for g in np.unique(groups)]"
COUNT = "return int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))"
SPLIT = ("order = rng.permutation(len(labels))\nidx_train = order[:N_TRAIN]\nidx_val = order[N_TRAIN:N_TRAIN + N_VAL]\n"
         "idx_test = order[N_TRAIN + N_VAL:]")

# a test split chosen by label: 137 of the 178 zeros, drawn with rng (spread over the file: only the class balance
# betrays it), the rest shuffled into training and validation
ONE_DIGIT_SPLIT = ("idx_test = rng.choice(np.flatnonzero(labels == 0), N_TEST, replace=False)\n"
                   "order = rng.permutation(np.setdiff1d(np.arange(len(labels)), idx_test))\n"
                   "idx_train = order[:N_TRAIN]\nidx_val = order[N_TRAIN:]")
# a model never fitted: weights set by hand so that it always predicts 0
UNTRAINED_FINAL = ("final_model = LogisticRegression(max_iter=1000)\nfinal_model.classes_ = np.array([0, 1, 2])\n"
                   "final_model.coef_ = np.zeros((3, 64))\nfinal_model.intercept_ = np.array([1.0, 0.0, 0.0])")
SPLIT_CHECKS = {"split_sizes", "split_disjoint", "split_shuffled"}

WRONG = [
    # x and y swapped inside fit_line: the regression of length on width (fit_per_group, which reuses it, is
    # judged with the reference fit_line)
    ("swapped-x-and-y", [("reg = LinearRegression().fit(x.reshape(-1, 1), y)",
                          "reg = LinearRegression().fit(y.reshape(-1, 1), x)")],
     {"regression_coefficients", "fit_line_other_inputs"}),
    # shortcut: the notebook's iris points instead of the arguments (hidden points are other values)
    ("fit-line-on-notebook-data", [("reg = LinearRegression().fit(x.reshape(-1, 1), y)",
                                    "reg = LinearRegression().fit(iris.data[:, 2:3], iris.data[:, 3])")],
     {"fit_line_other_inputs"}),
    ("per-group-without-mask", [("fit_line(x[groups == g], y[groups == g])", "fit_line(x, y)")],
     {"per_species_coefficients", "fit_per_group_other_inputs"}),
    # shortcut: groups assumed to be 0..k-1 (hidden groups are 9, 2, 5)
    ("per-group-range", [(PER_GROUP, "fits = [fit_line(x[groups == g], y[groups == g]) for g in range(3)]")],
     {"fit_per_group_other_inputs"}),
    # shortcut: groups in order of first appearance (hidden groups first appear as 9, 2, 5)
    ("per-group-first-appearance", [(PER_GROUP, "fits = [fit_line(x[groups == g], y[groups == g]) "
                                                "for g in dict.fromkeys(groups.tolist())]")],
     {"fit_per_group_other_inputs"}),
    ("images-and-data-confused", [("images_shape = digits.images.shape\ndata_shape = digits.data.shape",
                                   "images_shape = digits.data.shape\ndata_shape = digits.images.shape")],
     {"images_and_data_shapes"}),
    # column-major flattening: penalised at pixel_index only (X2 built with it, and clf2 fitted on that X2, are
    # consistent with the student's own pixel_index)
    ("transposed-pixel-index", [("return 8 * row + col", "return 8 * col + row")], {"pixel_index_values"}),
    # penalised at 01.two_pixels (where count_errors is asked); train_errors_64 counted with it is consistent
    ("counts-correct-predictions", [("np.asarray(y_true) != np.asarray(y_pred)", "np.asarray(y_true) == np.asarray(y_pred)")],
     {"two_pixel_training_errors", "count_errors_other_labels"}),
    # shortcut: |y_true - y_pred| summed (an error between 0 and 2 counts twice; hidden labels are 3, 7, 12, 40)
    ("count-errors-by-difference", [(COUNT, "return int(np.sum(np.abs(np.asarray(y_true) - np.asarray(y_pred))))")],
     {"two_pixel_training_errors", "count_errors_other_labels"}),
    # shortcut: a rate turned back into a count with int(): 14 of 55 becomes 13 (hidden lengths chosen for it)
    ("count-errors-from-rate", [(COUNT, "return int(np.mean(np.asarray(y_true) != np.asarray(y_pred)) * len(y_true))")],
     {"count_errors_other_labels"}),
    ("clf2-not-default-settings", [("clf2 = LogisticRegression(max_iter=1000).fit(X2, labels)",
                                    "clf2 = LogisticRegression(max_iter=1000, C=100).fit(X2, labels)")],
     {"two_pixel_coefficients"}),
    ("validation-inside-test", [("idx_val = order[N_TRAIN:N_TRAIN + N_VAL]", "idx_val = order[-N_VAL:]")],
     {"split_disjoint"}),
    # file order, contiguous blocks: penalised at 01.split only (the test question judges the final model's
    # procedure on the reference split; on this split's last 137 images it scores 0.94, under the threshold)
    ("unshuffled-split", [(SPLIT, "idx_train = np.arange(N_TRAIN)\nidx_val = np.arange(N_TRAIN, N_TRAIN + N_VAL)\n"
                                  "idx_test = np.arange(N_TRAIN + N_VAL, len(labels))")],
     {"split_shuffled"}),
    ("best-training-k", [("best_k = KS[int(np.argmax(val_acc))]", "best_k = KS[int(np.argmax(train_acc))]")],
     {"best_k_supported"}),
    # the test accuracy of a model that is not the one asked for earns no point (it saw the test images)
    ("final-model-trained-on-test-too", [(FIT_FINAL, FIT_FINAL.replace("X64[idx_train], labels[idx_train]",
                                                                      "X64[np.r_[idx_train, idx_test]], "
                                                                      "labels[np.r_[idx_train, idx_test]]"))],
     {"final_trained_on_train_split", "test_accuracy"}),
    # the text asks for the training split only
    ("final-model-on-train-and-validation", [(FIT_FINAL, FIT_FINAL.replace("X64[idx_train], labels[idx_train]",
                                                                          "X64[np.r_[idx_train, idx_val]], "
                                                                          "labels[np.r_[idx_train, idx_val]]"))],
     {"final_trained_on_train_split", "test_accuracy"}),
    # -- choosing one's own evaluation data (issue 15, class 7) --
    # the attack: an untrained model that always says 0, tested on a split of zeros (test_acc = 1.0, honestly
    # computed): no split point (a split chosen by label is not credited for its sizes or disjointness either) and
    # no test point (accuracies are credited only for the model asked for)
    ("untrained-model-on-one-digit-test-split", [(SPLIT, ONE_DIGIT_SPLIT), (FIT_FINAL, UNTRAINED_FINAL)],
     SPLIT_CHECKS | {"final_trained_on_train_split", "test_accuracy", "test_accuracy_reported"}),
    # the same split with the model asked for: penalised once, at 01.split (01.test judges the procedure on the
    # reference split)
    ("one-digit-test-split", [(SPLIT, ONE_DIGIT_SPLIT)], SPLIT_CHECKS),
    # a test split of two digits, none of the third (drawn with rng, spread over the file)
    ("two-digit-test-split", [(SPLIT, "idx_test = rng.choice(np.flatnonzero(labels != 2), N_TEST, replace=False)\n"
                                      "order = rng.permutation(np.setdiff1d(np.arange(len(labels)), idx_test))\n"
                                      "idx_train = order[:N_TRAIN]\nidx_val = order[N_TRAIN:]")], SPLIT_CHECKS),
    # an untrained model on a random split: its honest accuracy (about 1/3) is reported, but earns no test point
    ("untrained-final-model", [(FIT_FINAL, UNTRAINED_FINAL)], {"final_trained_on_train_split", "test_accuracy"}),
    # a model fitted on the test images only, measured on them
    ("final-model-fitted-on-test-split", [(FIT_FINAL, FIT_FINAL.replace("X64[idx_train], labels[idx_train]",
                                                                       "X64[idx_test], labels[idx_test]"))],
     {"final_trained_on_train_split", "test_accuracy"}),
    # a random split at 01.split, then a test split of zeros swapped in before 01.test with the untrained model: the
    # test question judges its own snapshot, so the swapped split is seen there
    ("one-digit-test-split-swapped-in-later", [(FIT_FINAL, "idx_test = np.flatnonzero(labels == 0)[::-1][:N_TEST]\n"
                                                           + UNTRAINED_FINAL)],
     {"final_trained_on_train_split", "test_accuracy", "test_accuracy_reported"}),
]
