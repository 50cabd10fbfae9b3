"""Kernel-side exporter: writes each answer to a plain file and records why one could not be written."""

import contextlib
import json
import os

import numpy as np

MAX_MESSAGE = 400
ERRORS_FILE = "_errors.json"
# Tracing stops past this many new operations: a vectorised function has tens, while an unrolled Python loop
# (thousands, at a second per few hundred) shows what it is long before its last copy is traced.
TRACE_OP_LIMIT = 2000
CUT_NODE = "trace_stopped_at_op_limit"


def import_tensorflow(leave_out=("sklearn",)):
    """TensorFlow, imported with the modules ``leave_out`` kept out while it imports, then importable again.

    Its import loads Keras (1 s of CPU, 50 MB), and Keras loads scikit-learn for its wrappers alone (1-2 s,
    60 MB); ``tf.keras`` and a later ``import sklearn`` still load them. The grader's preamble runs it inlined,
    the check worker and the clean re-trace import it.
    """
    import sys

    blocked = [m for m in leave_out if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None
    try:
        import tensorflow
    finally:
        for m in blocked:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]
    return tensorflow


def turn_off_tf_data_autotune(tf) -> None:
    """Datasets made with options (Keras makes one for every fit, evaluate and predict) run without tf.data's
    autotuning: same elements, same order.

    Its optimization thread waits up to 10 s between runs, and at an iterator's end it is not always woken: the
    iterator's owner then waits for it, idle (TensorFlow 2.21; Keras makes an iterator per epoch). 04's two
    epochs lost 0-10 s each, 9 s on average in the bench, with two plain `fit`s at once: 32.4 s of wall clock for
    22.8 s of CPU with it, 23.0 s for 22.7 without, the same accuracies to the last digit. The grader's preamble
    runs it inlined where TensorFlow is used.
    """
    init = tf.data.Options.__init__

    def options_without_autotune(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.autotune.enabled = False

    tf.data.Options.__init__ = options_without_autotune


class Exporter:
    """Collects artifacts of one submission into ``out``.

    ``ns`` is the student's namespace, ``hidden`` the grader's hidden inputs (None in self-checks).
    A failure to produce one artifact is recorded by name and never stops the others.
    Every artifact belongs to the question(s) whose checks read it (``with ex.question(...)``); ``only``
    restricts the export to some questions: a question's answers are taken where its check cell stands.
    """

    def __init__(self, ns, out, hidden=None, fresh=False, lazy=False, only=None):
        self.ns = ns
        self.out = out
        self.hidden = hidden
        self.errors = {}
        self.lazy = lazy      # self-checks: produce an artifact only when a check asks for it (realise)
        self.pending = {}
        self.only = None if only is None else set(only)
        self.tags = {}        # artifact name -> the questions it belongs to
        self._current = ()
        if out is not None:
            os.makedirs(out, exist_ok=not fresh)  # at grading time the folder must not exist beforehand

    @contextlib.contextmanager
    def question(self, *questions):
        """Artifacts declared inside belong to ``questions``."""
        before, self._current = self._current, questions
        try:
            yield
        finally:
            self._current = before

    def wants(self, *questions):
        """Whether any of ``questions`` is exported now (to skip preparing inputs of the others)."""
        return self.only is None or bool(self.only & set(questions))

    # -- reading the student's namespace -------------------------------------------------------
    def get(self, name):
        if name not in self.ns:
            raise NameError(f"`{name}` is not defined (did its cell run?)")
        return self.ns[name]

    # -- writers -------------------------------------------------------------------------------
    def _produce(self, name, produce, write):
        if not self._current:
            raise RuntimeError(f"artifact {name!r} is declared outside `with ex.question(...)`")
        self.tags[name] = self.tags.get(name, ()) + tuple(q for q in self._current if q not in self.tags.get(name, ()))
        if self.only is not None and not self.only & set(self._current):
            return
        if self.out is None:  # a plan: names and questions only
            return
        if self.lazy:
            self.pending[name] = (produce, write)
            return
        self._write(name, produce, write)

    def _write(self, name, produce, write):
        try:
            write(os.path.join(self.out, name), produce())
        except Exception as e:  # any student failure is a result, not a crash
            self.errors[name] = describe(e)

    def array(self, name, produce):
        def write(path, value):
            a = np.asarray(value)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"expected numbers, got {type(value).__name__} of dtype {a.dtype}")
            np.save(path + ".npy", np.array(a, copy=True).view(np.ndarray), allow_pickle=False)

        self._produce(name, produce, write)

    def json(self, name, produce):
        def write(path, value):
            with open(path + ".json", "w") as f:
                json.dump(value, f, allow_nan=True, default=_plain)

        self._produce(name, produce, write)

    def graph(self, name, produce):
        """``produce`` returns a traced ``ConcreteFunction``; its GraphDef is saved as a protobuf."""

        def write(path, concrete):
            data = concrete.graph.as_graph_def().SerializeToString()
            with open(path + ".pb", "wb") as f:
                f.write(data)

        self._produce(name, produce, write)

    def keras(self, name, produce):
        """``produce`` returns a Keras model; saved in Keras' own format (config + weights, no pickle)."""

        def write(path, model):
            model.save(path + ".keras")

        self._produce(name, produce, write)

    def realise(self, name):
        """Produce a pending artifact now (lazy mode)."""
        if name in self.pending:
            produce, write = self.pending.pop(name)
            self._write(name, produce, write)

    def finish(self):
        if self.out is None:
            return
        with open(os.path.join(self.out, ERRORS_FILE), "w") as f:
            json.dump(self.errors, f)


class CutGraph:
    """The graph a trace had built when it passed ``TRACE_OP_LIMIT`` operations, exported like a whole one."""

    def __init__(self, graph):
        self.graph = graph


def bounded_trace(trace, limit=TRACE_OP_LIMIT):
    """``trace()`` (which returns a ConcreteFunction), stopped once it has created ``limit`` operations: then the
    outermost graph built so far, as a ``CutGraph``. Nothing a bounded graph is judged on needs more."""
    from tensorflow.python.framework import func_graph

    state = {"ops": 0, "outer": None, "cut": False}
    create = func_graph.FuncGraph._create_op_internal

    def counted(graph, *args, **kwargs):
        if state["outer"] is None:   # the first operation (an input placeholder) is the outer graph's
            state["outer"] = graph
        state["ops"] += 1
        if state["ops"] > limit:
            state["cut"] = True
            raise RuntimeError(f"trace stopped after {limit} operations")
        return create(graph, *args, **kwargs)

    func_graph.FuncGraph._create_op_internal = counted
    try:
        return trace()
    except Exception:
        if not state["cut"]:   # AutoGraph re-raises the error as another exception: the flag says what happened
            raise
        func_graph.FuncGraph._create_op_internal = create
        create(state["outer"], "NoOp", [], name=CUT_NODE)   # the graph says it was cut
        return CutGraph(state["outer"])
    finally:
        func_graph.FuncGraph._create_op_internal = create


def describe(e):
    """One line naming an exception; TensorFlow's "in user code:" preamble skipped."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if lines and lines[0] == "in user code:":
        lines = lines[-1:]
    text = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    if isinstance(e, NotImplementedError) and not lines:
        text += " (this exercise is not done yet)"
    return text[:MAX_MESSAGE]


def _plain(value):
    """JSON fallback for numpy scalars/arrays and TensorShapes; anything else is refused."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if hasattr(value, "as_list") and hasattr(value, "rank"):
        return value.as_list() if value.rank is not None else None
    raise TypeError(f"cannot export a {type(value).__name__} as JSON")
