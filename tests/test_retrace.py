"""Graph structure re-traced in a clean process (issue 15, class 3): what the kernel exported cannot be forged.

The kernel-side snapshot of an honest answer key (made in this process, as tests/test_p02_graphs.py does) stands
for what a forging kernel would export: loop-free graphs. ``replace_structures`` then re-traces the functions of
the SUBMITTED notebook in a fresh, sandboxed process and the checks judge the graph the student really wrote.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from autograder import practicals
from autograder.engine import retrace, sandbox
from autograder.check_api import Artifacts
from autograder.engine.check_runner import run_checks
from autograder.grade import hidden_inputs
from autograder.paths import REPO
from helpers import grade_in_process, mutate

NAME = "02-graphs"
A = practicals.get(NAME)
KEY = A.solution_notebook(REPO)
HIDDEN = hidden_inputs(A)
SANDBOXED = sandbox.available()[0]
QUESTIONS = ("02.graph", "02.total_error")
SUM = "return tf.reduce_sum(tf.square(y - predict(x)))"
LOOP = ("total = 0.0\n    for i in tf.range(tf.shape(x)[0]):\n"
        "        total += tf.square(y[i] - predict(x[i:i + 1])[0])\n    return total")
# each forges the kernel-side export; appended to the answer cell of total_error (which loops)
FORGE_AS_GRAPH_DEF = '''
@tf.function(input_signature=[tf.TensorSpec([None, D], tf.float32), tf.TensorSpec([None], tf.float32)])
def _clean(x, y):
    return tf.reduce_sum(tf.square(y - predict(x)))
_clean_def = _clean.get_concrete_function().graph.as_graph_def()
tf.Graph.as_graph_def = lambda self, *args, **kwargs: _clean_def
'''
FORGE_POST_RUN_HOOK = '''
import glob, shutil
def _rewrite(result):
    for f in glob.glob("/**/total_error_*.pb", recursive=True):
        shutil.copy("/tmp/clean.pb", f)
get_ipython().events.register("post_run_cell", _rewrite)
'''
FORGE_MODULE_TYPE = '''
import types
class _Decoy(types.ModuleType):
    def __getattr__(self, name):
        return _clean
types.ModuleType = _Decoy
exec = lambda *args, **kwargs: None
'''
STYLES = {   # correct answers in other styles (as in tests/test_p02_graphs.py)
    "tensordot": [("return tf.reduce_sum(w * x, axis=1) + b", "return tf.tensordot(x, w, axes=1) + b"),
                  (SUM, "r = y - predict(x)\n    return tf.tensordot(r, r, axes=1)")],
    "einsum": [("return tf.reduce_sum(w * x, axis=1) + b", 'return tf.einsum("nd,d->n", x, w) + b'),
               (SUM, 'r = y - predict(x)\n    return tf.einsum("i,i->", r, r)')],
    "matmul-operator": [("return tf.reduce_sum(w * x, axis=1) + b",
                         "return tf.squeeze(x @ tf.reshape(w, [-1, 1]), axis=1) + b"),
                        (SUM, "r = y - predict(x)\n    return tf.squeeze(r[None, :] @ r[:, None])")],
    # Keras is loaded on first use in the clean process (TensorFlow imports there without it)
    "keras-ops": [(SUM, "return tf.reduce_sum(tf.keras.ops.square(y - predict(x)))")],
}


def kernel_snapshots(tmp_path: Path, edits=()) -> dict[str, Path]:
    """The snapshots an (honest) kernel exports for the answer key with ``edits``, one folder per question."""
    keep = tmp_path / "snapshots"
    grade_in_process(NAME, tmp_path / "run", list(edits), keep, HIDDEN)
    return {q: keep / q for q in QUESTIONS}


def verdicts(snapshots: dict[str, Path]) -> dict[str, tuple[str, str]]:
    results = run_checks(A.checks_module, {q: Artifacts(p, HIDDEN) for q, p in snapshots.items()})
    return {r.name: (r.status, r.message) for r in results if r.question in snapshots}


def submission(tmp_path: Path, edits) -> nbformat.NotebookNode:
    return nbformat.read(mutate(KEY, tmp_path / "sub", list(edits)), as_version=4)


@pytest.fixture(scope="module")
def forged(tmp_path_factory):
    """What a forging kernel exports: the loop-free graphs of the answer key (every check of 02.graph and
    02.total_error passes on them)."""
    tmp = tmp_path_factory.mktemp("forged")
    snaps = kernel_snapshots(tmp)
    assert all(status == "passed" for status, _ in verdicts(snaps).values()), verdicts(snaps)
    return snaps


# (a) a looping total_error whose kernel-side export was forged: the clean re-trace sees the loop
@pytest.mark.parametrize("forge", [FORGE_AS_GRAPH_DEF, FORGE_POST_RUN_HOOK, FORGE_MODULE_TYPE],
                         ids=["patched-as_graph_def", "ipython-post-run-hook", "shadowed-ModuleType-and-exec"])
def test_forged_structure_is_replaced_by_a_clean_retrace(tmp_path, forged, forge):
    snaps = {q: tmp_path / q for q in QUESTIONS}
    for q, folder in forged.items():
        shutil.copytree(folder, snaps[q])
    nb = submission(tmp_path, [(SUM, LOOP + "\n" + forge)])
    notes = retrace.replace_structures(A, nb, snaps, SANDBOXED)
    assert notes == [], notes
    after = verdicts(snaps)
    status, message = after["total_error_is_vectorised"]
    assert status == "failed" and "contains a loop" in message, after["total_error_is_vectorised"]
    # only the structure changed hands: predict (untouched) and the values still pass
    assert {n for n, (s, _) in after.items() if s != "passed"} == {"total_error_is_vectorised"}, after


def test_a_definition_that_patches_tensorflow_is_not_run():
    """A patch hidden where the definition itself runs it (a default argument, the body) is refused with a reason."""
    cells = {
        "default": 'def total_error(x, y, _=setattr(tf.Graph, "as_graph_def", None)):\n    return x',
        "body": "def total_error(x, y):\n    tf.Graph.as_graph_def = None\n    return x",
        "helper": "def helper():\n    tf.Graph.as_graph_def = None\n\ndef total_error(x, y):\n    helper()\n    return x",
        "private": "def total_error(x, y):\n    return x.__class__",
        "import": "def total_error(x, y):\n    import os\n    return x",
    }
    for case, source in cells.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        chunks, refused = retrace.definitions(nb, ["total_error"], None)
        if case == "default":   # `setattr` is no builtin there: it fails as a NameError, never patches
            assert "total_error" not in refused and chunks, (case, refused)
        else:
            assert "total_error" in refused and chunks == [], (case, refused, chunks)


def test_setattr_in_a_default_argument_is_a_name_error(tmp_path):
    out = tmp_path / "out"
    nb = submission(tmp_path, [(
        "def total_error(x, y):", 'def total_error(x, y, _=setattr(tf.Graph, "as_graph_def", None)):')])
    errors = retrace.retrace(NAME, nb, out, sandboxed=SANDBOXED)
    assert set(errors) == {"total_error_graph", "total_error_small", "total_error_large"}, errors
    assert "NameError" in errors["total_error_graph"] and "setattr" in errors["total_error_graph"], errors
    assert (out / "predict_graph.pb").is_file() and not (out / "total_error_graph.pb").exists()
    assert json.loads((out / "_errors.json").read_text()) == errors
    missing = verdicts({"02.total_error": out})["total_error_is_vectorised"]
    assert missing[0] == "error" and "computing `total_error_graph` failed: " in missing[1], missing


# (b) correct styles: the clean re-trace gives the same verdicts as the kernel-side export (all passed)
@pytest.mark.parametrize("edits", STYLES.values(), ids=STYLES.keys())
def test_correct_styles_keep_their_verdicts(tmp_path, edits):
    snaps = kernel_snapshots(tmp_path, edits)
    before = verdicts(snaps)
    assert retrace.replace_structures(A, submission(tmp_path, edits), snaps, SANDBOXED) == []
    after = verdicts(snaps)
    assert after == before and all(s == "passed" for s, _ in after.values()), (before, after)


# (c) tracing that never ends is stopped by the limit, with a reason
def test_endless_tracing_is_stopped_with_a_reason(tmp_path):
    nb = submission(tmp_path, [(SUM, "while True:\n        pass\n    return x")])
    t0 = time.monotonic()
    errors = retrace.retrace(NAME, nb, tmp_path / "out", sandboxed=SANDBOXED, cpu_s=20)
    assert time.monotonic() - t0 < 90
    assert set(errors) >= {"total_error_graph", "predict_graph"}, errors
    assert "CPU time" in errors["total_error_graph"], errors
    assert not list((tmp_path / "out").glob("*.pb"))


@pytest.mark.skipif(not SANDBOXED, reason="bubblewrap sandbox unavailable here")
def test_a_real_kernel_forging_its_graph_export_is_judged_on_the_graph_it_wrote(tmp_path):
    """End to end: the kernel patches as_graph_def so that its own export shows a loop-free total_error."""
    from autograder.grade import grade_notebook

    path = mutate(KEY, tmp_path, [(SUM, LOOP + "\n" + FORGE_AS_GRAPH_DEF)])
    result = grade_notebook(path)
    by_name = {c.name: c for c in result.checks}
    assert by_name["total_error_value"].status == "passed", (by_name["total_error_value"].message, result.notes)   # the loop computes the right value
    assert by_name["total_error_is_vectorised"].status == "failed"
    assert "loop" in by_name["total_error_is_vectorised"].message

