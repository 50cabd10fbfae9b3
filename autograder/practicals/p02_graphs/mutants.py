"""Wrong submissions of practical 02 that must lose points at named checks (tests and `autograder ci` use them).

Each entry: (id, edits to the answer key as (old, new) code replacements, the checks that must not pass;
every other check must pass).
"""

SUM = "return tf.reduce_sum(tf.square(y - predict(x)))"

# (id, edits to the answer key, the checks that must lose their points; every other check must pass)
WRONG = [
    # a Python loop over range(N): at [None, D] it is unrolled into 1000 copies (same graph at every batch size,
    # but one operation repeated per point); on the hidden points (fewer than 1000) it indexes past the end.
    # (A loop over the static batch size, whose graph grows with the batch, is tested on traced graphs in
    # tests/test_p02_graphs.py: its notebook would trace 1000 copies, a minute per run.)
    ("python-loop", [(SUM, "total = 0.0\n    for i in range(N):\n"
                           "        total += (y[i] - predict(x[i:i + 1])[0]) ** 2\n    return total")],
     {"total_error_is_vectorised", "total_error_other_inputs"}),
    # a loop over a tensor range: AutoGraph turns it into a tf.while_loop (a loop op in the graph)
    ("tf-range-loop", [(SUM, "total = 0.0\n    for i in tf.range(tf.shape(x)[0]):\n"
                             "        total += tf.square(y[i] - predict(x[i:i + 1])[0])\n    return total")],
     {"total_error_is_vectorised"}),
    ("wrong-axis", [("np.sum(w * x, axis=1) + b", "np.sum(w * x, axis=0) + b")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    # later questions use the reference total_error: the gradient question does not lose points for it
    ("mean-not-sum", [(SUM, "return tf.reduce_mean(tf.square(y - predict(x)))")],
     {"total_error_value", "total_error_other_inputs"}),
    ("missing-bias", [("np.sum(w * x, axis=1) + b", "np.sum(w * x, axis=1)")],
     {"ypred_np_values", "predict_np_other_inputs"}),
    ("column-shape", [("np.sum(w * x, axis=1) + b", "x @ w[:, None] + b")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    # shortcut: the notebook's w_np, b_np instead of the arguments (hidden w, b are other values)
    ("predict-np-reads-notebook-weights", [("np.sum(w * x, axis=1) + b", "np.sum(w_np * x, axis=1) + b_np")],
     {"predict_np_other_inputs"}),
    # predict from numpy constants: right values, but nothing to train; penalised once, at 02.graph (the gradient
    # question runs with the reference predict)
    ("predict-from-constants", [("return tf.reduce_sum(w * x, axis=1) + b", "return tf.reduce_sum(w_np * x, axis=1) + b_np")],
     {"predict_reads_variables"}),
    ("hard-coded-error", [(SUM, "return tf.constant(41888.953125)")], {"total_error_other_inputs"}),
    # shortcut: the error of the notebook's predictions (ypred) instead of predict(x): hidden points differ
    ("error-of-notebook-predictions", [(SUM, "return tf.reduce_sum(tf.square(y - ypred))")],
     {"total_error_other_inputs"}),
    # predict's own graph is fixed to 1000 rows: penalised at 02.graph only (later questions use the reference)
    ("fixed-batch-signature", [("tf.TensorSpec(shape=[None, D], dtype=tf.float32)])\ndef predict",
                                "tf.TensorSpec(shape=[N, D], dtype=tf.float32)])\ndef predict")],
     {"predict_input_signature", "predict_symbolic_output_shape", "predict_other_batch_size"}),
    ("concrete-shapes-answer", [('"ypred": (None,),', '"ypred": (N,),')], {"shapes_answer"}),
    # the loss computed before the tape records: None gradients, explained
    ("tape-before-recording", [("with tf.GradientTape() as tape:\n        e = total_error(x, y)",
                                "e = total_error(x, y)\n    with tf.GradientTape() as tape:\n        tape.watch([w, b])")],
     {"tape_gradient", "tape_gradient_other_inputs"}),
    ("closed-form-sign", [("return -2 * x.T @ r, -2 * np.sum(r)", "return 2 * x.T @ r, 2 * np.sum(r)")],
     {"closed_form", "closed_form_other_inputs"}),
    # shortcut: the closed form reads the notebook's w_np, b_np instead of its arguments w, b
    ("closed-form-reads-notebook-weights", [("r = y - (x @ w + b)", "r = y - (x @ w_np + b_np)")],
     {"closed_form_other_inputs"}),
    # hostile or broken submissions: only the affected checks score 0, the notebook is still graded
    ("syntax-error", [("return np.sum(w * x, axis=1) + b", "return np.sum(w * x, axis=1) + b)")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    ("raises", [("return np.sum(w * x, axis=1) + b", "raise RuntimeError('boom')")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
    # (in an answer cell: edits to locked cells are undone by the grader, as nbgrader does)
    ("always-equal-object", [("return np.sum(w * x, axis=1) + b",
                              "class Anything:\n        def __eq__(self, other):\n            return True\n"
                              "        __array_priority__ = 1000\n"
                              "    return Anything()")],
     {"ypred_np_shape", "ypred_np_values", "predict_np_other_inputs"}),
]
