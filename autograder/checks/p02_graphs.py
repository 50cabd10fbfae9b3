"""Checks of practical 02 (computation graphs): shapes, loss values, graph structure, gradients."""

import numpy as np

from autograder.checks.api import check, expect_close, expect_equal, expect_shape

N, D = 1000, 10
LOOP_OPS = {"While", "StatelessWhile", "For"}
MAX_OPS = 60  # the reference total_error graph has about 10 ops; an unrolled loop has thousands


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
    """Other inputs, another batch size: they reach the kernel only in the export cell."""
    n = 37
    return {"x": rng.normal(size=(n, D)), "y": rng.normal(size=n), "w": rng.normal(size=D),
            "b": np.array(rng.normal())}


def predict_ref(x, w, b):
    return np.asarray(x, float) @ np.asarray(w, float) + float(b)


def error_ref(x, y, w, b):
    return float(np.sum((np.asarray(y, float) - predict_ref(x, w, b)) ** 2))


def gradient_ref(x, y, w, b):
    r = np.asarray(y, float) - predict_ref(x, w, b)
    return -2.0 * np.asarray(x, float).T @ r, -2.0 * r.sum()


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
                 "predict_np on other inputs (37 points)")


# -- 02.graph -------------------------------------------------------------------------------

@check("02.graph", points=1)
def test_predict_input_signature(art):
    shapes = placeholders(art.graph("predict_graph"))
    assert [-1, D] in shapes, (f"the traced graph of predict has float inputs of shapes {shapes} "
                               f"(-1 is None), expected one of shape [None, {D}]")
    expect_equal(art.json("predict_signature"), [[None, D]], "predict's input_signature")


@check("02.graph", points=1)
def test_predict_symbolic_output_shape(art):
    expect_equal(art.json("predict_output_shape"), [None], "symbolic shape of predict's output")


@check("02.graph", points=1)
def test_predict_values(art):
    x, _, w, b = public_data()
    expect_close(art.array("ypred_tf"), predict_ref(x, w, b), "predict(x)", rtol=1e-4, atol=1e-4)


@check("02.graph", points=1)
def test_predict_reads_variables(art):
    x, _, w, b = public_data()
    expect_close(art.array("w_var"), w, "the variable w")
    expect_close(art.array("b_var"), b, "the variable b")
    reads = op_types(art.graph("predict_graph")).count("ReadVariableOp")
    assert reads >= 2, f"predict's graph reads {reads} variable(s), expected it to read w and b"


@check("02.graph", points=1, hidden=True)
def test_predict_other_batch_size(art):
    _, _, w, b = public_data()
    expect_close(art.array("predict_hidden"), predict_ref(art.hidden("x"), w, b),
                 "predict on a batch of 37 other points", rtol=1e-4, atol=1e-4)


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
    assert not loops, f"total_error's graph contains a loop ({', '.join(loops)}): compute it without a loop"
    small, large = (len(op_types(art.graph(n))) for n in ("total_error_n5", "total_error_n50"))
    assert small == large, (f"total_error's graph has {small} ops for 5 points and {large} for 50: "
                            "the graph grows with N, so it is an unrolled Python loop")
    assert len(ops) <= MAX_OPS, f"total_error's graph has {len(ops)} ops, expected at most {MAX_OPS}"


@check("02.total_error", points=2, hidden=True)
def test_total_error_other_inputs(art):
    _, _, w, b = public_data()
    expect_close(art.array("total_error_hidden"), error_ref(art.hidden("x"), art.hidden("y"), w, b),
                 "total_error on 37 other points", rtol=1e-4)


# -- 02.shapes ------------------------------------------------------------------------------

EXPECTED_SHAPES = {"x": [None, D], "w": [D], "b": [], "ypred": [None], "err": []}


@check("02.shapes", points=2)
def test_shapes_answer(art):
    got = art.json("shapes")
    assert isinstance(got, dict), f"shapes should be a dict, got {type(got).__name__}"
    for key, expected in EXPECTED_SHAPES.items():
        assert key in got, f"shapes has no entry for {key!r}"
        expect_equal(got[key], expected, f"symbolic shape of {key}")


# -- 02.gradient ----------------------------------------------------------------------------

@check("02.gradient", points=1)
def test_tape_gradient(art):
    x, y, w, b = public_data()
    dw, db = gradient_ref(x, y, w, b)
    expect_close(art.array("dw"), dw, "dw (gradient of err with respect to w)", rtol=1e-3, atol=1e-2)
    expect_close(art.array("db"), db, "db (gradient of err with respect to b)", rtol=1e-3, atol=1e-2)


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
    expect_close(art.array("dw_hidden"), dw, "error_gradient on other inputs: dw", rtol=1e-3, atol=1e-3)
    expect_close(art.array("db_hidden"), db, "error_gradient on other inputs: db", rtol=1e-3, atol=1e-3)


@check("02.gradient", points=1, hidden=True)
def test_closed_form_other_inputs(art):
    h = art.hidden_inputs
    dw, db = gradient_ref(h["x"], h["y"], h["w"], h["b"])
    expect_close(art.array("dw_closed_hidden"), dw, "error_gradient_closed_form on other inputs: dw")
    expect_close(art.array("db_closed_hidden"), db, "error_gradient_closed_form on other inputs: db")
