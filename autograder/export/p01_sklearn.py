"""Export of practical 01 (scikit-learn): fitted coefficients, counts, split indices and curves as plain files.

Fitted models are read through their public attributes (``coef_``, ``intercept_``) and never saved as objects;
the grader recomputes every accuracy from these numbers in its own process.
"""


def _pair(fitted):
    """(a, b) returned by fit_line, as floats."""
    import numpy as np

    a, b = fitted
    return [float(np.ravel(a)[0]), float(np.ravel(b)[0])]


def _shape(value):
    return [int(n) for n in tuple(value)]


def export(ex):
    import numpy as np

    g = ex.get
    h = ex.hidden
    with ex.question("01.regression"):
        ex.array("a", lambda: np.ravel(np.asarray(g("a"), dtype=float)))
        ex.array("b", lambda: np.ravel(np.asarray(g("b"), dtype=float)))
        if h is not None:
            ex.array("fit_line_hidden", lambda: _pair(g("fit_line")(h["x"].copy(), h["y"].copy())))
    with ex.question("01.per_species"):
        ex.array("a_species", lambda: g("a_species"))
        ex.array("b_species", lambda: g("b_species"))
        if h is not None:
            per_group = lambda: g("fit_per_group")(h["gx"].copy(), h["gy"].copy(), h["groups"].copy())  # noqa: E731
            ex.array("fit_per_group_hidden_a", lambda: per_group()[0])
            ex.array("fit_per_group_hidden_b", lambda: per_group()[1])
    with ex.question("01.images_vs_data"):
        ex.json("images_shape", lambda: _shape(g("images_shape")))
        ex.json("data_shape", lambda: _shape(g("data_shape")))
        ex.json("pixel_index", lambda: [[int(g("pixel_index")(r, c)) for c in range(8)] for r in range(8)])
    with ex.question("01.two_pixels"):
        ex.json("pixels", lambda: [[int(r), int(c)] for r, c in g("PIXELS")])
        ex.array("clf2_coef", lambda: g("clf2").coef_)
        ex.array("clf2_intercept", lambda: g("clf2").intercept_)
        ex.array("train_errors_2", lambda: g("train_errors_2"))
        if h is not None:
            ex.array("count_errors_hidden", lambda: [g("count_errors")(h["y_true"][i].copy(), h["y_pred"][i].copy())
                                                     for i in range(len(h["y_true"]))])
    with ex.question("01.two_pixels", "01.sweep"):
        ex.array("X2", lambda: g("X2"))
    with ex.question("01.all_pixels"):
        ex.array("clf64_coef", lambda: g("clf64").coef_)
        ex.array("clf64_intercept", lambda: g("clf64").intercept_)
        ex.array("train_errors_64", lambda: g("train_errors_64"))
    with ex.question("01.split", "01.sweep", "01.test"):
        for name in ("idx_train", "idx_val", "idx_test"):
            ex.array(name, lambda name=name: g(name))
    with ex.question("01.sweep"):
        for name in ("train_acc", "val_acc", "best_k"):
            ex.array(name, lambda name=name: g(name))
        ex.array("ks", lambda: g("KS"))
    with ex.question("01.test"):
        ex.array("final_coef", lambda: g("final_model").coef_)
        ex.array("final_intercept", lambda: g("final_model").intercept_)
        ex.array("test_acc", lambda: g("test_acc"))
