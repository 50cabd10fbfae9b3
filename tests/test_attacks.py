"""The attack suite: hostile submissions gain no points, see nothing hidden, and leave the grader unharmed.

Each case is a small notebook (cells added to or changed in the 02 answer key) with its expected outcome.
"""

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.report import store
from autograder import practicals
from autograder.engine import sandbox
from autograder.engine.execute import execute
from autograder.grade import grade_notebook, hidden_from_kernel, load_submission
from autograder.paths import REPO
from autograder.report.store import write_named as write_json
from helpers import mutate, not_passed

KEY = practicals.get("02-graphs").solution_notebook(REPO)
SANDBOXED = sandbox.available()[0]
needs_sandbox = pytest.mark.skipif(not SANDBOXED, reason="bubblewrap sandbox unavailable here")
WRONG_NUMPY = ("return np.sum(w * x, axis=1) + b", "return np.sum(w * x, axis=1) + b + 1")
ANSWER_CELL_END = "return np.sum(w * x, axis=1) + b\n    ### END SOLUTION"  # code appended here runs as the student's


def append_to_answer(code, wrong=False):
    """An edit that adds top-level code to the predict_np answer cell (locked cells would be restored)."""
    ret = "return np.sum(w * x, axis=1) + b" + (" + 1" if wrong else "")
    return (ANSWER_CELL_END, ret + "\n    ### END SOLUTION\n" + code)


def test_cheating_in_the_kernel_gains_nothing(tmp_path):
    """Hidden tracebacks, patched numpy/asserts, a fake check(), fake prints, sys.exit and numpy subclasses."""
    tricks = '''
import sys, builtins, numpy
get_ipython().showtraceback = lambda *a, **k: None          # nbgrader PR #1324
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.array_equal = lambda *a, **k: True
builtins.AssertionError = type("AssertionError", (Exception,), {})
def check(question):
    print("✓ all tests passed")
class Liar(numpy.ndarray):
    def __eq__(self, other):
        return numpy.ones(numpy.shape(other), bool)
    def __array_finalize__(self, obj):
        pass
_plain_predict = predict_np
predict_np = lambda x, w, b: numpy.asarray(_plain_predict(x, w, b)).view(Liar)
print("All tests passed! Score: 20/20")
sys.exit(0)
'''
    path = mutate(KEY, tmp_path, [append_to_answer(tricks, wrong=True)])
    result = grade_notebook(path)
    assert result.status == "graded"
    # the wrong answer loses its points; sabotaging numpy in the kernel can only lose more
    assert {"ypred_np_values", "predict_np_other_inputs"} <= not_passed(result)
    assert result.score <= result.max_score - 2


SNOOP = r'''
import json, os, socket
found = {}
def attempt(name, fn):
    try:
        found[name] = fn()
    except Exception as e:
        found[name] = "blocked: " + type(e).__name__
attempt("checks_dir", lambda: sorted(os.listdir(os.path.join(os.path.dirname(__import__("autograder").__file__),
                                                         "practicals", "p02_graphs"))))
attempt("checks_file", lambda: open("CHECKS/p02_graphs/checks.py").read()[:50])
attempt("mutants_file", lambda: open("CHECKS/p02_graphs/mutants.py").read()[:50])
attempt("solutions", lambda: os.listdir("REPO/solutions"))
attempt("source", lambda: os.listdir("REPO/source"))
attempt("test_labels", lambda: os.listdir("/usr/share/datasets"))
attempt("other_submissions", lambda: os.listdir("SUBMISSIONS"))
attempt("grader_home", lambda: os.listdir(os.path.expanduser("~root")))
attempt("secret_env", lambda: os.environ.get("AUTOGRADER_SECRET", "absent"))
def connect():
    s = socket.socket(); s.settimeout(3); s.connect(("1.1.1.1", 80)); return "connected"
attempt("network", connect)
def forge():
    os.makedirs("RESULTS", exist_ok=True)
    with open("RESULTS/forged__02-graphs.json", "w") as f:
        f.write('{"score": 20}')
    return "written"
attempt("forge_result", forge)
attempt("uid", os.getuid)
_makedirs = os.makedirs
def makedirs(name, *args, **kwargs):   # the exporter runs in this kernel: plant a link in each export folder
    _makedirs(name, *args, **kwargs)   # the moment it is made (a thread polling for it lost the race under load)
    if os.path.basename(str(name)).startswith("artifacts-"):
        os.symlink("/etc/hostname", os.path.join(name, "planted.npy"))
os.makedirs = makedirs
print("FOUND" + json.dumps(found))
'''


@needs_sandbox
def test_kernel_sees_nothing_hidden_and_cannot_forge_results(tmp_path):
    results_dir = tmp_path / "results"
    submissions = tmp_path / "submitted"
    (submissions / "bob" / "02-graphs").mkdir(parents=True)
    (submissions / "bob" / "02-graphs" / "02-graphs.ipynb").write_text("{}")
    code = (SNOOP.replace("CHECKS", str(REPO / "autograder" / "practicals")).replace("REPO", str(REPO))
            .replace("SUBMISSIONS", str(submissions)).replace("RESULTS", str(results_dir)))
    path = mutate(KEY, submissions / "alice" / "02-graphs", [append_to_answer(code)])
    nb, assignment, _ = load_submission(path)
    run = execute(nb, assignment, None, hide=hidden_from_kernel(path) + [results_dir], keep=tmp_path)
    assert run.status == "ok", run.reason
    assert not [e for e in run.cell_errors if "cell" in e and "grader" not in e], run.cell_errors
    executed = nbformat.read(run.executed, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    found = json.loads(text.split("FOUND", 1)[1].splitlines()[0])
    # a practical's folder shows only what runs in a kernel: no checks, no mutants, no compiled copies of them
    assert found["checks_dir"] == ["__init__.py", "in_kernel.py", "practical.toml", "retrace.py"], found
    for key in ("checks_file", "mutants_file", "solutions", "source"):
        assert found[key] in ("blocked: FileNotFoundError", []), (key, found[key])
    assert found["test_labels"] == []
    assert found["other_submissions"] in ([], "blocked: FileNotFoundError"), found["other_submissions"]
    # only the way to the Python installation the kernel runs on (e.g. pyenv under /root) is there
    python_dirs = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}
    allowed = {p.relative_to("/root").parts[0] for p in python_dirs if p.is_relative_to("/root")}
    assert set(found["grader_home"]) <= allowed, found["grader_home"]
    assert found["secret_env"] == "absent"
    assert found["network"].startswith("blocked")
    assert found["forge_result"].startswith("blocked")
    assert found["uid"] != 0
    assert not results_dir.exists() or not any(results_dir.iterdir())
    assert any("planted.npy" in n and "ignored" in n for n in run.notes), run.notes


LOOK_AROUND = r'''
import json, os
seen = {}
for path in PATHS:
    try:
        seen[path] = sorted(os.listdir(path))
    except OSError as e:
        seen[path] = "blocked: " + type(e).__name__
print("SEEN" + json.dumps(seen))
'''


@needs_sandbox
def test_the_kernel_sees_an_allow_list_wherever_courses_and_submissions_live(tmp_path):
    """A course and a classmate's submission at paths the grader was never told about are invisible."""
    import secrets
    import shutil

    roots = [Path(p) for p in ("/srv", "/opt", "/var/lib", "/mnt") if os.access(p, os.W_OK)]
    if len(roots) < 2:
        pytest.skip("needs two writable system folders (run as root)")
    tag = secrets.token_hex(4)
    course, classmate = roots[0] / f"course-{tag}", roots[1] / f"class-{tag}"
    try:
        for folder in (course / "solutions" / "02-graphs", classmate / "bob" / "02-graphs"):
            folder.mkdir(parents=True)
        shutil.copy(KEY, course / "solutions" / "02-graphs" / "02-graphs.ipynb")
        shutil.copy(KEY, classmate / "bob" / "02-graphs" / "02-graphs.ipynb")
        paths = [str(course), str(course / "solutions" / "02-graphs"), str(classmate / "bob" / "02-graphs"),
                 str(roots[0]), str(REPO), "/var", "/home", "/root"]
        code = LOOK_AROUND.replace("PATHS", repr(paths))
        path = mutate(KEY, tmp_path / "alice", [append_to_answer(code)])
        nb, assignment, _ = load_submission(path)
        run = execute(nb, assignment, None, hide=[], keep=tmp_path)   # the grader names nothing to hide
        executed = nbformat.read(run.executed, as_version=4)
        text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
        seen = json.loads(text.split("SEEN", 1)[1].splitlines()[0])
    finally:
        shutil.rmtree(course, ignore_errors=True)
        shutil.rmtree(classmate, ignore_errors=True)
    for p in paths[:4] + ["/var", "/home"]:
        assert seen[p] == "blocked: FileNotFoundError", (p, seen[p])
    # the kit's package and the notebooks' helper module (read-only), not the course
    assert set(seen[str(REPO)]) <= {"autograder", ".venv", "dl4img.py"}, seen[str(REPO)]
    python_dirs = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}
    assert set(seen["/root"]) <= {p.relative_to("/root").parts[0] for p in python_dirs if p.is_relative_to("/root")}


def test_forged_result_file_is_overwritten_by_the_grader(tmp_path):
    """Even unsandboxed, the grader writes its own result last, from its own checks."""
    forged = tmp_path / "results"
    path = mutate(KEY, tmp_path / "sub", [WRONG_NUMPY])
    result = grade_notebook(path, student="mallory")
    (forged / "x").parent.mkdir(parents=True, exist_ok=True)
    out = write_json(result, forged)
    data = json.loads(out.read_text())
    assert data["score"] == result.score < result.max_score


@needs_sandbox
def test_fork_bomb_is_contained_and_the_next_submission_grades(tmp_path):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    path = mutate(KEY, tmp_path / "bomb", [append_to_answer(bomb)])
    result = grade_notebook(path, timeout_s=40)
    # forked copies of the kernel hit the process limit, then the wall-clock or memory limit stops them all
    assert result.status in ("timeout", "memory") and result.score == 0, result.reason
    after = grade_notebook(KEY)
    assert after.status == "graded" and after.score == after.max_score


def test_disk_filler_is_stopped(tmp_path):
    filler = ("i = 0\nwhile True:\n    with open(f'fill{i}.bin', 'wb') as f:\n"
              "        f.write(b'0' * 2**26)\n    i += 1")
    path = mutate(KEY, tmp_path, [append_to_answer(filler)])
    nb, assignment, _ = load_submission(path)
    run = execute(nb, assignment, None, disk_mb=300, keep=tmp_path)
    assert run.status == "error" and "more than 300 MB to disk" in run.reason


@pytest.mark.parametrize("text, reason", [
    ('{"nbformat": 2, "nbformat_minor": 0, "worksheets": []}', "not a valid notebook"),
    ('{"cells": "nope", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "not a valid notebook"),
    ("\x00\x01binary", "not a valid notebook"),
])
def test_malformed_notebooks_are_invalid(tmp_path, text, reason):
    path = tmp_path / "02-graphs.ipynb"
    path.write_text(text)
    result = grade_notebook(path)
    assert result.status == "invalid" and reason in result.reason


THREAD_HOG = r'''
import threading, time
hogs = []
try:
    while True:
        t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
        t.start()
        hogs.append(t)
except RuntimeError:
    pass
print("threads:", len(hogs))
time.sleep(50)
'''


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="separate user ids per kernel need a root grader")
def test_a_student_who_exhausts_the_process_limit_harms_no_neighbour(tmp_path):
    """A kernel that takes every process/thread its user may have, graded beside an honest one."""
    from autograder import batch

    folder = tmp_path / "submitted"
    mutate(KEY, folder / "aaron" / "02-graphs", [append_to_answer(THREAD_HOG)])   # graded first
    honest = ("bob", "carol", "dave")    # their kernels start while aaron holds every thread he can
    for student in honest:
        mutate(KEY, folder / student / "02-graphs", [])
    subs, _ = batch.discover([folder])
    out = tmp_path / "grades"
    batch.run_batch(subs, out, batch.BatchOptions(workers=2, regrade=True, progress=False))
    results = {s.student: store.read_result(store.result_path(out, s)) for s in subs}
    for student in honest:
        r = results[student]
        assert (r.status, r.score) == ("graded", r.max_score), (student, r.status, r.reason, r.notes)


@pytest.mark.parametrize("name, code, status, reason", [
    ("unlinked file", "import os\nf = open('hidden.bin', 'wb')\nos.unlink('hidden.bin')\nwhile True:\n"
                      "    f.write(os.urandom(2**20) * 16)\n    f.flush()", "error", "deleted files it kept open"),
    ("runtime folder", "import os, glob\nd = os.environ['JUPYTER_RUNTIME_DIR']\ni = 0\nwhile True:\n"
                       "    open(os.path.join(d, f'f{i}.bin'), 'wb').write(os.urandom(2**20) * 16)\n    i += 1",
     "error", "more than 300 MB to disk"),
    ("memfd", "import os\nfds = []\nwhile True:  # many memory files, each under the file-size limit\n"
              "    fds.append(os.memfd_create('x'))\n    for _ in range(32):\n"
              "        os.write(fds[-1], os.urandom(2**20) * 16)", "memory", "in memory files"),
])
def test_disk_and_memory_held_out_of_sight_are_accounted(tmp_path, name, code, status, reason):
    path = mutate(KEY, tmp_path, [append_to_answer(code)])
    nb, assignment, _ = load_submission(path)
    run = execute(nb, assignment, None, disk_mb=300, memory_mb=1800, keep=tmp_path)
    assert run.status == status and reason in run.reason, (name, run.status, run.reason)
