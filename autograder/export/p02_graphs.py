"""Export of practical 02 (computation graphs): arrays, shapes and traced GraphDefs of the student's functions."""


def _concrete(fn, *specs):
    """The traced graph of a tf.function: its own input signature if it has one, else ``specs``."""
    if getattr(fn, "input_signature", None) is not None:
        return fn.get_concrete_function()
    if hasattr(fn, "get_concrete_function"):
        return fn.get_concrete_function(*specs)
    raise TypeError(f"expected a tf.function, got {type(fn).__name__}")


def _retrace(fn, n, d):
    """Trace the plain Python function again at batch size ``n``: an unrolled loop shows as more ops."""
    import tensorflow as tf

    python_fn = getattr(fn, "python_function", fn)
    return tf.function(python_fn).get_concrete_function(tf.TensorSpec([n, d], tf.float32), tf.TensorSpec([n], tf.float32))


def export(ex):
    import numpy as np

    g = ex.get
    h = ex.hidden
    if h is not None:
        x_h, y_h = h["x"].astype(np.float32), h["y"].astype(np.float32)

    def tf_spec(rank=2):
        import tensorflow as tf

        return tf.TensorSpec([None, g("D")][:rank], tf.float32)

    with ex.question("02.numpy"):
        ex.array("ypred_np", lambda: g("ypred_np"))
        if h is not None:
            ex.array("ypred_np_hidden", lambda: g("predict_np")(h["x"], h["w"], h["b"]))

    with ex.question("02.graph"):
        def signature():
            sig = getattr(g("predict"), "input_signature", None)
            return None if sig is None else [spec.shape.as_list() for spec in sig]

        ex.array("w_var", lambda: g("w").numpy())
        ex.array("b_var", lambda: g("b").numpy())
        ex.json("predict_signature", signature)
        ex.graph("predict_graph", lambda: _concrete(g("predict"), tf_spec()))
        ex.json("predict_output_shape", lambda: _concrete(g("predict"), tf_spec()).structured_outputs.shape)
        ex.array("ypred_tf", lambda: g("predict")(g("x")))
        if h is not None:
            ex.array("predict_hidden", lambda: g("predict")(x_h))

    with ex.question("02.total_error"):
        ex.array("err", lambda: g("err"))
        ex.graph("total_error_graph", lambda: _concrete(g("total_error"), tf_spec(), tf_spec(1)))
        ex.graph("total_error_n5", lambda: _retrace(g("total_error"), 5, g("D")))
        ex.graph("total_error_n50", lambda: _retrace(g("total_error"), 50, g("D")))
        if h is not None:
            ex.array("total_error_hidden", lambda: g("total_error")(x_h, y_h))

    with ex.question("02.shapes"):
        ex.json("shapes", lambda: {k: None if v is None else list(v) for k, v in dict(g("shapes")).items()})

    with ex.question("02.gradient"):
        ex.array("dw", lambda: g("dw"))
        ex.array("db", lambda: g("db"))
        closed = lambda: g("error_gradient_closed_form")(g("x"), g("y"), g("w_np"), g("b_np"))  # noqa: E731
        ex.array("dw_closed", lambda: closed()[0])
        ex.array("db_closed", lambda: closed()[1])
        if h is not None:
            ex.array("dw_hidden", lambda: g("error_gradient")(x_h, y_h)[0])
            ex.array("db_hidden", lambda: g("error_gradient")(x_h, y_h)[1])
            ex.array("dw_closed_hidden", lambda: g("error_gradient_closed_form")(h["x"], h["y"], h["w"], h["b"])[0])
            ex.array("db_closed_hidden", lambda: g("error_gradient_closed_form")(h["x"], h["y"], h["w"], h["b"])[1])
