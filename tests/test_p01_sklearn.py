"""Practical 01 graded end to end: answer key, blank release, another correct style, wrong submissions.

Wrong submissions that change code run as notebooks (autograder.mutants.p01_sklearn.WRONG, shared with
`autograder ci`); those that only change a result are made by editing a copy of the answer key's exported files.
"""

import json
import shutil

import numpy as np
import pytest

from autograder import assignments
from autograder.checks import p01_sklearn as ref
from autograder.checks.api import Artifacts, threshold
from autograder.checks.runner import run_checks
from autograder.grade import grade_notebook, hidden_inputs
from autograder.mutants.p01_sklearn import WRONG
from autograder.paths import REPO
from conftest import assert_caught, mutate, not_passed

NAME = "01-sklearn"
ASSIGNMENT = assignments.get(NAME)
KEY = ASSIGNMENT.solution_notebook(REPO)
QUESTIONS = {"01.regression": 4, "01.per_species": 3, "01.images_vs_data": 2, "01.two_pixels": 5,
             "01.all_pixels": 3, "01.split": 2, "01.sweep": 4, "01.test": 4}


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
    import nbformat

    nb = nbformat.read(KEY, as_version=4)
    cells = {c.source: c.metadata["nbgrader"]["points"] for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    assert cells == {f'check("{q}")': p for q, p in QUESTIONS.items()}


def test_notebook_does_not_import_tensorflow():
    text = KEY.read_text()
    assert "tensorflow" not in text and "keras" not in text
    assert not ASSIGNMENT.uses_tensorflow


@pytest.mark.parametrize("edits, expected", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_wrong_submission_loses_points_at_the_intended_check(tmp_path, edits, expected):
    assert_caught(KEY, tmp_path, edits, expected)


ANOTHER_STYLE = [
    # np.polyfit instead of LinearRegression; the pixels read from images; another solver; another pair of pixels
    ("reg = LinearRegression().fit(x.reshape(-1, 1), y)\n    return float(reg.coef_[0]), float(reg.intercept_)",
     "slope, intercept = np.polyfit(x, y, 1)\n    return slope, intercept"),
    ("PIXELS = [(3, 2), (4, 3)]", "PIXELS = [(2, 3), (5, 4)]"),
    ("X2 = X64[:, [pixel_index(r, c) for r, c in PIXELS]]",
     "X2 = np.stack([digits.images[:, r, c] / 16 for r, c in PIXELS], axis=1)"),
    ("clf2 = LogisticRegression(max_iter=1000).fit(X2, labels)",
     "clf2 = LogisticRegression(solver='newton-cg', max_iter=1000).fit(X2, labels)"),
    ("return int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))",
     "return len(y_true) - int(np.equal(y_true, y_pred).sum())"),
    # a stratified split with scikit-learn, k chosen as the last best, the final model refitted on train + validation
    ("order = rng.permutation(len(labels))\nidx_train = order[:N_TRAIN]\nidx_val = order[N_TRAIN:N_TRAIN + N_VAL]\n"
     "idx_test = order[N_TRAIN + N_VAL:]",
     "from sklearn.model_selection import train_test_split\n"
     "idx_rest, idx_test = train_test_split(np.arange(len(labels)), test_size=N_TEST, stratify=labels, random_state=1)\n"
     "idx_train, idx_val = train_test_split(idx_rest, test_size=N_VAL, stratify=labels[idx_rest], random_state=1)"),
    ("best_k = KS[int(np.argmax(val_acc))]", "best_k = KS[len(KS) - 1 - int(np.argmax(val_acc[::-1]))]"),
    ("fit(X64[idx_train], labels[idx_train])\nval_acc_final",
     "fit(X64[np.r_[idx_train, idx_val]], labels[np.r_[idx_train, idx_val]])\nval_acc_final"),
]


def test_correct_solution_in_another_style_scores_full_marks(tmp_path):
    result = grade_notebook(mutate(KEY, tmp_path, ANOTHER_STYLE))
    assert result.status == "graded", result.reason
    assert not_passed(result) == set(), {c.name: c.message for c in result.checks if c.status != "passed"}


# -- wrong results, made on a copy of the answer key's exported files ------------------------------------

@pytest.fixture
def artifacts(key_artifacts, tmp_path):
    """A writable copy of the answer key's exported files, and a function that grades it."""
    folder = tmp_path / "artifacts"
    shutil.copytree(key_artifacts(NAME), folder)

    def grade():
        return run_checks(ASSIGNMENT.checks_module, Artifacts(folder, hidden_inputs(ASSIGNMENT)))

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


def best_k_removed(folder):
    (folder / "best_k.npy").unlink()


ARTIFACT_VARIANTS = [
    ("sweep-fitted-on-validation-too", sweep_fitted_on_train_and_validation, {"sweep_curves", "best_k_supported"}),
    ("test-split-too-small", shrink_test_split, {"split_sizes"}),
    ("nan-weights", nan_weights, {"all_pixel_coefficients", "all_pixel_training_errors"}),
    ("pixels-out-of-range", pixels_out_of_range, {"two_pixel_features", "two_pixel_coefficients"}),
    ("accuracy-in-percent", percent_accuracy, {"test_accuracy_reported"}),
    ("final-model-on-raw-pixels", raw_pixel_final_model, {"final_trained_on_train_split"}),
    ("best-k-missing", best_k_removed, {"best_k_supported"}),
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


def test_hidden_inputs_reach_only_hidden_checks():
    hidden = hidden_inputs(ASSIGNMENT)
    assert set(hidden) == {"x", "y", "gx", "gy", "groups", "y_true", "y_pred"}
    errors = [int(np.sum(t != p)) for t, p in zip(hidden["y_true"], hidden["y_pred"])]
    assert errors == [0, 7, 23, 50]
