"""Export of practical 01 (scikit-learn): fitted coefficients, counts, split indices and curves as plain files.

Fitted models are read through their public attributes (``coef_``, ``intercept_``) and never saved as objects;
the grader recomputes every accuracy from these numbers in its own process.

One mistake is penalised once: where fit_line is wrong, fit_per_group (which reuses it) runs with the grader's
reference fit_line; train_errors_64 is exported with the student's own count_errors beside it (a wrong
count_errors is penalised at 01.two_pixels); pixel_index is exported for 01.two_pixels too (X2 built with a wrong
pixel_index is penalised at 01.images_vs_data).
"""

import contextlib

N_COUNT_ERRORS = 4   # hidden (y_true_i, y_pred_i) pairs for count_errors (checks.COUNT_ERRORS_CASES)


def _pair(fitted):
    """(a, b) returned by fit_line, as floats."""
    import numpy as np

    a, b = fitted
    return [float(np.ravel(a)[0]), float(np.ravel(b)[0])]


def _reference_fit_line(x, y):
    import numpy as np

    a, b = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(a), float(b)


def _fit_line_wrong(fit_line, x, y) -> bool:
    """Whether fit_line differs from least squares on the notebook's points or on 5 fixed other points."""
    import numpy as np

    others = np.array([0.0, 1.0, 2.0, 3.0, 7.0]), np.array([1.0, 3.0, 2.0, 5.0, 9.0])
    try:
        return not all(np.allclose(_pair(fit_line(u.copy(), v.copy())), _reference_fit_line(u, v), rtol=1e-4, atol=1e-6)
                       for u, v in ((x, y), others))
    except Exception:
        return True


@contextlib.contextmanager
def _replaced(ns, name, value):
    missing = object()
    saved = ns.get(name, missing)
    ns[name] = value
    try:
        yield
    finally:
        if saved is missing:
            ns.pop(name, None)
        else:
            ns[name] = saved


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
        def fit_line_wrong():
            if "fit_line_wrong" not in cache:
                cache["fit_line_wrong"] = _fit_line_wrong(g("fit_line"), g("x"), g("y"))
            return cache["fit_line_wrong"]

        def per_group(*args):
            """fit_per_group, with the reference fit_line if the student's is wrong (penalised at 01.regression)."""
            if not fit_line_wrong():
                return g("fit_per_group")(*args)
            with _replaced(ex.ns, "fit_line", _reference_fit_line):
                return g("fit_per_group")(*args)

        cache = {}
        public = lambda: per_group(g("x").copy(), g("y").copy(), g("species").copy())  # noqa: E731
        ex.array("a_species", lambda: public()[0] if fit_line_wrong() else g("a_species"))
        ex.array("b_species", lambda: public()[1] if fit_line_wrong() else g("b_species"))
        if h is not None:
            hidden = lambda: per_group(h["gx"].copy(), h["gy"].copy(), h["groups"].copy())  # noqa: E731
            ex.array("fit_per_group_hidden_a", lambda: hidden()[0])
            ex.array("fit_per_group_hidden_b", lambda: hidden()[1])
    with ex.question("01.images_vs_data"):
        ex.json("images_shape", lambda: _shape(g("images_shape")))
        ex.json("data_shape", lambda: _shape(g("data_shape")))
    with ex.question("01.images_vs_data", "01.two_pixels"):
        ex.json("pixel_index", lambda: [[int(g("pixel_index")(r, c)) for c in range(8)] for r in range(8)])
    with ex.question("01.two_pixels"):
        ex.json("pixels", lambda: [[int(r), int(c)] for r, c in g("PIXELS")])
        ex.array("clf2_coef", lambda: g("clf2").coef_)
        ex.array("clf2_intercept", lambda: g("clf2").intercept_)
        ex.array("train_errors_2", lambda: g("train_errors_2"))
        if h is not None:
            for i in range(N_COUNT_ERRORS):
                ex.array(f"count_errors_hidden_{i}",
                         lambda i=i: g("count_errors")(h[f"y_true_{i}"].copy(), h[f"y_pred_{i}"].copy()))
    with ex.question("01.two_pixels", "01.sweep"):
        ex.array("X2", lambda: g("X2"))
    with ex.question("01.all_pixels"):
        ex.array("clf64_coef", lambda: g("clf64").coef_)
        ex.array("clf64_intercept", lambda: g("clf64").intercept_)
        ex.array("train_errors_64", lambda: g("train_errors_64"))
        ex.array("count_errors_64", lambda: g("count_errors")(g("labels").copy(), g("clf64").predict(g("X64"))))
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
        ex.array("val_acc_final", lambda: g("val_acc_final"))
        ex.array("test_acc", lambda: g("test_acc"))
