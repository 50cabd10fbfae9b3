"""Practical 02 graded end to end: answer key, blank release, wrong and hostile submissions, other correct styles.

The answer key, the blank release and two wrong submissions run as real notebooks. Every other variant (the
mutants of autograder.practicals.p02_graphs.mutants, shared with `autograder ci`, and the correct alternative styles) runs
IN THIS PROCESS, the way the grader takes its snapshots: the notebook's code cells are executed in order in one
namespace, and where a locked `check("02.q")` cell stands the real exporter writes that question's answers only
(with the hidden inputs); the real checks then read each question's snapshot. The whole notebook takes about a
second this way.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from autograder import practicals
from autograder.practicals.p02_graphs import checks
from autograder.check_api import Artifacts
from autograder.engine.check_runner import run_checks
from autograder.practicals.p02_graphs import in_kernel as exporter
from autograder.grade import hidden_inputs
from autograder.practicals.p02_graphs.mutants import WRONG
from autograder.paths import REPO
from helpers import assert_caught, grade_in_process as run_in_process

NAME = "02-graphs"
A = practicals.get(NAME)
KEY = A.solution_notebook(REPO)
HIDDEN = hidden_inputs(A)


def grade_in_process(tmp_path: Path, edits=(), keep: Path | None = None) -> list:
    """The (edited) answer key run in this process, each question snapshot at its check cell, then checked."""
    return run_in_process(NAME, tmp_path, edits, keep, HIDDEN)


def lost(results) -> dict[str, str]:
    return {r.name: r.message for r in results if r.status != "passed"}


# -- real gradings --------------------------------------------------------------------------------

def test_answer_key_scores_full_marks(graded_key):
    result = graded_key(NAME)
    assert result.status == "graded", result.reason
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == 20
    kinds = {c.question for c in result.checks}
    assert kinds == {"02.numpy", "02.graph", "02.total_error", "02.shapes", "02.gradient"}
    assert any(c.hidden for c in result.checks)


def test_blank_release_scores_zero_and_is_graded(graded_blank):
    result = graded_blank(NAME)
    assert result.status == "graded"
    assert result.score == 0 and result.max_score == 20
    assert all(c.message for c in result.checks), "every lost point says why"


# graded as real notebooks: the unrolled loop (its 1000 traced copies take a minute: too slow in process too),
# and a None gradient (the in-process runs agree with the kernel)
REAL = ("python-loop", "tape-before-recording")
_REAL_RESULTS: dict = {}


def graded_for_real(tmp_path, mutant):
    if mutant not in _REAL_RESULTS:
        edits, expected = next(w[1:] for w in WRONG if w[0] == mutant)
        _REAL_RESULTS[mutant] = assert_caught(KEY, tmp_path, edits, expected)
    return _REAL_RESULTS[mutant]


@pytest.mark.parametrize("mutant", REAL)
def test_wrong_submission_graded_for_real(tmp_path, mutant):
    result = graded_for_real(tmp_path, mutant)
    assert result.status == "graded"


# -- in process -----------------------------------------------------------------------------------

def test_in_process_answer_key_scores_full_marks(tmp_path):
    results = grade_in_process(tmp_path)
    assert not lost(results), lost(results)
    assert any(r.hidden for r in results) and len(results) == 16


IN_PROCESS = [w for w in WRONG if w[0] != "python-loop"]


@pytest.mark.parametrize("edits, expected", [w[1:] for w in IN_PROCESS], ids=[w[0] for w in IN_PROCESS])
def test_wrong_submission_loses_points_at_the_intended_check(tmp_path, edits, expected):
    messages = lost(grade_in_process(tmp_path, edits))
    assert set(messages) == expected, messages


PREDICT_NP = "return np.sum(w * x, axis=1) + b"
PREDICT = "return tf.reduce_sum(w * x, axis=1) + b"
SUM = "return tf.reduce_sum(tf.square(y - predict(x)))"
TAPE = "dw, db = tape.gradient(e, [w, b])\n    return dw, db"
CLOSED = "r = y - (x @ w + b)\n    return -2 * x.T @ r, -2 * np.sum(r)"

# correct answers in other styles, written from the student notebook: each must get full marks
ANOTHER_STYLE = {
    "matmul-tensordot": [(PREDICT_NP, "return x @ w + b"), (PREDICT, "return tf.linalg.matvec(x, w) + b"),
                         (SUM, "r = y - predict(x)\n    return tf.tensordot(r, r, axes=1)")],
    "einsum": [(PREDICT_NP, 'return np.einsum("nd,d->n", x, w) + b'),
               (PREDICT, 'return tf.einsum("nd,d->n", x, w) + b'),
               (SUM, 'r = y - predict(x)\n    return tf.einsum("i,i->", r, r)')],
    "tensordot-l2-loss": [(PREDICT_NP, "return np.dot(x, w) + b"), (PREDICT, "return tf.tensordot(x, w, axes=1) + b"),
                          (SUM, "return 2 * tf.nn.l2_loss(y - predict(x))")],
    "at-operator-squared-difference": [
        (PREDICT, "return tf.squeeze(x @ tf.reshape(w, [-1, 1]), axis=1) + b"),
        (SUM, "return tf.reduce_sum(tf.math.squared_difference(y, predict(x)))"),
        (TAPE, "grads = tape.gradient(e, [w, b])\n    return grads[0], grads[1]"),
        (CLOSED, "r = y - x @ w - b\n    return -2 * (r @ x), -2 * r.sum()")],
    "column-then-reshape-power": [
        (PREDICT, "return tf.reshape(tf.matmul(x, w[:, None]), [-1]) + b"),
        (SUM, "diff = y - predict(x)\n    return tf.reduce_sum(diff ** 2)"),
        (TAPE, "return tuple(tape.gradient(e, [w, b]))"),
        ('"x": (None, D),', '"x": (None, 10),'), ('"w": (D,),', '"w": [10],')],
    "matmul-of-residuals": [
        (SUM, "r = tf.expand_dims(y - predict(x), 1)\n    return tf.squeeze(tf.matmul(r, r, transpose_a=True))")],
}


@pytest.mark.parametrize("edits", ANOTHER_STYLE.values(), ids=ANOTHER_STYLE.keys())
def test_correct_solution_in_another_style_scores_full_marks(tmp_path, edits):
    results = grade_in_process(tmp_path, edits)
    assert not lost(results), lost(results)


def test_messages_say_expected_and_got(tmp_path):
    wrong = dict((w[0], w[1]) for w in WRONG)
    assert lost(grade_in_process(tmp_path / "a", wrong["column-shape"]))["ypred_np_shape"] == (
        "ypred_np has shape (1000, 1), expected (1000,)")
    result = graded_for_real(tmp_path / "b", "tape-before-recording")
    messages = {c.name: c.message for c in result.checks if c.status != "passed"}
    for name in ("tape_gradient", "tape_gradient_other_inputs"):
        assert "the tape found no path from the loss to w: does predict use the variables w and b" in messages[name]
        assert "NoneType" not in messages[name] and "GradientMissing" not in messages[name]


def test_loop_messages_name_no_internal_sizes(tmp_path):
    """An unrolled loop over range(N) (real grading) and one over the batch size (its traced graphs)."""
    import tensorflow as tf

    result = graded_for_real(tmp_path / "real", "python-loop")
    fixed = next(c.message for c in result.checks if c.name == "total_error_is_vectorised")
    assert "unrolled" in fixed and "repeats the same operation" in fixed

    # a loop over the static batch size, traced by the exporter's own function at its two batch sizes
    w, b = tf.Variable(np.ones(checks.D, np.float32)), tf.Variable(0.5)

    def total_error(x, y):
        total = 0.0
        for i in range(x.shape[0]):
            total += tf.square(y[i] - (tf.reduce_sum(w * x[i]) + b))
        return total

    folder = tmp_path / "snap"
    grade_in_process(tmp_path / "key", keep=folder)
    art = folder / "02.total_error"
    for name, n in (("total_error_small", exporter.SMALL), ("total_error_large", exporter.LARGE)):
        (art / f"{name}.pb").write_bytes(exporter._retrace(total_error, n, checks.D).graph.as_graph_def()
                                         .SerializeToString())
    results = run_checks(A.checks_module, {"02.total_error": Artifacts(art, HIDDEN)})
    grows = next(r.message for r in results if r.name == "total_error_is_vectorised")
    assert "grows with the number of points" in grows
    for text in (grows, fixed):
        assert not re.search(r"\b(5|50)\b", text) and "strided" not in text.lower(), text


def test_hidden_inputs_defeat_the_shortcuts():
    h = HIDDEN
    n, d = h["x"].shape
    assert d == checks.D and n not in (d, checks.N) and h["y"].shape == (n,)
    x, y, w, b = checks.public_data()
    # far from the public values: reading the notebook's w_np, b_np instead of the arguments changes the answer
    assert np.abs(h["w"] - w).min() > 0 and abs(float(h["b"]) - float(b)) > 5
    assert abs(h["x"].mean() - x.mean()) > 1 and abs(h["y"].mean() - y.mean()) > 5


def test_unrolled_loop_threshold_is_far_from_legitimate_graphs(tmp_path):
    """The repetition limit is no op budget: the busiest correct graphs repeat an operation a few times only."""
    from collections import Counter

    import tensorflow as tf

    worst = 0
    for name, edits in ANOTHER_STYLE.items():
        ns = {"tf": tf, "D": checks.D, "w": tf.Variable(checks.public_data()[2]), "b": tf.Variable(0.5)}
        src = dict(edits).get(SUM, SUM)
        code = ("@tf.function(input_signature=[tf.TensorSpec([None, D], tf.float32), tf.TensorSpec([None], tf.float32)])\n"
                f"def total_error(x, y):\n    {src}\n")
        exec(compile("def predict(x):\n    return tf.einsum('nd,d->n', x, w) + b\n" + code, f"<{name}>", "exec"), ns)
        graph = ns["total_error"].get_concrete_function().graph.as_graph_def()
        worst = max(worst, Counter(checks.op_types(graph)).most_common(1)[0][1])
    assert worst * 5 < checks.UNROLLED_COPIES, worst


def test_unrolled_loop_trace_is_cut_at_the_op_limit_and_still_judged(tmp_path):
    """Tracing stops at the exporter's operation limit (a second, not the full unrolled loop's twenty): the cut
    graph says so, the vectorised one is whole, and the check still names the repetition without claiming the
    graph grew with the batch."""
    import time

    import tensorflow as tf

    from autograder.engine.in_kernel import TRACE_OP_LIMIT, CutGraph

    w, b = tf.Variable(np.ones(checks.D, np.float32)), tf.Variable(0.5)
    predict = tf.function(lambda x: tf.reduce_sum(w * x, axis=1) + b)

    def looped(x, y):
        total = 0.0
        for i in range(checks.N):
            total += (y[i] - predict(x[i:i + 1])[0]) ** 2
        return total

    def vectorised(x, y):
        return tf.reduce_sum(tf.square(y - predict(x)))

    start = time.monotonic()
    cut = exporter._concrete(tf.function(looped), tf.TensorSpec([None, checks.D]), tf.TensorSpec([None]))
    assert isinstance(cut, CutGraph) and time.monotonic() - start < 10
    whole = exporter._concrete(tf.function(vectorised), tf.TensorSpec([None, checks.D]), tf.TensorSpec([None]))
    assert not isinstance(whole, CutGraph) and not checks.cut(whole.graph.as_graph_def())
    graph = cut.graph.as_graph_def()
    assert checks.cut(graph) and len(graph.node) <= TRACE_OP_LIMIT + 1

    folder = tmp_path / "snap"
    grade_in_process(tmp_path / "key", keep=folder)
    art = folder / "02.total_error"
    for name in ("total_error_graph", "total_error_small", "total_error_large"):
        (art / f"{name}.pb").write_bytes(graph.SerializeToString())
    results = run_checks(A.checks_module, {"02.total_error": Artifacts(art, HIDDEN)})
    message = next(r.message for r in results if r.name == "total_error_is_vectorised")
    assert "repeats the same operation" in message and "operations traced" in message
    assert "grows with the number of points" not in message


def test_a_predict_that_forgets_b_is_told_so(tmp_path):
    """predict's graph reads w only: the message asks about b, not about constants (it reads the variable w)."""
    messages = lost(grade_in_process(tmp_path, [(PREDICT, "return tf.reduce_sum(w * x, axis=1)")]))
    message = messages["predict_reads_variables"]
    assert "reads one variable" in message and "the variable b" in message, message
    assert "computed from constants" not in message
