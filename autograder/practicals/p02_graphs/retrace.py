"""Practical 02's graph structure, re-traced in a clean sandboxed process (autograder/engine/retrace.py).

The grader re-runs only the ``def``s of the judged functions, taken from the submitted cells, and traces them as
``in_kernel.py`` does; these files replace the kernel's, so a kernel that patched TensorFlow gains nothing.
"""

import numpy as np

from autograder.practicals.p02_graphs import in_kernel as ex02

# question -> the structural artifacts (name -> file suffix) re-traced in a clean process
STRUCTURES = {
    "02.graph": {"predict_signature": ".json", "predict_graph": ".pb", "predict_output_shape": ".json"},
    "02.total_error": {"total_error_graph": ".pb", "total_error_small": ".pb", "total_error_large": ".pb"},
}
# question -> the functions whose definitions are re-run (and what they use, found in the notebook)
JUDGED = {"02.graph": ["predict"], "02.total_error": ["total_error", "predict"]}


def given() -> dict:
    """(Grader) the notebook's given data, from the practical's public data."""
    from autograder.practicals.p02_graphs import checks

    x, y, w_np, b_np = checks.public_data()
    return {"N": checks.N, "D": checks.D, "x": x, "y": y, "w_np": w_np, "b_np": np.float32(b_np)}


def given_objects(ns: dict, tf) -> None:
    """(Clean process) the given TensorFlow variables the locked cells make."""
    ns["w"] = tf.Variable(ns["w_np"], name="w")
    ns["b"] = tf.Variable(np.float32(ns["b_np"]), name="b")


def trace(q, ns, refs, arts, errors, describe, _get):
    """(Clean process) trace the kept definitions of question ``q`` into ``arts`` (name -> file), as the exporter does."""
    d = int(ns["D"])

    def spec(*shape):
        return refs.TensorSpec(list(shape), refs.float32)

    def produce(name, kind, compute):
        try:
            value = compute()
            arts[name] = {"kind": "pb", "data": refs.graph_bytes(value)} if kind == "pb" else \
                {"kind": "json", "value": value}
        except Exception as e:
            errors[name] = describe(e)

    if q == "02.graph":
        def signature():
            fn = _get(ns, "predict")
            sig = refs.input_signature(fn) if isinstance(fn, refs.Function) else None
            return None if sig is None else [list(s.shape.as_list()) for s in sig]

        def output_shape():
            shape = refs.concrete(_get(ns, "predict"), spec(None, d)).structured_outputs.shape
            return shape.as_list() if shape.rank is not None else None

        produce("predict_signature", "json", signature)
        produce("predict_graph", "pb", lambda: refs.concrete(_get(ns, "predict"), spec(None, d)))
        produce("predict_output_shape", "json", output_shape)
    elif q == "02.total_error":
        try:
            _get(ns, "total_error")
        except Exception as e:
            for name in STRUCTURES[q]:
                errors[name] = describe(e)
            return
        x, y = ns["x"], ns["y"]
        faults = ex02._upstream_faults(ns, x, y, ["predict"])   # only a wrong predict changes what is traced

        def on(compute):
            if "predict" not in faults:
                return compute()
            ref_predict, _ = ex02._references(ns, d)
            with ex02._replaced(ns, predict=ref_predict):
                return compute()

        te = _get(ns, "total_error")
        traced = refs.fresh(te) if "predict" in faults else te
        produce("total_error_graph", "pb", lambda: on(lambda: refs.concrete(traced, spec(None, d), spec(None))))
        produce("total_error_small", "pb", lambda: on(lambda: refs.retraced(te, spec(ex02.SMALL, d), spec(ex02.SMALL))))
        produce("total_error_large", "pb", lambda: on(lambda: refs.retraced(te, spec(ex02.LARGE, d), spec(ex02.LARGE))))
