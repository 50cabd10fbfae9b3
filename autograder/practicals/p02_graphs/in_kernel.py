"""Export of practical 02 (computation graphs): arrays, shapes and traced GraphDefs of the student's functions.

One mistake is penalised once, at the question that names it: where a function asked earlier is wrong, the
answers of a later question are computed with the grader's *reference* version of it instead. ``total_error`` is
traced and evaluated with a reference ``predict`` (built on the notebook's variables ``w`` and ``b``) when the
student's ``predict`` is wrong, and ``error_gradient`` runs with a reference ``predict`` / ``total_error`` when the
student's are wrong: a wrong ``predict`` loses points at 02.graph only, a wrong ``total_error`` at 02.total_error
only. (A correct function is left as it is: tracing an unrolled loop again would cost a minute.)
"""

import contextlib

from autograder.engine.in_kernel import bounded_trace

SMALL, LARGE = 5, 50   # two batch sizes at which total_error is traced again: an unrolled loop grows with it


class GradientMissing(ValueError):
    """The tape returned None: the loss does not depend on the variable."""


@contextlib.contextmanager
def _replaced(ns, **names):
    """Temporarily bind ``names`` in the student's namespace (their functions look their helpers up there)."""
    missing = object()
    saved = {k: ns.get(k, missing) for k in names}
    ns.update(names)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is missing:
                ns.pop(k, None)
            else:
                ns[k] = v


def _fresh(fn):
    """A new tf.function around the student's Python function: traced again, so it calls the helpers bound now.

    (A tf.function already traced keeps the helpers it captured; a plain Python function is returned as is.)
    """
    import tensorflow as tf

    python_fn = getattr(fn, "python_function", None)
    if python_fn is None:
        if not callable(fn):
            raise TypeError(f"expected a function, got {type(fn).__name__}")
        return fn
    return tf.function(python_fn, input_signature=getattr(fn, "input_signature", None))


def _references(ns, d):
    """The grader's predict and total_error, on the student's variables w and b (same graph signatures)."""
    import tensorflow as tf

    w, b = ns["w"], ns["b"]

    @tf.function(input_signature=[tf.TensorSpec([None, d], tf.float32)])
    def predict(x):
        return tf.linalg.matvec(x, w) + b

    @tf.function(input_signature=[tf.TensorSpec([None, d], tf.float32), tf.TensorSpec([None], tf.float32)])
    def total_error(x, y):
        return tf.reduce_sum(tf.square(y - predict(x)))

    return predict, total_error


def _close(got, expected) -> bool:
    import numpy as np

    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=1e-4, atol=1e-3))


def _upstream_faults(ns, x, y, names=("predict", "total_error")):
    """Which of the student's predict and total_error (of ``names``: a wrong predict makes total_error wrong too)
    are wrong, to be replaced by the reference in later answers.

    predict: right values on the public x and on 3 of its rows, and a gradient that reaches w and b; total_error:
    right values on the public x, y and on 3 points. Only the questions that use total_error ask for it: running
    a slow one (an unrolled loop traces for seconds) is not the predict question's cost.
    """
    import tensorflow as tf

    ref_predict, ref_total_error = _references(ns, x.shape[1])
    faults = set()
    try:
        predict = ns["predict"]
        ok = _close(predict(x), ref_predict(x)) and _close(predict(x[:3]), ref_predict(x[:3]))
        with tf.GradientTape() as tape:
            s = tf.reduce_sum(predict(x[:3]))
        ok = ok and all(grad is not None for grad in tape.gradient(s, [ns["w"], ns["b"]]))
    except Exception:
        ok = False
    if not ok:
        faults.add("predict")
    if "total_error" not in names:
        return faults
    try:
        total_error = ns["total_error"]
        ok = (_close(total_error(x, y), ref_total_error(x, y))
              and _close(total_error(x[:3], y[:3]), ref_total_error(x[:3], y[:3])))
    except Exception:
        ok = False
    if not ok or faults:
        faults.add("total_error")
    return faults


def _concrete(fn, *specs):
    """The traced graph of a tf.function: its own input signature if it has one, else ``specs``."""
    if getattr(fn, "input_signature", None) is not None:
        return bounded_trace(fn.get_concrete_function)
    if hasattr(fn, "get_concrete_function"):
        return bounded_trace(lambda: fn.get_concrete_function(*specs))
    raise TypeError(f"expected a tf.function (decorated with @tf.function), got {type(fn).__name__}")


def _retrace(fn, n, d):
    """Trace the student's Python function again for a batch of ``n`` points: an unrolled loop shows as more ops."""
    import tensorflow as tf

    python_fn = getattr(fn, "python_function", fn)
    return bounded_trace(lambda: tf.function(python_fn).get_concrete_function(tf.TensorSpec([n, d], tf.float32),
                                                                              tf.TensorSpec([n], tf.float32)))


def _gradients(result):
    """(dw, db) returned by error_gradient, as numbers; a None gradient explained."""
    import numpy as np

    try:
        dw, db = result
    except (TypeError, ValueError):
        raise TypeError(f"error_gradient should return two gradients (dw, db), got {type(result).__name__}") from None
    for name, grad in (("w", dw), ("b", db)):
        if grad is None:
            raise GradientMissing(
                f"the tape found no path from the loss to {name}: does predict use the variables w and b, and is "
                "the loss computed inside the `with tf.GradientTape() as tape:` block?")
    return np.asarray(dw), np.asarray(db)


def export(ex):
    import numpy as np

    g = ex.get
    h = ex.hidden
    ns = ex.ns
    if h is not None:
        x_h, y_h = h["x"].astype(np.float32), h["y"].astype(np.float32)

    def tf_spec(rank=2):
        import tensorflow as tf

        return tf.TensorSpec([None, g("D")][:rank], tf.float32)

    def faults(names=("predict", "total_error")):
        """The upstream functions of ``names`` to replace (each computed once, when a later question first needs it)."""
        if not set(names) <= cache.setdefault("judged", set()):
            cache["faults"] = _upstream_faults(ns, g("x"), g("y"), names)
            cache["judged"] = set(names)
        return cache["faults"]

    def upstream(names, compute):
        """Run ``compute`` with the reference versions of those of ``names`` that are wrong."""
        replace = [k for k in names if k in faults(names)]
        if not replace:
            return compute()
        ref_predict, ref_total_error = _references(ns, g("D"))
        refs = {"predict": ref_predict, "total_error": ref_total_error}
        with _replaced(ns, **{k: refs[k] for k in replace}):
            return compute()

    def total_error():
        """The student's total_error, traced again (once) with the reference predict if their predict is wrong."""
        if "total_error" not in cache:
            fn = g("total_error")
            cache["total_error"] = _fresh(fn) if "predict" in faults(["predict"]) else fn
        return cache["total_error"]

    cache = {}

    with ex.question("02.numpy"):
        ex.array("ypred_np", lambda: g("ypred_np"))
        if h is not None:
            # shortcuts defeated: w_np / b_np read from the notebook instead of the arguments (other w, b, far
            # from the public ones); sum over the wrong axis or a transposed x (n points != D features, n != 1000)
            ex.array("ypred_np_hidden", lambda: g("predict_np")(h["x"].copy(), h["w"].copy(), h["b"].copy()))

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
            # another batch size (not 1000, not D) and values far from the public ones: a signature fixed to
            # 1000 rows, or predictions computed from the notebook's x, fail
            ex.array("predict_hidden", lambda: g("predict")(x_h))

    with ex.question("02.total_error"):
        on = lambda compute: upstream(["predict"], compute)  # noqa: E731
        ex.array("err", lambda: on(lambda: total_error()(g("x"), g("y"))))
        ex.graph("total_error_graph", lambda: on(lambda: _concrete(total_error(), tf_spec(), tf_spec(1))))
        ex.graph("total_error_small", lambda: on(lambda: _retrace(g("total_error"), SMALL, g("D"))))
        ex.graph("total_error_large", lambda: on(lambda: _retrace(g("total_error"), LARGE, g("D"))))
        if h is not None:
            # another number of points and other values: a hard-coded error, the notebook's x and y instead of
            # the arguments, or a loop bounded by N, fail
            ex.array("total_error_hidden", lambda: on(lambda: total_error()(x_h, y_h)))

    with ex.question("02.shapes"):
        ex.json("shapes", lambda: {k: None if v is None else list(v) for k, v in dict(g("shapes")).items()})

    with ex.question("02.gradient"):
        tape = lambda xs, ys: upstream(["predict", "total_error"],  # noqa: E731
                                       lambda: _gradients(g("error_gradient")(xs, ys)))
        ex.array("dw", lambda: tape(g("x"), g("y"))[0])
        ex.array("db", lambda: tape(g("x"), g("y"))[1])
        closed = lambda: g("error_gradient_closed_form")(g("x"), g("y"), g("w_np"), g("b_np"))  # noqa: E731
        ex.array("dw_closed", lambda: closed()[0])
        ex.array("db_closed", lambda: closed()[1])
        if h is not None:
            # other points and another batch size: gradients of the notebook's x and y, or a closed form that
            # reads w_np / b_np instead of its arguments w and b, fail
            ex.array("dw_hidden", lambda: tape(x_h, y_h)[0])
            ex.array("db_hidden", lambda: tape(x_h, y_h)[1])
            closed_h = lambda: g("error_gradient_closed_form")(h["x"].copy(), h["y"].copy(), h["w"].copy(),  # noqa: E731
                                                               h["b"].copy())
            ex.array("dw_closed_hidden", lambda: closed_h()[0])
            ex.array("db_closed_hidden", lambda: closed_h()[1])
