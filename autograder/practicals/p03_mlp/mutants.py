"""Wrong submissions of practical 03 that must lose points at named checks (tests and `autograder ci` use them).

Each entry: (id, edits to the answer key as (old, new) code replacements, the checks that must not pass;
every other check must pass). `autograder ci` trains each one for real; tests/test_p03_mlp.py checks the same
edits without retraining (the key's state, models rebuilt or their saved files edited).

Only mutants whose real-run outcome does not depend on the training seed are listed here (a learning rate 10x,
one epoch, Keras' default batch size or initialiser move the accuracies unpredictably: the tests check those on
the key's edited .keras files instead). The hand-written training (03.train_by_hand) runs the student's own
functions: a mistake that breaks it also costs there, the one place a result cannot be rebuilt from reference
parts without retraining.
"""

LOGSUMEXP = "log_probs = logits - tf.reduce_logsumexp(logits, axis=1, keepdims=True)"
CE_LINE = "return -tf.reduce_mean(tf.reduce_sum(labels_onehot * log_probs, axis=1))"
PREPROCESS = "return images.reshape(len(images), 28 * 28).astype(np.float32) / 255.0"
ONE_HOT = "return np.eye(num_classes, dtype=np.float32)[labels]"
STEP = "    for p, g in zip(params, grads):\n        p.assign_sub(lr * g)\n    return loss"
OUTPUT_LAYER = "model.add(keras.layers.Dense(10, kernel_initializer=init))"
FIT = "return model.fit(x_train, y_train, batch_size=BATCH_SIZE"
SIGMOID = "return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))"
STEP_FN = "return np.where(np.asarray(z) > 0, 1.0, 0.0)"
RMSPROP_RUN = 'train_with(keras.optimizers.RMSprop(learning_rate=COMPARE_LR["RMSprop"]))'
COMPARE_FIT = "epochs=COMPARE_EPOCHS,\n                        verbose=0)"

BY_HAND_BROKEN = {"loss_curve_decreases", "test_accuracy_by_hand"}

WRONG = [
    # hidden images have pixels 17..140: dividing by the batch's largest pixel is not dividing by 255
    ("preprocess-divides-by-max", [(PREPROCESS, "return images.reshape(len(images), 28 * 28).astype(np.float32) "
                                                "/ images.max()")],
     {"preprocess_other_inputs"}),
    # the float32 the text mandates: float64 pixels meet float32 variables in tf.matmul, so the hand-written
    # training raises at its first step (the Keras models cast and are unaffected)
    ("preprocess-float64", [(PREPROCESS, "return images.reshape(len(images), 28 * 28) / 255.0")],
     {"preprocess_public"} | BY_HAND_BROKEN),
    # hidden labels are 1..8 only: the width must be num_classes, not labels.max() + 1
    ("one-hot-width-from-labels", [(ONE_HOT, "return np.eye(labels.max() + 1, dtype=np.float32)[labels]")],
     {"one_hot_other_inputs"}),
    # the float32 the text mandates (TensorFlow casts the float64 rows when they meet float32 logits: the
    # training runs)
    ("one-hot-float64", [(ONE_HOT, "return np.eye(num_classes)[labels]")], {"one_hot_public"}),
    # labels as class numbers where one-hot rows are needed: the training raises (shapes (n,) and (n, 10))
    ("labels-not-one-hot", [(ONE_HOT, "return labels.astype(np.float32)")],
     {"one_hot_public", "one_hot_other_inputs"} | BY_HAND_BROKEN),
    # b1 then has no gradient (None): the key's gd_step, which uses this forward, raises at the first step
    ("forward-forgets-bias", [("hidden = tf.matmul(x, W1) + b1", "hidden = tf.matmul(x, W1)")],
     {"forward_public", "forward_other_inputs"} | BY_HAND_BROKEN),
    # real run: losses NaN from step 9, test accuracy 0.10; gd_step is judged with the reference loss
    ("loss-summed-not-averaged", [(CE_LINE, "return -tf.reduce_sum(labels_onehot * log_probs)")],
     {"cross_entropy_public", "cross_entropy_other_inputs", "cross_entropy_big_logits"} | BY_HAND_BROKEN),
    # the log of a softmax: right for ordinary logits, -inf times 0 = NaN when a probability underflows
    ("log-of-softmax", [(LOGSUMEXP, "log_probs = tf.math.log(tf.nn.softmax(logits))")],
     {"cross_entropy_big_logits"}),
    # the notebook's LEARNING_RATE is defined after the 03.gd_step check cell: where the question is captured,
    # gd_step raises NameError (as its self-check shows); on the hidden lr it would be wrong anyway
    ("gd-step-ignores-lr", [("p.assign_sub(lr * g)", "p.assign_sub(LEARNING_RATE * g)")],
     {"gd_step_public", "gd_step_returns_loss_before", "gd_step_other_inputs"}),
    ("gd-step-returns-loss-after", [(STEP, "    for p, g in zip(params, grads):\n        p.assign_sub(lr * g)\n"
                                           "    return cross_entropy(forward(params, x), y_onehot)")],
     {"gd_step_returns_loss_before"}),
    # new values bound to a list: the caller's variables never change, the training learns nothing
    ("gd-step-not-in-place", [(STEP, "    params = [p - lr * g for p, g in zip(params, grads)]\n    return loss")],
     {"gd_step_public", "gd_step_other_inputs"} | BY_HAND_BROKEN),
    ("gd-step-wrong-sign", [("p.assign_sub(lr * g)", "p.assign_add(lr * g)")],
     {"gd_step_public", "gd_step_other_inputs"} | BY_HAND_BROKEN),
    # Keras uses the values before the softmax with from_logits=True: training and accuracy unchanged
    ("keras-softmax-with-from-logits", [(OUTPUT_LAYER, OUTPUT_LAYER.replace("Dense(10, ",
                                                                            'Dense(10, activation="softmax", '))],
     {"model_10_structure"}),
    # 60,000 images a epoch: 1,200 optimizer steps instead of 1,000
    ("keras-train-plus-validation", [(FIT, "return model.fit(np.concatenate([x_train, x_val]), "
                                           "np.concatenate([y_train, y_val]), batch_size=BATCH_SIZE")],
     {"keras_training_steps"}),
    ("wrong-units", [('model_final = build_mlp([30, 25], "relu")', 'model_final = build_mlp([30, 20], "relu")')],
     {"model_final_structure"}),
    # activations: public values at -3..3 (0 included), hidden values on a 6 x 7 array with zeros and +-800
    ("sigmoid-wrong-sign", [(SIGMOID, "return 1.0 / (1.0 + np.exp(np.asarray(z, dtype=np.float64)))")],
     {"sigmoid_values", "activations_other_inputs"}),
    ("sigmoid-exp-ratio", [(SIGMOID, "return np.exp(z) / (1.0 + np.exp(z))")], {"activations_other_inputs"}),
    ("step-one-at-zero", [(STEP_FN, "return np.where(np.asarray(z) >= 0, 1.0, 0.0)")],
     {"step_values", "activations_other_inputs"}),
    ("relu-flattens", [("return np.maximum(z, 0.0)", "return np.maximum(np.ravel(z), 0.0)")],
     {"activations_other_inputs"}),
    # the optimiser comparison: each is judged from the saved models; more training only raises the accuracies
    ("compare-adam-for-rmsprop", [(RMSPROP_RUN, 'train_with(keras.optimizers.Adam(learning_rate=COMPARE_LR["Adam"]))')],
     {"optimisers_prescribed"}),
    ("compare-sgd-at-lr-025", [('keras.optimizers.SGD(learning_rate=COMPARE_LR["SGD"])',
                                "keras.optimizers.SGD(learning_rate=LEARNING_RATE)")], {"optimisers_prescribed"}),
    ("compare-double-budget", [(COMPARE_FIT, "epochs=2 * COMPARE_EPOCHS,\n                        verbose=0)")],
     {"optimisers_budget"}),
    ("compare-val-acc-on-train", [("final_val_acc = {name: accuracy(model.predict(x_val, batch_size=1000, verbose=0), "
                                   "y_val)", "final_val_acc = {name: accuracy(model.predict(x_train[:COMPARE_N], "
                                   "batch_size=1000, verbose=0), y_train[:COMPARE_N])")], {"final_val_acc_recorded"}),
    ("param-count-without-biases", [("n_params_final = 784 * 30 + 30 + 30 * 25 + 25 + 25 * 10 + 10",
                                     "n_params_final = 784 * 30 + 30 * 25 + 25 * 10")], {"n_params_final_answer"}),
]
