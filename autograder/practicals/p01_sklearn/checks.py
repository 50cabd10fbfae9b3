"""Checks of practical 01 (scikit-learn): regression lines, digits shapes, classifiers, split, validation curve.

Every reference is computed here from scikit-learn's own copies of iris and digits. Accuracies and error counts
are recomputed from the exported coefficients and split indices: no number the notebook reports is trusted.
Nor is the evaluation data the student chose: a split must look drawn at random (class balance, spread over the
file), and test-accuracy points go only to the model asked for, judged on a split that passed 01.split.
"""

import functools
import warnings

import numpy as np

from autograder.i18n import tr
from autograder.check_api import (MissingAnswer, check, expect, expect_calibrated, expect_close, expect_equal,
                                   expect_shape, fmt, threshold)

ASSIGNMENT = "01-sklearn"
N_IMAGES, N_TRAIN, N_VAL, N_TEST = 537, 300, 100, 137
KS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
# Weights are compared with the exact optimum, the gap as a fraction of the largest weight. Measured over 150 random
# splits and 60 random pixel pairs (scikit-learn 1.9.1): LogisticRegression(max_iter=1000)'s default lbfgs stops at
# most 2.4 % (two pixels) / 2.5 % (64 pixels) from it; a 64-pixel fit that also saw the test images (or every image)
# is at least 6.9 % away from a fit on the training split (or on training + validation).
COEF_RTOL_2 = 0.05
COEF_RTOL_64 = 0.045
CURVE_ATOL = 0.021   # two validation images: k-NN neighbour ties may be broken in another order
SPLIT_SEED = 2017    # the notebook's rng: the reference split, for the test question when the submission's is wrong
# A random 137-image test set has a mean index within 5 standard errors (about 57 images) of the dataset's middle
# with probability 1 - 6e-7; file-order blocks are at least 10 standard errors away.
SHUFFLE_SIGMAS = 5.0
# The class balance of each part of a random split: the number of images of digit d in a part of n images drawn at
# random is hypergeometric; a count in either tail of probability under BALANCE_TAIL is a split chosen by label. Nine
# counts, two tails: a random split (permutation, choice, stratified train_test_split, any seed) is refused with
# probability under 2e-6. The bounds are wide (a 137-image test split may hold 22 to 71 zeros, about 45 expected):
# a split of one digit, or of two digits without the third, is far outside them; file-order blocks are inside.
BALANCE_TAIL = 1e-7
SPLIT_PARTS = (("idx_test", "test split", N_TEST), ("idx_val", "validation split", N_VAL),
               ("idx_train", "training split", N_TRAIN))


# -- reference data and models (grader side) ------------------------------------------------------

@functools.lru_cache(maxsize=None)
def iris_xy():
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data[:, 2], data.data[:, 3], data.target


@functools.lru_cache(maxsize=None)
def digits():
    """(X64 = data / 16, labels) of the digits 0, 1, 2."""
    from sklearn.datasets import load_digits

    data = load_digits(n_class=3)
    return data.data / 16.0, data.target


def line_ref(x, y):
    a, b = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(a), float(b)


def per_group_ref(x, y, groups):
    fits = [line_ref(x[groups == g], y[groups == g]) for g in np.unique(groups)]
    return np.array([f[0] for f in fits]), np.array([f[1] for f in fits])


def logistic_optimum(features, targets):
    """The optimum of LogisticRegression(C=1) on these data, solved tightly: (coef, centred intercept).

    Newton-CG reaches it in about 10 iterations; the intercepts are centred because adding one constant to all of
    them changes no prediction (and the penalty does not pin them).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(solver="newton-cg", max_iter=1000, tol=1e-10).fit(features, targets)
    return model.coef_, model.intercept_ - model.intercept_.mean()


@functools.lru_cache(maxsize=None)
def _optimum_cached(which: str, key: bytes):
    X64, labels = digits()
    if which == "X64":
        idx = np.frombuffer(key, dtype=np.int64)
        return logistic_optimum(X64[idx], labels[idx])
    cols = list(np.frombuffer(key, dtype=np.int64))
    return logistic_optimum(X64[:, cols], labels)


def optimum_on(idx) -> tuple:
    return _optimum_cached("X64", np.asarray(idx, dtype=np.int64).tobytes())


def optimum_two_pixels(cols) -> tuple:
    return _optimum_cached("X2", np.asarray(cols, dtype=np.int64).tobytes())


def predict_linear(coef, intercept, features):
    """Class predicted by a fitted LogisticRegression from its coef_ and intercept_ (argmax of the scores)."""
    return np.argmax(features @ np.asarray(coef, float).T + np.asarray(intercept, float), axis=1)


def weight_gap(got, expected) -> float:
    """Largest difference between two weight arrays, as a fraction of the largest expected weight."""
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-3))


def make_hidden(rng):
    """Other points for fit_line / fit_per_group, and other label vectors for count_errors.

    Shortcut defeated by each choice (each is a mutant in mutants.py beside this file):
    - fit_line: 40 points far from the iris ones (x in 0..10, slope 1.7): the notebook's x, y instead of the
      arguments, or x and y swapped;
    - fit_per_group: groups labelled 9, 2, 5 (not 0..k: `for g in range(3)` finds empty groups), first appearing in
      the order 9, 2, 5 (not sorted: results ordered by first appearance, dict.fromkeys or pd.unique, come out in
      the wrong order), of unequal sizes 15, 25, 20 (equal blocks are wrong);
    - count_errors: four pairs of 55, 100, 83 and 61 labels taken from {3, 7, 12, 40} (not 0..k, and never 537
      long), with 14, 29, 0 and 61 errors: summing |y_true - y_pred| counts an error several times, `537 - ...` or a
      hard-coded length is wrong, and a rate turned back into a count with int() is one short (14 of 55 and 29 of
      100 give 13.999... and 28.999...).
    """
    x = rng.uniform(0, 10, size=40)
    groups = np.r_[[9, 2, 5], rng.permutation(np.repeat([9, 2, 5], [14, 24, 19]))]
    gx = rng.uniform(-3, 3, size=groups.size)
    slope = {2: -1.5, 5: 0.4, 9: 2.2}
    gy = np.array([slope[g] * v + g for g, v in zip(groups, gx)]) + rng.normal(0, 0.3, size=groups.size)
    hidden = {"x": x, "y": 1.7 * x - 0.3 + rng.normal(0, 0.5, size=40), "gx": gx, "gy": gy, "groups": groups}
    values = np.array([3, 7, 12, 40])
    for i, (n, n_wrong) in enumerate(COUNT_ERRORS_CASES):
        y_true = rng.choice(values, size=n)
        y_pred = y_true.copy()
        where = rng.choice(n, size=n_wrong, replace=False)
        y_pred[where] = [rng.choice(values[values != v]) for v in y_true[where]]
        hidden[f"y_true_{i}"], hidden[f"y_pred_{i}"] = y_true, y_pred
    return hidden


COUNT_ERRORS_CASES = [(55, 14), (100, 29), (83, 0), (61, 61)]   # (labels, errors) of the hidden count_errors pairs


def reference_split():
    order = np.random.default_rng(SPLIT_SEED).permutation(N_IMAGES)
    return order[:N_TRAIN], order[N_TRAIN:N_TRAIN + N_VAL], order[N_TRAIN + N_VAL:]


def split_problem(idx: dict) -> str | None:
    """Why the split is not a random one (file order, contiguous blocks), or None.

    A random subset is spread over the whole file: its mean index is near the middle (within SHUFFLE_SIGMAS
    standard errors), and it is not one run of consecutive indices.
    """
    everything = np.arange(N_IMAGES)
    mu, sigma = everything.mean(), everything.std()
    for name, values in idx.items():
        values = np.unique(values)
        if values.size > 1 and values.max() - values.min() + 1 == values.size:
            return tr("{name} holds the consecutive images {first} to {last}: the split follows the order of the "
                      "file instead of a random shuffle (shuffle the indices with rng.permutation first)").format(
                name=name, first=values.min(), last=values.max())
        n = values.size
        if 1 < n < N_IMAGES:
            stderr = sigma / np.sqrt(n) * np.sqrt((N_IMAGES - n) / (N_IMAGES - 1))
            if abs(values.mean() - mu) > SHUFFLE_SIGMAS * stderr:
                part = tr("the beginning of the file") if values.mean() < mu else tr("the end of the file")
                return tr("{name} holds mostly images from {part} (mean index {mean:.0f}, a random split gives about "
                          "{middle:.0f}): the split is not random (shuffle the indices with rng.permutation first)"
                          ).format(name=name, part=part, mean=values.mean(), middle=mu)
    return None


@functools.lru_cache(maxsize=None)
def balance_bounds(n: int) -> list[tuple[int, int]]:
    """For each digit, the counts a random part of n of the 537 images holds with probability above BALANCE_TAIL
    in each tail (the digits labels are loaded here, from scikit-learn)."""
    from scipy.stats import hypergeom

    counts = np.bincount(digits()[1])
    return [(int(hypergeom(N_IMAGES, k, n).ppf(BALANCE_TAIL)), int(hypergeom(N_IMAGES, k, n).isf(BALANCE_TAIL)))
            for k in counts]


def _digit_counts_text(counts) -> str:
    """"137 images of digit 0 and none of the other digits", "67 images of digit 0, 70 of digit 1 and none of
    digit 2"."""
    present = [(d, c) for d, c in enumerate(counts) if c]
    words = [(tr("{count} images of digit {digit}") if i == 0 else tr("{count} of digit {digit}")).format(
        count=c, digit=d) for i, (d, c) in enumerate(present)]
    absent = [str(d) for d, c in enumerate(counts) if not c]
    if absent:
        words.append(tr("none of the other digits") if len(words) == 1
                     else tr("none of digit {digits}").format(digits=tr(" or ").join(absent)))
    if len(words) > 1:
        return tr("{items} and {last}").format(items=", ".join(words[:-1]), last=words[-1])
    return (words or [tr("no image")])[0]


def label_problem(idx: dict) -> str | None:
    """Why the split was chosen by the images' labels, not drawn at random (its class balance), or None.

    Each part's count of each digit is compared with what a random part of its size holds (hypergeometric bounds,
    BALANCE_TAIL in each tail), computed from the digits labels the grader loads itself.
    """
    _, labels = digits()
    parts = {"test split": tr("test split"), "validation split": tr("validation split"),
             "training split": tr("training split")}   # literal msgids, for the catalog
    for name, words, _ in SPLIT_PARTS:
        words = parts[words]
        values = np.unique(idx[name])
        if values.size < 2:
            continue
        counts = np.bincount(labels[values], minlength=3)
        bounds = balance_bounds(int(values.size))
        if all(lo <= c <= hi for c, (lo, hi) in zip(counts, bounds)):
            continue
        expected = np.bincount(labels) * values.size / N_IMAGES
        about = ", ".join(tr("{low} to {high} of digit {digit} (about {mean:.0f})").format(
            low=lo, high=hi, digit=d, mean=e) for d, ((lo, hi), e) in enumerate(zip(bounds, expected)))
        return tr("your {part} ({name}) has {counts}: a {part} of {size} images drawn at random holds {about}. The "
                  "images were chosen by their labels, and accuracy measured on images you chose says nothing about "
                  "new ones: draw the split at random with rng (e.g. rng.permutation(len(labels)))").format(
            part=words, name=name, counts=_digit_counts_text(counts), size=values.size, about=about)
    return None


def split_faults(art) -> dict:
    """What is wrong with the submission's split, per 01.split check ({} when the split is the one asked for).

    Keys: "sizes", "disjoint", "random" (file order, see split_problem), "labels" (chosen by label, see
    label_problem). Unreadable indices fail split_index here as in every check that reads them.
    """
    def compute():
        idx = {name: split_index(art, name) for name, _, _ in SPLIT_PARTS}
        faults = {}
        for name, _, n in SPLIT_PARTS[::-1]:
            if idx[name].size != n and "sizes" not in faults:
                faults["sizes"] = tr("number of indices in {name}: got {got}, expected {expected}").format(
                    name=name, got=idx[name].size, expected=n)
        for name, _, _ in SPLIT_PARTS[::-1]:
            repeated = idx[name].size - np.unique(idx[name]).size
            if repeated:
                faults["disjoint"] = tr("{name} holds {repeated} repeated indices: each image should appear once"
                                        ).format(name=name, repeated=repeated)
                break
        if "disjoint" not in faults:
            for one, two in (("idx_train", "idx_test"), ("idx_val", "idx_test"), ("idx_train", "idx_val")):
                shared = np.intersect1d(idx[one], idx[two])
                if shared.size:
                    faults["disjoint"] = tr("{count} images are in both {one} and {two} (e.g. index {index}): the "
                                            "sets must be disjoint, or the evaluation measures memory, not "
                                            "generalisation").format(count=shared.size, one=one, two=two,
                                                                     index=shared[0])
                    break
        labels_problem = label_problem(idx)
        if labels_problem:
            faults["labels"] = labels_problem
        file_problem = split_problem(idx)
        if file_problem:
            faults["random"] = file_problem
        return faults

    return art.cached("split_faults", compute)


def split_chosen_by_label(art) -> str | None:
    """The message when the split's class balance shows it was chosen by label: such a split earns no 01.split
    point (its sizes and disjointness are not credited either), since its purpose is choosing the test images."""
    problem = split_faults(art).get("labels")
    return tr("not credited: {problem}").format(problem=problem) if problem else None


# -- helpers reading the submission --------------------------------------------------------------

def scalar(art, name) -> float:
    value = art.array(name)
    expect(value.size == 1, tr("{name} should be one number, got an array of shape {shape}").format(
        name=name, shape=value.shape))
    return float(value.ravel()[0])


def expect_count(got: float, expected: int, what: str) -> None:
    """A number of errors compared as it is (no int() rounding: a rate 0.19 is shown as 0.19, not 0)."""
    if got == expected:
        return
    hint = "" if float(got).is_integer() else tr(" (a number of errors is a whole number, not a rate or a fraction)")
    raise_failure(tr("{what}: got {got}, expected {expected}{hint}").format(
        what=what, got=fmt(got), expected=fmt(expected), hint=hint))


def raise_failure(message: str) -> None:
    expect(False, message)


def pixel_columns(art) -> list[int]:
    """The columns of data for the submission's PIXELS; fails if PIXELS is not two distinct (row, col) pairs."""
    pixels = art.json("pixels")
    ok = (isinstance(pixels, list) and len(pixels) == 2
          and all(isinstance(p, list) and len(p) == 2 and all(0 <= v < 8 for v in p) for p in pixels))
    expect(ok, tr("PIXELS should be two (row, col) pairs with rows and columns in 0..7, got {pixels}").format(
        pixels=pixels))
    cols = [8 * r + c for r, c in pixels]
    expect(cols[0] != cols[1], tr("PIXELS names the same pixel twice: {pixels}").format(pixels=pixels))
    return cols


def own_pixel_columns(art) -> list[int] | None:
    """The columns the submission's own pixel_index gives for its PIXELS (None if unavailable or out of range)."""
    try:
        table = art.json("pixel_index")
        cols = [int(table[r][c]) for r, c in art.json("pixels")]
    except (MissingAnswer, TypeError, ValueError, IndexError, KeyError):
        return None
    return cols if all(0 <= c < 64 for c in cols) else None


def two_pixel_inputs(art) -> np.ndarray:
    """The submission's own X2 when it has the right shape (later checks judge the steps after it), else the
    reference columns."""
    try:
        X2 = art.array("X2")
        if X2.shape == (N_IMAGES, 2):
            return X2.astype(float)
    except MissingAnswer:
        pass
    X64, _ = digits()
    return X64[:, pixel_columns(art)]


def split_index(art, name) -> np.ndarray:
    idx = art.array(name)
    expect(idx.ndim == 1 and idx.dtype.kind in "iu",
           tr("{name} should be a 1-D array of integer indices, got dtype {dtype} and shape {shape}").format(
               name=name, dtype=idx.dtype, shape=idx.shape))
    expect(idx.size and idx.min() >= 0 and idx.max() < N_IMAGES,
           tr("{name} should hold indices between 0 and {last}").format(name=name, last=N_IMAGES - 1))
    return idx.astype(np.int64)


def knn_curves(features, labels, idx_train, idx_val):
    from sklearn.neighbors import KNeighborsClassifier

    train, val = [], []
    for k in KS:
        knn = KNeighborsClassifier(n_neighbors=k).fit(features[idx_train], labels[idx_train])
        train.append(knn.score(features[idx_train], labels[idx_train]))
        val.append(knn.score(features[idx_val], labels[idx_val]))
    return np.array(train), np.array(val)


def reference_curves(art):
    def compute():
        _, labels = digits()
        return knn_curves(two_pixel_inputs(art), labels, split_index(art, "idx_train"), split_index(art, "idx_val"))

    return art.cached("knn_curves", compute)


# -- 01.regression ------------------------------------------------------------------------------

@check("01.regression", points=2)
def test_regression_coefficients(art):
    x, y, _ = iris_xy()
    a_ref, b_ref = line_ref(x, y)
    a, b = scalar(art, "a"), scalar(art, "b")
    a_swapped, b_swapped = line_ref(y, x)
    swapped = np.isclose(a, a_swapped, rtol=1e-4) and np.isclose(b, b_swapped, rtol=1e-4, atol=1e-6)
    expect(not swapped, tr("a = {a:.6g}, b = {b:.6g} is the line of petal length as a function of petal width; "
                           "expected the width as a function of the length: a = {a_ref:.6g}, b = {b_ref:.6g}").format(
        a=a, b=b, a_ref=a_ref, b_ref=b_ref))
    expect_close(a, a_ref, tr("the slope a"), rtol=1e-4)
    expect_close(b, b_ref, tr("the intercept b"), rtol=1e-4)


@check("01.regression", points=2, hidden=True)
def test_fit_line_other_inputs(art):
    expect_close(art.array("fit_line_hidden"), line_ref(art.hidden("x"), art.hidden("y")),
                 tr("fit_line(x, y) on 40 other points: (a, b)"), rtol=1e-4)


# -- 01.per_species -----------------------------------------------------------------------------

@check("01.per_species", points=2)
def test_per_species_coefficients(art):
    x, y, species = iris_xy()
    a_ref, b_ref = per_group_ref(x, y, species)
    expect_close(art.array("a_species"), a_ref, tr("a_species (setosa, versicolor, virginica)"), rtol=1e-4)
    expect_close(art.array("b_species"), b_ref, tr("b_species (setosa, versicolor, virginica)"), rtol=1e-4, atol=1e-5)


@check("01.per_species", points=1, hidden=True)
def test_fit_per_group_other_inputs(art):
    a_ref, b_ref = per_group_ref(art.hidden("gx"), art.hidden("gy"), art.hidden("groups"))
    what = tr("fit_per_group on 60 other points in groups 9, 2, 5 (results ordered like np.unique: 2, 5, 9)")
    expect_close(art.array("fit_per_group_hidden_a"), a_ref, tr("{what}: slopes").format(what=what), rtol=1e-4)
    expect_close(art.array("fit_per_group_hidden_b"), b_ref, tr("{what}: intercepts").format(what=what),
                 rtol=1e-4, atol=1e-5)


# -- 01.images_vs_data --------------------------------------------------------------------------

@check("01.images_vs_data", points=1)
def test_images_and_data_shapes(art):
    expect_equal(tuple(art.json("images_shape")), (N_IMAGES, 8, 8), tr("images_shape (shape of digits.images)"))
    expect_equal(tuple(art.json("data_shape")), (N_IMAGES, 64), tr("data_shape (shape of digits.data)"))


@check("01.images_vs_data", points=1)
def test_pixel_index_values(art):
    got = np.array(art.json("pixel_index"))
    expected = np.arange(64).reshape(8, 8)
    wrong = [(r, c) for r in range(8) for c in range(8) if got[r, c] != expected[r, c]]
    if wrong:
        raise_failure(tr("pixel_index is wrong for {count} of the 64 pixels, e.g. pixel_index{pixel} = {got}, "
                         "expected {expected} (data stores the images row after row)").format(
            count=len(wrong), pixel=wrong[0], got=got[wrong[0]], expected=expected[wrong[0]]))


# -- 01.two_pixels ------------------------------------------------------------------------------

@check("01.two_pixels", points=1)
def test_two_pixel_features(art):
    cols = pixel_columns(art)
    own = own_pixel_columns(art)   # a wrong pixel_index is penalised once, at 01.images_vs_data
    X64, _ = digits()
    X2 = art.array("X2")
    expect_shape(X2, (N_IMAGES, 2), "X2")
    for j, (col, pixel) in enumerate(zip(cols, art.json("pixels"))):
        if np.allclose(X2[:, j], X64[:, col]) or (own is not None and np.allclose(X2[:, j], X64[:, own[j]])):
            continue
        hit = [c for c in range(64) if np.allclose(X2[:, j], X64[:, c])]
        seen = tr("it holds pixel {pixel}").format(pixel=divmod(hit[0], 8)) if hit else tr("it matches no pixel of X64")
        raise_failure(tr("column {j} of X2 should be pixel {pixel} of X64 (column {col}), but {seen}").format(
            j=j, pixel=tuple(pixel), col=col, seen=seen))


@functools.lru_cache(maxsize=None)
def _optimum_on_features(key: bytes):
    _, labels = digits()
    return logistic_optimum(np.frombuffer(key, dtype=float).reshape(N_IMAGES, -1), labels)


@check("01.two_pixels", points=2)
def test_two_pixel_coefficients(art):
    # judged against the fit on the submission's own X2 (X2 itself is judged by two_pixel_features)
    features = two_pixel_inputs(art)
    coef_ref, intercept_ref = _optimum_on_features(np.ascontiguousarray(features, dtype=float).tobytes())
    coef, intercept = art.array("clf2_coef"), art.array("clf2_intercept")
    expect_shape(coef, coef_ref.shape, "clf2.coef_")
    expect_shape(intercept, intercept_ref.shape, "clf2.intercept_")
    got = np.c_[coef, intercept - intercept.mean()]
    expected = np.c_[coef_ref, intercept_ref]
    gap = weight_gap(got, expected)
    expect(gap <= COEF_RTOL_2,
           tr("clf2's weights and biases differ from LogisticRegression(max_iter=1000) (other settings at their "
              "defaults) fitted on X2 and labels by {gap:.1f} % of the largest weight (at most {allowed:g} % "
              "allowed): got weights {got}, expected {expected}").format(
               gap=100 * gap, allowed=100 * COEF_RTOL_2, got=np.round(coef, 3).tolist(),
               expected=np.round(coef_ref, 3).tolist()))


@check("01.two_pixels", points=1)
def test_two_pixel_training_errors(art):
    _, labels = digits()
    errors = int(np.sum(predict_linear(art.array("clf2_coef"), art.array("clf2_intercept"),
                                       two_pixel_inputs(art)) != labels))
    expect_count(scalar(art, "train_errors_2"), errors, tr("train_errors_2 (errors of clf2 on its training images)"))


@check("01.two_pixels", points=1, hidden=True)
def test_count_errors_other_labels(art):
    for i, (n, _) in enumerate(COUNT_ERRORS_CASES):
        t, p = art.hidden(f"y_true_{i}"), art.hidden(f"y_pred_{i}")
        got = art.array(f"count_errors_hidden_{i}")
        expect(got.size == 1, tr("count_errors on {n} other labels should return one number, got shape {shape}").format(
            n=n, shape=got.shape))
        expect_count(float(got.ravel()[0]), int(np.sum(t != p)),
                     tr("count_errors on {n} other labels (values 3, 7, 12, 40)").format(n=n))


# -- 01.all_pixels ------------------------------------------------------------------------------

@check("01.all_pixels", points=2)
def test_all_pixel_coefficients(art):
    coef_ref, _ = optimum_on(np.arange(N_IMAGES))
    coef = art.array("clf64_coef")
    expect_shape(coef, coef_ref.shape, tr("clf64.coef_ (one weight per class and pixel)"))
    expect_shape(art.array("clf64_intercept"), (3,), "clf64.intercept_")
    gap = weight_gap(coef, coef_ref)
    expect(gap <= COEF_RTOL_64,
           tr("clf64's weights differ from LogisticRegression(max_iter=1000) fitted on X64 and labels by {gap:.1f} % "
              "of the largest weight (at most {allowed:g} % allowed)").format(gap=100 * gap,
                                                                              allowed=100 * COEF_RTOL_64))


@check("01.all_pixels", points=1)
def test_all_pixel_training_errors(art):
    X64, labels = digits()
    errors = int(np.sum(predict_linear(art.array("clf64_coef"), art.array("clf64_intercept"), X64) != labels))
    got = scalar(art, "train_errors_64")
    try:  # counted by the submission's own count_errors: a wrong count_errors is penalised once, at 01.two_pixels
        if got == float(art.array("count_errors_64").ravel()[0]):
            return
    except (MissingAnswer, IndexError, ValueError):
        pass
    expect_count(got, errors, tr("train_errors_64 (errors of clf64 on its training images)"))


# -- 01.split -----------------------------------------------------------------------------------

@check("01.split", points=1)
def test_split_sizes(art):
    for name in ("idx_train", "idx_val", "idx_test"):
        split_index(art, name)
    problem = split_faults(art).get("sizes") or split_chosen_by_label(art)
    expect(problem is None, problem or "")


@check("01.split", points=1)
def test_split_disjoint(art):
    problem = split_faults(art).get("disjoint") or split_chosen_by_label(art)
    expect(problem is None, problem or "")


@check("01.split", points=1)
def test_split_shuffled(art):
    # drawn at random, as the text asks: class balance of a random draw first (a split chosen by label), then spread
    # over the file (file order, penalised here only: an honest mistake whose sizes and disjointness still count)
    faults = split_faults(art)
    problem = faults.get("labels") or faults.get("random")
    expect(problem is None, problem or "")


# -- 01.sweep -----------------------------------------------------------------------------------

@check("01.sweep", points=2)
def test_sweep_curves(art):
    expect_equal([int(k) for k in art.array("ks").ravel()], KS, "KS")
    train_ref, val_ref = reference_curves(art)
    for name, ref, which in (("train_acc", train_ref, tr("the training accuracy")),
                             ("val_acc", val_ref, tr("the validation accuracy"))):
        got = art.array(name).astype(float).ravel()
        expect_shape(got, ref.shape, name)
        expect(np.allclose(got, ref, atol=CURVE_ATOL),
               tr("{name} should be {which} of k-NN fitted on X2[idx_train] for each k in KS: got {got}, expected "
                  "{expected}").format(name=name, which=which, got=np.round(got, 3).tolist(),
                                       expected=np.round(ref, 3).tolist()))


@check("01.sweep", points=2)
def test_best_k_supported(art):
    value = scalar(art, "best_k")
    expect(value in KS, tr("best_k = {best_k} is not one of KS = {KS}").format(best_k=fmt(value), KS=KS))
    best_k = int(value)
    train_ref, val_ref = reference_curves(art)
    n_val = split_index(art, "idx_val").size
    best = int(np.argmax(val_ref))
    got = val_ref[KS.index(best_k)]
    note = (tr(" — the k with the best *training* accuracy: the training curve always prefers the most flexible "
               "model") if KS.index(best_k) == int(np.argmax(train_ref)) else "")
    expect(got >= val_ref[best] - 1.0 / n_val - 1e-9,
           tr("best_k = {best_k} has validation accuracy {got:.3f}{note}; k = {best} reaches {best_acc:.3f}: expected "
              "the k with the best validation accuracy").format(best_k=best_k, got=got, note=note, best=KS[best],
                                                                best_acc=val_ref[best]))


# -- 01.test ------------------------------------------------------------------------------------

def final_fit_problem(art) -> str | None:
    """Why final_model is not the LogisticRegression(max_iter=1000) fitted on X64[idx_train], or None."""
    def compute():
        coef = art.array("final_coef")
        expect_shape(coef, (3, 64), "final_model.coef_")
        idx_train, idx_val = split_index(art, "idx_train"), split_index(art, "idx_val")
        gap_train = weight_gap(coef, optimum_on(idx_train)[0])
        if gap_train <= COEF_RTOL_64:
            return None
        gap_both = weight_gap(coef, optimum_on(np.r_[idx_train, idx_val])[0])
        if gap_both <= COEF_RTOL_64:
            return tr("final_model was fitted on the training AND validation splits (its weights match that fit, "
                      "{gap:.1f} % away from a fit on X64[idx_train] alone): fit it on the training split only, as "
                      "asked; the validation split is for comparing models").format(gap=100 * gap_train)
        return tr("final_model's weights differ by {gap:.1f} % (of the largest weight) from "
                  "LogisticRegression(max_iter=1000) fitted on X64[idx_train] (at most {allowed:g} % allowed): it was "
                  "fitted on other images or with other settings. Fit it on the training split only: a model that "
                  "has seen test images is not tested by them").format(gap=100 * gap_train, allowed=100 * COEF_RTOL_64)

    return art.cached("final_fit_problem", compute)


@check("01.test", points=2)
def test_final_trained_on_train_split(art):
    problem = final_fit_problem(art)
    expect(problem is None, problem or "")


def accuracy_of(art, coef_name, intercept_name, idx) -> float:
    X64, labels = digits()
    coef, intercept = art.array(coef_name), art.array(intercept_name)
    expect_shape(coef, (3, 64), "final_model.coef_")
    expect_shape(intercept, (3,), "final_model.intercept_")
    return float(np.mean(predict_linear(coef, intercept, X64[idx]) == labels[idx]))


def graded_test_accuracy(art) -> float:
    """final_model's accuracy on the submission's test images, computed by the grader."""
    return art.cached("test_accuracy", lambda: accuracy_of(art, "final_coef", "final_intercept",
                                                          split_index(art, "idx_test")))


@check("01.test", points=1)
def test_test_accuracy(art):
    # Gated on the model asked for: the accuracy of a model fitted on other images (the test ones among them) or
    # not fitted at all measures nothing, on whatever split. Then judged on the submission's own test split only when
    # that split passed every 01.split check; a split that did not (file order, chosen by label, wrong sizes,
    # overlapping) is penalised once, at 01.split, and the procedure is judged on the reference split instead.
    own = graded_test_accuracy(art)
    art.measure("test_accuracy", own)
    problem = final_fit_problem(art)
    expect(problem is None, tr("no point for the test accuracy of a model other than the one asked for (the accuracy "
                               "of that model on the test split is {own:.4f}): {problem}").format(own=own,
                                                                                                  problem=problem))
    if split_faults(art):
        # final_model is the fit asked for on the submission's training split: on the reference split (rng 2017),
        # the same fit is what a random split gives
        ref_train, _, ref_test = reference_split()
        coef, intercept = optimum_on(ref_train)
        X64, labels = digits()
        on_reference = float(np.mean(predict_linear(coef, intercept, X64[ref_test]) == labels[ref_test]))
        limit = threshold(ASSIGNMENT, "test_accuracy")
        expect(on_reference >= limit, tr("the final model's procedure reaches {on_reference:.4f} on a random split, "
                                         "expected at least {limit:.4f}").format(on_reference=on_reference,
                                                                                  limit=limit))
        return
    expect_calibrated(art, ASSIGNMENT, "test_accuracy", own,
                      tr("accuracy of final_model on the images of idx_test (computed by the grader)"))


@check("01.test", points=1)
def test_test_accuracy_reported(art):
    # accuracies reported on a split that failed 01.split count only for the model asked for: an untrained model's
    # accuracy on a self-chosen test split (one digit it always predicts) buys nothing
    if split_faults(art):
        problem = final_fit_problem(art)
        expect(problem is None, tr("no point for accuracies of a model other than the one asked for, measured on a "
                                   "split that is not the one asked for (see 01.split): {problem}").format(
            problem=problem))
    for name, idx_name, split in (("val_acc_final", "idx_val", tr("the validation split")),
                                  ("test_acc", "idx_test", tr("the test split"))):
        expected = accuracy_of(art, "final_coef", "final_intercept", split_index(art, idx_name))
        got = scalar(art, name)
        hint = tr(" (an accuracy is a fraction between 0 and 1)") if got > 1 else ""
        expect(abs(got - expected) <= 1e-6,
               tr("{name} = {got}, but final_model's accuracy on the images of {idx_name} ({split}) is {expected}"
                  "{hint}").format(name=name, got=fmt(got), idx_name=idx_name, split=split, expected=fmt(expected),
                                   hint=hint))
