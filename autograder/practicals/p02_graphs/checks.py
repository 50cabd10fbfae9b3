"""Checks of practical 02 (computation graphs): shapes, loss values, graph structure, gradients."""

import numpy as np

from collections import Counter

from autograder.check_api import MissingAnswer, check, expect, expect_close, expect_equal, expect_shape
from autograder.i18n import tr
from autograder.engine.in_kernel import CUT_NODE

N, D = 1000, 10
LOOP_OPS = {"While", "StatelessWhile", "For"}
# "No Python loop" is judged by what it means, never by an absolute op budget (tf.tensordot, tf.einsum or shape
# arithmetic on the None dimension legitimately add ops): no loop op in the graph, and the graph does not grow with
# the batch size. A loop over a fixed range (range(N)) does not grow with the batch but copies the same operation
# once per point: no vectorised error repeats one operation anywhere near this many times.
UNROLLED_COPIES = 100


def public_data():
    """The data of the notebook's locked data cell (same seed, same order of draws)."""
    rng = np.random.default_rng(2017)
    x = rng.normal(size=(N, D)).astype(np.float32)
    w_true = rng.normal(size=D).astype(np.float32)
    y = (x @ w_true + 1.0 + 0.1 * rng.normal(size=N)).astype(np.float32)
    w_np = rng.normal(size=D).astype(np.float32)
    b_np = np.float32(0.5)
    return x, y, w_np, b_np


def make_hidden(rng):
    """Other inputs, another batch size: they reach the kernel only in the export cell.

    Shortcut defeated by each choice (each is a mutant in mutants.py beside this file):
    - n points, n != D and n != the public 1000 (never square): a sum over the wrong axis, a transposed x, a
      signature or loop fixed to N = 1000 rows;
    - x, y, w, b drawn far from the public ones (other means and scales): predict_np / the closed form reading the
      notebook's w_np, b_np instead of their arguments, total_error or the gradient computed on the notebook's x, y,
      a hard-coded value.
    """
    n = int(rng.integers(41, 97))
    x = rng.normal(3.0, 4.0, size=(n, D))
    return {"x": x, "y": rng.normal(-20.0, 30.0, size=n), "w": rng.normal(2.0, 3.0, size=D),
            "b": np.array(rng.uniform(10.0, 20.0))}


def n_hidden(art) -> int:
    return len(art.hidden("x"))


def gradient_array(art, name) -> np.ndarray:
    """An exported gradient; a None gradient (recorded by the exporter) explained without internal names."""
    try:
        return art.array(name)
    except MissingAnswer as e:
        text = str(e)
        if "GradientMissing: " in text:
            raise MissingAnswer("error_gradient: " + text.split("GradientMissing: ", 1)[1], raised=True) from None
        raise


def predict_ref(x, w, b):
    return np.asarray(x, float) @ np.asarray(w, float) + float(b)


def error_ref(x, y, w, b):
    return float(np.sum((np.asarray(y, float) - predict_ref(x, w, b)) ** 2))


def gradient_ref(x, y, w, b):
    r = np.asarray(y, float) - predict_ref(x, w, b)
    return -2.0 * np.asarray(x, float).T @ r, -2.0 * r.sum()


def cut(graph_def) -> bool:
    """Whether tracing stopped at the exporter's operation limit (an unrolled loop: the graph is its beginning)."""
    return any(n.name.startswith(CUT_NODE) for n in graph_def.node)


def op_types(graph_def) -> list[str]:
    """Op types of a GraphDef, including the bodies of the functions it calls."""
    ops = [n.op for n in graph_def.node]
    for fn in graph_def.library.function:
        ops += [n.op for n in fn.node_def]
    return ops


def placeholders(graph_def) -> list[list[int]]:
    """Shapes (-1 for None) of the graph's float input placeholders."""
    shapes = []
    for n in graph_def.node:
        if n.op == "Placeholder" and n.attr["dtype"].type == 1:  # DT_FLOAT
            shapes.append([d.size for d in n.attr["shape"].shape.dim])
    return shapes


# -- 02.numpy -------------------------------------------------------------------------------

@check("02.numpy", points=1)
def test_ypred_np_shape(art):
    expect_shape(art.array("ypred_np"), (N,), "ypred_np")


@check("02.numpy", points=1)
def test_ypred_np_values(art):
    x, _, w, b = public_data()
    expect_close(art.array("ypred_np"), predict_ref(x, w, b), "ypred_np")


@check("02.numpy", points=1, hidden=True)
def test_predict_np_other_inputs(art):
    h = art.hidden_inputs
    expect_close(art.array("ypred_np_hidden"), predict_ref(h["x"], h["w"], h["b"]),
                 tr('predict_np on other inputs ({n_hidden} points, other w and b)').format(n_hidden=n_hidden(art)))


# -- 02.graph -------------------------------------------------------------------------------

@check("02.graph", points=1)
def test_predict_input_signature(art):
    shapes = placeholders(art.graph("predict_graph"))
    shown = [[None if v == -1 else v for v in s] for s in shapes]
    expect([-1, D] in shapes, tr('the traced graph of predict has float inputs of shapes {shown}, expected one of shape '
                                 '[None, {D}]').format(shown=shown, D=D))
    expect_equal(art.json("predict_signature"), [[None, D]], "predict's input_signature")


@check("02.graph", points=1)
def test_predict_symbolic_output_shape(art):
    expect_equal(art.json("predict_output_shape"), [None], tr("symbolic shape of predict's output"))


@check("02.graph", points=1)
def test_predict_values(art):
    x, _, w, b = public_data()
    expect_close(art.array("ypred_tf"), predict_ref(x, w, b), "predict(x)", rtol=1e-4, atol=1e-4)


@check("02.graph", points=1)
def test_predict_reads_variables(art):
    x, _, w, b = public_data()
    expect_close(art.array("w_var"), w, tr('the variable w'))
    expect_close(art.array("b_var"), b, tr('the variable b'))
    reads = op_types(art.graph("predict_graph")).count("ReadVariableOp")
    expect(reads != 1, tr("predict's graph reads one variable, expected it to read both variables w and b: does "
                          "predict add the variable b (not the constant b_np)?"))
    expect(reads >= 2, tr("predict's graph reads {reads} variable(s), expected it to read the variables w and b: "
                          'computed from constants (w_np, b_np), predict cannot be trained and the tape finds no path'
                          ' from the loss to w').format(reads=reads))


@check("02.graph", points=1, hidden=True)
def test_predict_other_batch_size(art):
    _, _, w, b = public_data()
    expect_close(art.array("predict_hidden"), predict_ref(art.hidden("x"), w, b),
                 tr('predict on a batch of {n_hidden} other points').format(n_hidden=n_hidden(art)), rtol=1e-4, atol=1e-3)


# -- 02.total_error -------------------------------------------------------------------------

@check("02.total_error", points=2)
def test_total_error_value(art):
    x, y, w, b = public_data()
    expected = error_ref(x, y, w, b)
    expect_shape(art.array("err"), (), "err")
    expect_close(art.array("err"), expected, "err = total_error(x, y)", rtol=1e-4)


@check("02.total_error", points=2)
def test_total_error_is_vectorised(art):
    ops = op_types(art.graph("total_error_graph"))
    loops = sorted(set(ops) & LOOP_OPS)
    expect(not loops, tr('the graph of total_error contains a loop (a `for` over a tensor becomes a tf.while_loop): '
                         'compute the sum over the points with one operation such as tf.reduce_sum'))
    try:
        small, large = (art.graph(n) for n in ("total_error_small", "total_error_large"))
        small, large = (None, None) if cut(small) or cut(large) else (len(op_types(small)), len(op_types(large)))
    except MissingAnswer:
        small = large = None   # total_error cannot be traced for a fixed batch size: judged by the repetition below
    expect(small == large, tr('the graph of total_error grows with the number of points (more points, more operations): a'
                              ' Python loop is unrolled into one copy of the operations per point; use tensor operations '
                              'on all the points at once'))
    op, copies = Counter(ops).most_common(1)[0] if ops else ("", 0)
    expect(copies < UNROLLED_COPIES, tr('the graph of total_error repeats the same operation {copies} times (of {len} operations '
                                        'traced): a Python loop over the points is unrolled into one copy per point; use tensor '
                                        'operations on all the points at once').format(copies=copies, len=len(ops)))


@check("02.total_error", points=2, hidden=True)
def test_total_error_other_inputs(art):
    _, _, w, b = public_data()
    expect_close(art.array("total_error_hidden"), error_ref(art.hidden("x"), art.hidden("y"), w, b),
                 tr('total_error on {n_hidden} other points').format(n_hidden=n_hidden(art)), rtol=1e-4)


# -- 02.shapes ------------------------------------------------------------------------------

EXPECTED_SHAPES = {"x": [None, D], "w": [D], "b": [], "ypred": [None], "err": []}


@check("02.shapes", points=2)
def test_shapes_answer(art):
    got = art.json("shapes")
    expect(isinstance(got, dict), tr('shapes should be a dict, got {name}').format(name=type(got).__name__))
    for key, expected in EXPECTED_SHAPES.items():
        expect(key in got, tr('shapes has no entry for {key!r}').format(key=key))
        expect_equal(got[key], expected, tr('symbolic shape of {key}').format(key=key))


# -- 02.gradient ----------------------------------------------------------------------------

@check("02.gradient", points=1)
def test_tape_gradient(art):
    x, y, w, b = public_data()
    dw, db = gradient_ref(x, y, w, b)
    expect_close(gradient_array(art, "dw"), dw, tr('dw (gradient of err with respect to w)'), rtol=1e-3, atol=1e-2)
    expect_close(gradient_array(art, "db"), db, tr('db (gradient of err with respect to b)'), rtol=1e-3, atol=1e-2)


@check("02.gradient", points=1)
def test_closed_form(art):
    x, y, w, b = public_data()
    dw, db = gradient_ref(x, y, w, b)
    expect_close(art.array("dw_closed"), dw, "error_gradient_closed_form(x, y, w_np, b_np): dw", rtol=1e-3, atol=1e-2)
    expect_close(art.array("db_closed"), db, "error_gradient_closed_form(x, y, w_np, b_np): db", rtol=1e-3, atol=1e-2)


@check("02.gradient", points=1, hidden=True)
def test_tape_gradient_other_inputs(art):
    _, _, w, b = public_data()
    dw, db = gradient_ref(art.hidden("x"), art.hidden("y"), w, b)
    what = tr('error_gradient on {n_hidden} other points').format(n_hidden=n_hidden(art))
    expect_close(gradient_array(art, "dw_hidden"), dw, what + ": dw", rtol=1e-3, atol=1e-2)
    expect_close(gradient_array(art, "db_hidden"), db, what + ": db", rtol=1e-3, atol=1e-2)


@check("02.gradient", points=1, hidden=True)
def test_closed_form_other_inputs(art):
    h = art.hidden_inputs
    dw, db = gradient_ref(h["x"], h["y"], h["w"], h["b"])
    expect_close(art.array("dw_closed_hidden"), dw, tr('error_gradient_closed_form on other inputs (other x, y, w, b): dw'))
    expect_close(art.array("db_closed_hidden"), db, tr('error_gradient_closed_form on other inputs (other x, y, w, b): db'))
