"""Practical 02 graded end to end: answer key, blank release, wrong and hostile submissions."""

import pytest

from autograder import assignments
from autograder.grade import grade_notebook
from autograder.paths import REPO
from conftest import assert_caught, mutate

KEY = assignments.get("02-graphs").solution_notebook(REPO)
from autograder.mutants.p02_graphs import WRONG  # noqa: E402  (shared with `autograder ci`)


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
    assert_caught(KEY, tmp_path, edits, expected)


def test_messages_say_expected_and_got(tmp_path):
    result = grade_notebook(mutate(KEY, tmp_path, WRONG[4][1]))
    messages = {c.name: c.message for c in result.checks}
    assert messages["ypred_np_shape"] == "ypred_np has shape (1000, 1), expected (1000,)"
