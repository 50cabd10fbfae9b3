"""Practical 02 graded end to end: answer key, blank release, wrong and hostile submissions."""

import pytest

from autograder import assignments
from autograder.grade import grade_notebook
from autograder.paths import REPO
from conftest import mutate, not_passed

KEY = assignments.get("02-graphs").solution_notebook(REPO)
SUM = "return tf.reduce_sum(tf.square(y - predict(x)))"

# (id, edits to the answer key, the checks that must lose their points; every other check must pass)
WRONG = [
    ("python-loop", [(SUM, "total = 0.0\n    for i in range(N):\n"
                           "        total += (y[i] - predict(x[i:i + 1])[0]) ** 2\n    return total")],
     {"total_error_is_vectorised", "total_error_other_inputs"}),
    ("wrong-axis", [("np.sum(w * x, axis=1) + b", "np.sum(w * x, axis=0) + b")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    ("mean-not-sum", [(SUM, "return tf.reduce_mean(tf.square(y - predict(x)))")],
     {"total_error_value", "total_error_other_inputs", "tape_gradient", "tape_gradient_other_inputs"}),
    ("missing-bias", [("np.sum(w * x, axis=1) + b", "np.sum(w * x, axis=1)")],
     {"ypred_np_values", "predict_np_other_inputs"}),
    ("column-shape", [("np.sum(w * x, axis=1) + b", "x @ w[:, None] + b")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    ("hard-coded-error", [(SUM, "return tf.constant(41888.953125)")],
     {"total_error_other_inputs", "tape_gradient", "tape_gradient_other_inputs"}),
    ("fixed-batch-signature", [("tf.TensorSpec(shape=[None, D], dtype=tf.float32)])\ndef predict",
                                "tf.TensorSpec(shape=[N, D], dtype=tf.float32)])\ndef predict")],
     {"predict_input_signature", "predict_symbolic_output_shape", "predict_other_batch_size",
      "total_error_value", "total_error_is_vectorised", "total_error_other_inputs",
      "tape_gradient", "tape_gradient_other_inputs"}),
    ("concrete-shapes-answer", [('"ypred": (None,),', '"ypred": (N,),')], {"shapes_answer"}),
    ("closed-form-sign", [("return -2 * x.T @ r, -2 * np.sum(r)", "return 2 * x.T @ r, 2 * np.sum(r)")],
     {"closed_form", "closed_form_other_inputs"}),
    # hostile or broken submissions: only the affected checks score 0, the notebook is still graded
    ("syntax-error", [("return np.sum(w * x, axis=1) + b", "return np.sum(w * x, axis=1) + b)")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    ("raises", [("return np.sum(w * x, axis=1) + b", "raise RuntimeError('boom')")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    ("always-equal-object", [("ypred_np = predict_np(x, w_np, b_np)",
                              "class Anything:\n    def __eq__(self, other):\n        return True\n"
                              "    __array_priority__ = 1000\n"
                              "ypred_np = Anything()")],
     {"ypred_np_shape", "ypred_np_values"}),
]


def test_answer_key_scores_full_marks(graded_key):
    result = graded_key("02-graphs")
    assert result.status == "graded", result.reason
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == 20
    kinds = {c.question for c in result.checks}
    assert kinds == {"02.numpy", "02.graph", "02.total_error", "02.shapes", "02.gradient"}
    assert any(c.hidden for c in result.checks)


def test_blank_release_scores_zero_and_is_graded(graded_blank):
    result = graded_blank("02-graphs")
    assert result.status == "graded"
    assert result.score == 0 and result.max_score == 20
    assert all(c.message for c in result.checks), "every lost point says why"


@pytest.mark.parametrize("edits, expected", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_wrong_submission_loses_points_at_the_intended_check(tmp_path, edits, expected):
    result = grade_notebook(mutate(KEY, tmp_path, edits))
    assert result.status == "graded", result.reason
    assert not_passed(result) == expected, {c.name: c.message for c in result.checks if c.status != "passed"}
    assert 0 < result.score < result.max_score


def test_messages_say_expected_and_got(tmp_path):
    result = grade_notebook(mutate(KEY, tmp_path, WRONG[4][1]))
    messages = {c.name: c.message for c in result.checks}
    assert messages["ypred_np_shape"] == "ypred_np has shape (1000, 1), expected (1000,)"
