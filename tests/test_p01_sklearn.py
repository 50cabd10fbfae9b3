"""Practical 01 graded end to end: answer key, blank release, other correct styles, wrong submissions.

The answer key, the blank release and one wrong submission run as real notebooks. The other wrong submissions
(autograder.practicals.p01_sklearn.mutants.WRONG, shared with `autograder ci`) and the correct alternative styles run IN THIS
PROCESS, the way the grader takes its snapshots: the notebook's code cells are executed in order in one
namespace, and where a locked `check("01.q")` cell stands the real exporter writes that question's answers only
(with the hidden inputs); the real checks then read each question's snapshot. Wrong results that no code edit
makes naturally are made by editing a copy of the answer key's exported files.
"""

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import practicals
from autograder.practicals.p01_sklearn import checks as ref
from autograder.check_api import Artifacts, threshold
from autograder.engine.check_runner import run_checks
from autograder.practicals.p01_sklearn import in_kernel as exporter
from autograder.grade import hidden_inputs
from autograder.practicals.p01_sklearn.mutants import WRONG
from autograder.paths import REPO
from helpers import assert_caught, grade_in_process as run_in_process

NAME = "01-sklearn"
ASSIGNMENT = practicals.get(NAME)
KEY = ASSIGNMENT.solution_notebook(REPO)
QUESTIONS = {"01.regression": 4, "01.per_species": 3, "01.images_vs_data": 2, "01.two_pixels": 5,
             "01.all_pixels": 3, "01.split": 3, "01.sweep": 4, "01.test": 4}
HIDDEN = hidden_inputs(ASSIGNMENT)


def grade_in_process(tmp_path: Path, edits=(), keep: Path | None = None) -> list:
    """The (edited) answer key run in this process, each question snapshot at its check cell, then checked."""
    return run_in_process(NAME, tmp_path, edits, keep, HIDDEN)


def lost(results) -> dict[str, str]:
    return {r.name: r.message for r in results if r.status != "passed"}


def test_answer_key_scores_full_marks(graded_key):
    result = graded_key(NAME)
    assert result.status == "graded", result.reason
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == sum(QUESTIONS.values())
    assert {q: sum(c.max_points for c in result.checks if c.question == q) for q in QUESTIONS} == QUESTIONS
    assert any(c.hidden for c in result.checks)
    assert result.measurements["test_accuracy"] >= threshold(NAME, "test_accuracy")


def test_blank_release_scores_zero_and_is_graded(graded_blank):
    result = graded_blank(NAME)
    assert result.status == "graded"
    assert result.score == 0 and result.max_score == sum(QUESTIONS.values())
    assert all(c.message for c in result.checks), "every lost point says why"


def test_grade_cells_points_match_the_checks():
    nb = nbformat.read(KEY, as_version=4)
    cells = {c.source: c.metadata["nbgrader"]["points"] for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    assert cells == {f'check("{q}")': p for q, p in QUESTIONS.items()}


def test_notebook_does_not_import_tensorflow():
    # code cells only: the header links the original workshop, whose address contains "tensorflow"
    code = "\n".join(c.source for c in nbformat.read(KEY, as_version=4).cells if c.cell_type == "code")
    assert "tensorflow" not in code and "keras" not in code
    assert not ASSIGNMENT.tensorflow


def test_unshuffled_split_graded_for_real_loses_points_at_the_split_only(tmp_path):
    edits, expected = next(w[1:] for w in WRONG if w[0] == "unshuffled-split")
    result = assert_caught(KEY, tmp_path, edits, expected)
    message = next(c.message for c in result.checks if c.name == "split_shuffled")
    assert "consecutive images" in message and "rng.permutation" in message
    # its own test images really score under the threshold: the test question did not simply not notice
    assert result.measurements["test_accuracy"] < threshold(NAME, "test_accuracy")


def test_in_process_answer_key_scores_full_marks(tmp_path):
    results = grade_in_process(tmp_path)
    assert not lost(results), lost(results)
    assert sum(r.points for r in results) == sum(QUESTIONS.values())


@pytest.mark.parametrize("edits, expected", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_wrong_submission_loses_points_at_the_intended_check(tmp_path, edits, expected):
    messages = lost(grade_in_process(tmp_path, edits))
    assert set(messages) == expected, messages


SPLIT = ("order = rng.permutation(len(labels))\nidx_train = order[:N_TRAIN]\nidx_val = order[N_TRAIN:N_TRAIN + N_VAL]\n"
         "idx_test = order[N_TRAIN + N_VAL:]")
PER_GROUP = ("fits = [fit_line(x[groups == g], y[groups == g]) for g in np.unique(groups)]\n"
             "    return np.array([f[0] for f in fits]), np.array([f[1] for f in fits])")

# correct answers in other styles, written from the student notebook: each must get full marks
ANOTHER_STYLE = {
    # np.polyfit instead of LinearRegression; the pixels read from images; another solver; another pair of pixels
    "polyfit-images-newton": [
        ("reg = LinearRegression().fit(x.reshape(-1, 1), y)\n    return float(reg.coef_[0]), float(reg.intercept_)",
         "slope, intercept = np.polyfit(x, y, 1)\n    return slope, intercept"),
        ("PIXELS = [(3, 2), (4, 3)]", "PIXELS = [(2, 3), (5, 4)]"),
        ("X2 = X64[:, [pixel_index(r, c) for r, c in PIXELS]]",
         "X2 = np.stack([digits.images[:, r, c] / 16 for r, c in PIXELS], axis=1)"),
        ("clf2 = LogisticRegression(max_iter=1000).fit(X2, labels)",
         "clf2 = LogisticRegression(solver='newton-cg', max_iter=1000).fit(X2, labels)"),
        ("return int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))",
         "return len(y_true) - int(np.equal(y_true, y_pred).sum())"),
        # a stratified split with scikit-learn, k chosen as the last best
        (SPLIT, "from sklearn.model_selection import train_test_split\n"
                "idx_rest, idx_test = train_test_split(np.arange(len(labels)), test_size=N_TEST, stratify=labels, "
                "random_state=1)\n"
                "idx_train, idx_val = train_test_split(idx_rest, test_size=N_VAL, stratify=labels[idx_rest], "
                "random_state=1)"),
        ("best_k = KS[int(np.argmax(val_acc))]", "best_k = KS[len(KS) - 1 - int(np.argmax(val_acc[::-1]))]")],
    # closed-form least squares, a loop over sorted(set(groups)), a numpy count, np.split, sorted index sets,
    # accuracy_score
    "closed-form-loops-sorted-split": [
        ("reg = LinearRegression().fit(x.reshape(-1, 1), y)\n    return float(reg.coef_[0]), float(reg.intercept_)",
         "a = np.cov(x, y, bias=True)[0, 1] / np.var(x)\n    return a, y.mean() - a * x.mean()"),
        (PER_GROUP, "slopes, intercepts = [], []\n    for g in sorted(set(groups.tolist())):\n"
                    "        a, b = fit_line(x[groups == g], y[groups == g])\n"
                    "        slopes.append(a)\n        intercepts.append(b)\n"
                    "    return np.array(slopes), np.array(intercepts)"),
        ("return int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))",
         "return np.count_nonzero(np.asarray(y_true) != np.asarray(y_pred))"),
        (SPLIT, "idx_train, idx_val, idx_test = (np.sort(part) for part in "
                "np.split(rng.permutation(len(labels)), [N_TRAIN, N_TRAIN + N_VAL]))"),
        ("test_acc = final_model.score(X64[idx_test], labels[idx_test])",
         "from sklearn.metrics import accuracy_score\n"
         "test_acc = accuracy_score(labels[idx_test], final_model.predict(X64[idx_test]))")],
    # the split drawn with rng.choice (train first, then validation among the rest; test left sorted)
    "rng-choice-split": [
        (SPLIT, "idx_train = rng.choice(len(labels), N_TRAIN, replace=False)\n"
                "rest = np.setdiff1d(np.arange(len(labels)), idx_train)\n"
                "idx_val = rng.choice(rest, N_VAL, replace=False)\n"
                "idx_test = np.setdiff1d(rest, idx_val)")],
    # scikit-learn's train_test_split (not stratified), its random_state drawn from rng
    "train-test-split-seeded-by-rng": [
        (SPLIT, "from sklearn.model_selection import train_test_split\n"
                "seed = int(rng.integers(2**31))\n"
                "idx_train, idx_rest = train_test_split(np.arange(len(labels)), train_size=N_TRAIN, random_state=seed)\n"
                "idx_val, idx_test = train_test_split(idx_rest, train_size=N_VAL, random_state=seed)")],
    # a Python loop counting errors, per-group masks built with np.flatnonzero, shapes typed as tuples
    "python-count-and-indices": [
        ("return int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))",
         "return sum(1 for t, p in zip(y_true, y_pred) if t != p)"),
        (PER_GROUP, "keys = np.unique(groups)\n    lines = [fit_line(x[np.flatnonzero(groups == k)], "
                    "y[np.flatnonzero(groups == k)]) for k in keys]\n"
                    "    return np.array(lines)[:, 0], np.array(lines)[:, 1]"),
        ("images_shape = digits.images.shape\ndata_shape = digits.data.shape",
         "images_shape = (537, 8, 8)\ndata_shape = (537, 64)")],
}


@pytest.mark.parametrize("edits", ANOTHER_STYLE.values(), ids=ANOTHER_STYLE.keys())
def test_correct_solution_in_another_style_scores_full_marks(tmp_path, edits):
    results = grade_in_process(tmp_path, edits)
    assert not lost(results), lost(results)


# -- wrong results, made on a copy of the answer key's exported files ------------------------------------

@pytest.fixture(scope="module")
def key_snapshots(tmp_path_factory):
    """The answer key's per-question snapshots, taken in process once."""
    root = tmp_path_factory.mktemp("p01-key")
    grade_in_process(root / "run", keep=root / "snapshots")
    return root / "snapshots"


@pytest.fixture
def artifacts(key_snapshots, tmp_path):
    """A writable copy of the answer key's exported files (all questions in one folder), and a function that grades it."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    for snap in key_snapshots.iterdir():
        for f in snap.iterdir():
            if f.name != "_errors.json":
                shutil.copy(f, folder / f.name)

    def grade():
        return run_checks(ASSIGNMENT.checks_module, Artifacts(folder, HIDDEN))

    return folder, grade


def load(folder, name):
    return np.load(folder / f"{name}.npy", allow_pickle=False)


def save(folder, name, value):
    np.save(folder / f"{name}.npy", np.asarray(value), allow_pickle=False)


def failing(results) -> set[str]:
    return {r.name for r in results if r.status != "passed"}


def sweep_fitted_on_train_and_validation(folder):
    """The k-NN sweep with the validation images among the fitted ones: validation accuracy is inflated."""
    from sklearn.neighbors import KNeighborsClassifier

    X2, labels = load(folder, "X2"), ref.digits()[1]
    idx_train, idx_val = load(folder, "idx_train"), load(folder, "idx_val")
    fit = np.r_[idx_train, idx_val]
    models = [KNeighborsClassifier(n_neighbors=k).fit(X2[fit], labels[fit]) for k in ref.KS]
    val = np.array([m.score(X2[idx_val], labels[idx_val]) for m in models])
    save(folder, "train_acc", [m.score(X2[idx_train], labels[idx_train]) for m in models])
    save(folder, "val_acc", val)
    save(folder, "best_k", ref.KS[int(np.argmax(val))])


def shrink_test_split(folder):
    idx_test = load(folder, "idx_test")[:100]
    save(folder, "idx_test", idx_test)
    coef, intercept = load(folder, "final_coef"), load(folder, "final_intercept")
    labels = ref.digits()[1]
    save(folder, "test_acc", np.mean(ref.predict_linear(coef, intercept, ref.digits()[0][idx_test]) == labels[idx_test]))


def nan_weights(folder):
    save(folder, "clf64_coef", np.full((3, 64), np.nan))


def pixels_out_of_range(folder):
    (folder / "pixels.json").write_text(json.dumps([[3, 2], [9, 3]]))


def percent_accuracy(folder):
    save(folder, "test_acc", 100 * load(folder, "test_acc"))


def raw_pixel_final_model(folder):
    """final_model fitted on digits.data (0..16) instead of X64 (0..1): other weights."""
    from sklearn.linear_model import LogisticRegression

    X64, labels = ref.digits()
    idx = load(folder, "idx_train")
    model = LogisticRegression(max_iter=1000).fit(16 * X64[idx], labels[idx])
    save(folder, "final_coef", model.coef_ * 16)  # scaled back so that predictions on X64 stay the same
    save(folder, "final_intercept", model.intercept_)


def validation_accuracy_of_another_model(folder):
    save(folder, "val_acc_final", 0.97)


def best_k_removed(folder):
    (folder / "best_k.npy").unlink()


ARTIFACT_VARIANTS = [
    ("sweep-fitted-on-validation-too", sweep_fitted_on_train_and_validation, {"sweep_curves", "best_k_supported"}),
    ("test-split-too-small", shrink_test_split, {"split_sizes"}),
    # train_errors_64 is right for the model it counted (the one of the kernel): only the weights lose points
    ("nan-weights", nan_weights, {"all_pixel_coefficients"}),
    # clf2 is judged on the submission's own X2, which is fine: PIXELS itself is the fault
    ("pixels-out-of-range", pixels_out_of_range, {"two_pixel_features"}),
    ("accuracy-in-percent", percent_accuracy, {"test_accuracy_reported"}),
    # not the model asked for: its test accuracy earns no point either (issue 15, class 7)
    ("final-model-on-raw-pixels", raw_pixel_final_model, {"final_trained_on_train_split", "test_accuracy"}),
    ("best-k-missing", best_k_removed, {"best_k_supported"}),
    ("val-acc-final-not-of-final-model", validation_accuracy_of_another_model, {"test_accuracy_reported"}),
]


@pytest.mark.parametrize("edit, expected", [v[1:] for v in ARTIFACT_VARIANTS], ids=[v[0] for v in ARTIFACT_VARIANTS])
def test_wrong_result_loses_points_at_the_intended_check(artifacts, edit, expected):
    folder, grade = artifacts
    edit(folder)
    results = grade()
    assert failing(results) == expected, {r.name: r.message for r in results if r.status != "passed"}


def test_messages_say_expected_and_got(artifacts):
    folder, grade = artifacts
    x, y, _ = ref.iris_xy()
    a_swapped, b_swapped = ref.line_ref(y, x)
    save(folder, "a", [a_swapped])
    save(folder, "b", [b_swapped])
    save(folder, "best_k", 1)
    (folder / "images_shape.json").write_text("[537, 64]")
    messages = {r.name: r.message for r in grade() if r.status != "passed"}
    assert set(messages) == {"regression_coefficients", "best_k_supported", "images_and_data_shapes"}
    assert "petal length as a function of petal width" in messages["regression_coefficients"]
    assert "best *training* accuracy" in messages["best_k_supported"]
    assert messages["images_and_data_shapes"] == ("images_shape (shape of digits.images): got (537, 64), "
                                                  "expected (537, 8, 8)")


def test_rates_are_shown_as_rates_not_rounded(artifacts):
    folder, grade = artifacts
    errors = int(load(folder, "train_errors_2"))
    save(folder, "train_errors_2", errors / 537)
    message = lost(grade())["two_pixel_training_errors"]
    assert f"got {errors / 537:.6g}, expected {errors}" in message and "not a rate" in message


def test_hidden_inputs_defeat_the_shortcuts():
    h = HIDDEN
    # fit_per_group: labels not 0..k, first appearance not sorted, groups of unequal sizes
    groups = h["groups"]
    first = list(dict.fromkeys(groups.tolist()))
    assert sorted(first) == [2, 5, 9] and first != sorted(first)
    assert len(set(np.bincount(groups)[[2, 5, 9]])) == 3
    # count_errors: labels not 0..k, lengths other than 537, and the int(rate * n) shortcut one short somewhere
    pairs = [(h[f"y_true_{i}"], h[f"y_pred_{i}"]) for i in range(exporter.N_COUNT_ERRORS)]
    assert [(len(t), int(np.sum(t != p))) for t, p in pairs] == ref.COUNT_ERRORS_CASES
    assert set(np.concatenate([t for t, _ in pairs]).tolist()) == {3, 7, 12, 40}
    assert any(int(np.mean(t != p) * len(t)) != np.sum(t != p) for t, p in pairs)
    assert any(np.sum(np.abs(t - p)) != np.sum(t != p) for t, p in pairs)


def test_split_shuffle_rule_accepts_random_splits_and_rejects_file_order():
    rng = np.random.default_rng(0)
    for _ in range(200):
        order = rng.permutation(537)
        assert ref.split_problem({"a": order[:300], "b": order[300:400], "c": order[400:]}) is None
    blocks = [(np.arange(300), np.arange(300, 400), np.arange(400, 537)),
              (np.arange(237, 537), np.arange(137, 237), np.arange(137)),
              # shuffled within file-order blocks, then sorted: no longer consecutive, still from one end each
              (np.sort(np.r_[np.arange(200), np.arange(437, 537)]), np.arange(200, 300), np.arange(300, 437))]
    for train, val, test in blocks:
        assert ref.split_problem({"idx_train": train, "idx_val": val, "idx_test": test}) is not None


# -- choosing one's own evaluation data (issue 15, class 7) ----------------------------------------------------


def points_by_question(results) -> dict[str, float]:
    totals: dict[str, float] = {}
    for r in results:
        totals[r.question] = totals.get(r.question, 0) + r.points
    return totals


def test_untrained_model_on_a_one_digit_test_split_gains_no_split_and_no_test_point(tmp_path):
    edits, expected = next(w[1:] for w in WRONG if w[0] == "untrained-model-on-one-digit-test-split")
    results = grade_in_process(tmp_path, edits)
    messages = lost(results)
    assert set(messages) == expected, messages
    points = points_by_question(results)
    assert points["01.split"] == 0 and points["01.test"] == 0, points
    # every other question keeps full marks
    assert all(points[q] == QUESTIONS[q] for q in QUESTIONS if q not in ("01.split", "01.test")), points
    # said in the student's terms: what the test split holds, what a random one holds, what to do
    assert "your test split (idx_test) has 137 images of digit 0 and none of the other digits" in messages["split_shuffled"]
    assert "draw the split at random with rng" in messages["split_shuffled"]
    assert messages["split_sizes"].startswith("not credited: ")
    assert "other than the one asked for" in messages["test_accuracy"]


def test_a_one_digit_test_split_with_the_right_model_is_penalised_once_at_the_split(tmp_path):
    edits, _ = next(w[1:] for w in WRONG if w[0] == "one-digit-test-split")
    results = grade_in_process(tmp_path, edits)
    points = points_by_question(results)
    assert points["01.split"] == 0 and points["01.test"] == QUESTIONS["01.test"], lost(results)


def test_split_balance_rule_accepts_random_splits_and_rejects_splits_chosen_by_label():
    from sklearn.model_selection import train_test_split

    _, labels = ref.digits()
    everything = np.arange(ref.N_IMAGES)
    rng = np.random.default_rng(1)
    for _ in range(300):   # permutation, choice, stratified and plain train_test_split: never refused
        order = rng.permutation(ref.N_IMAGES)
        train = rng.choice(ref.N_IMAGES, ref.N_TRAIN, replace=False)
        rest = np.setdiff1d(everything, train)
        val = rng.choice(rest, ref.N_VAL, replace=False)
        seed = int(rng.integers(2**31))
        stratify = train_test_split(everything, train_size=ref.N_TRAIN, stratify=labels, random_state=seed)
        for parts in ((order[:300], order[300:400], order[400:]), (train, val, np.setdiff1d(rest, val)),
                      (stratify[0], *np.split(stratify[1], [ref.N_VAL]))):
            assert ref.label_problem(dict(zip(("idx_train", "idx_val", "idx_test"), parts))) is None
    # file-order blocks are balanced (the file cycles through 0, 1, 2): only split_problem refuses them
    blocks = {"idx_train": np.arange(300), "idx_val": np.arange(300, 400), "idx_test": np.arange(400, 537)}
    assert ref.label_problem(blocks) is None and ref.split_problem(blocks) is not None
    # test splits chosen by label, drawn at random within the chosen digits (spread over the file)
    for chosen in ([0], [2], [0, 1], [1, 2]):
        test = rng.choice(np.flatnonzero(np.isin(labels, chosen)), ref.N_TEST, replace=False)
        order = rng.permutation(np.setdiff1d(everything, test))
        idx = {"idx_train": order[:300], "idx_val": order[300:], "idx_test": test}
        assert ref.split_problem(idx) is None   # the old rule did not see it
        message = ref.label_problem(idx)
        assert message and message.startswith("your test split (idx_test) has "), chosen
        assert "none of " in message and "draw the split at random with rng" in message
    # a test split with only a handful of 2s (the rest random) is refused too
    twos = np.flatnonzero(labels == 2)
    test = np.r_[twos[:5], rng.choice(np.flatnonzero(labels != 2), ref.N_TEST - 5, replace=False)]
    order = rng.permutation(np.setdiff1d(everything, test))
    assert ref.label_problem({"idx_train": order[:300], "idx_val": order[300:], "idx_test": test}) is not None


def test_accuracy_of_another_model_on_a_random_split_is_not_credited(artifacts):
    """The gate alone: the key's random split, final_model replaced by an always-0 model with honest reports."""
    folder, grade = artifacts
    X64, labels = ref.digits()
    save(folder, "final_coef", np.zeros((3, 64)))
    save(folder, "final_intercept", [1.0, 0.0, 0.0])
    for name, idx in (("val_acc_final", "idx_val"), ("test_acc", "idx_test")):
        save(folder, name, np.mean(labels[load(folder, idx)] == 0))
    assert failing(grade()) == {"final_trained_on_train_split", "test_accuracy"}
    # and on a test split of zeros it loses the reported accuracies and every split point too
    zeros = np.flatnonzero(labels == 0)
    test = np.random.default_rng(3).choice(zeros, ref.N_TEST, replace=False)
    order = np.random.default_rng(4).permutation(np.setdiff1d(np.arange(ref.N_IMAGES), test))
    for name, value in (("idx_train", order[:300]), ("idx_val", order[300:]), ("idx_test", test)):
        save(folder, name, value)
    save(folder, "test_acc", 1.0)
    save(folder, "val_acc_final", np.mean(labels[order[300:]] == 0))
    results = grade()
    assert {"split_sizes", "split_disjoint", "split_shuffled", "final_trained_on_train_split", "test_accuracy",
            "test_accuracy_reported"} <= failing(results)
