"""Wrong submissions of practical 02 that must lose points at named checks (tests and `autograder ci` use them).

Each entry: (id, edits to the answer key as (old, new) code replacements, the checks that must not pass;
every other check must pass).
"""

SUM = "return tf.reduce_sum(tf.square(y - predict(x)))"

# (id, edits to the answer key, the checks that must lose their points; every other check must pass)
WRONG = [
    ("python-loop", [(SUM, "total = 0.0\n    for i in range(N):\n"
                           "        total += (y[i] - predict(x[i:i + 1])[0]) ** 2\n    return total")],
     # the loop runs to N, so on 37 hidden points it indexes past the end (its gradient too)
     {"total_error_is_vectorised", "total_error_other_inputs", "tape_gradient_other_inputs"}),
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
     # predict's own graph is fixed to 1000 rows; TensorFlow still lets total_error call it on any batch, but
     # tracing at 5 rows and differentiating on 37 rows fail
     {"predict_input_signature", "predict_symbolic_output_shape", "predict_other_batch_size",
      "total_error_is_vectorised", "tape_gradient_other_inputs"}),
    ("concrete-shapes-answer", [('"ypred": (None,),', '"ypred": (N,),')], {"shapes_answer"}),
    ("closed-form-sign", [("return -2 * x.T @ r, -2 * np.sum(r)", "return 2 * x.T @ r, 2 * np.sum(r)")],
     {"closed_form", "closed_form_other_inputs"}),
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
