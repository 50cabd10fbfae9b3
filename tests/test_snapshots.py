"""Each question is graded where its check cell stands, and the engine's limits judge the notebook, not the host.

Real kernels, real sandbox: the answer key of 02 with student cells added around its check cells.
"""

import os
import subprocess
import sys

import nbformat
import pytest

from autograder import practicals
from autograder.engine.assemble import build_run_notebook, export_plan
from autograder.grade import grade_notebook, hidden_inputs
from autograder.paths import REPO

A = practicals.get("02-graphs")
KEY = A.solution_notebook(REPO)
GRADIENT_POINTS = 4  # the four checks of 02.gradient


def with_cells(tmp_path, before: dict[str, list[str]] = (), end: list[str] = ()):
    """The 02 answer key with student cells inserted before the check cell of some questions, and at the end."""
    nb = nbformat.read(KEY, as_version=4)
    cells = []
    for cell in nb.cells:
        for question, sources in dict(before).items():
            if cell.source.strip() == f'check("{question}")':
                cells += [nbformat.v4.new_code_cell(s) for s in sources]
        cells.append(cell)
    cells += [nbformat.v4.new_code_cell(s) for s in end]
    nb.cells = cells
    path = tmp_path / "02-graphs.ipynb"
    nbformat.write(nb, path)
    return path


def test_names_reused_after_a_check_cell_keep_their_points(tmp_path):
    """A 'going further' cell that reuses names and keeps training the variables changes no verdict."""
    going_further = ("w.assign(tf.zeros_like(w)); b.assign(100.0)\n"
                     "ypred_np = 'reused'; err = None; dw = db = 0; shapes = {}\n"
                     "def predict_np(x, w, b):\n    return 0\n"
                     "def error_gradient(x, y):\n    raise RuntimeError('rewritten')\n"
                     "predict = total_error = None")
    result = grade_notebook(with_cells(tmp_path, end=[going_further]))
    assert result.status == "graded", result.reason
    assert result.score == result.max_score, {c.name: c.message for c in result.checks if c.status != "passed"}


def test_a_timeout_in_the_last_exercise_keeps_the_points_captured_before_it(tmp_path):
    path = with_cells(tmp_path, before={"02.gradient": ["while True:\n    pass"]})
    result = grade_notebook(path, timeout_s=8)   # under 02's CPU time per cell (10 s): the notebook's limit applies
    assert result.status == "timeout"
    assert "CPU time" in result.reason and "02.numpy" in result.reason and "02.shapes" in result.reason
    assert result.score == result.max_score - GRADIENT_POINTS
    lost = [c for c in result.checks if c.status != "passed"]
    assert {c.question for c in lost} == {"02.gradient"}
    assert all("before this question's check cell ran" in c.message for c in lost)


def test_a_snapshot_is_out_of_the_kernels_reach_once_taken(tmp_path):
    """A wrong ypred_np, then, after its check cell, the right values written where the snapshot was taken."""
    forge = ("import os, re\n"
             "for src in In:\n"
             "    for name in re.findall(r'artifacts-[0-9a-f]{16}', src):\n"
             "        os.makedirs(name, exist_ok=True)\n"
             "        np.save(os.path.join(name, 'ypred_np.npy'), np.sum(w_np * x, axis=1) + b_np)\n"
             "        open(os.path.join(name, '_errors.json'), 'w').write('{}')")
    path = with_cells(tmp_path, before={"02.numpy": ["ypred_np = ypred_np + 1.0"], "02.graph": [forge]})
    result = grade_notebook(path)
    by_name = {c.name: c for c in result.checks}
    assert by_name["ypred_np_values"].status == "failed"
    assert by_name["ypred_np_shape"].status == "passed"
    assert result.score == result.max_score - 1, {c.name: c.message for c in result.checks if c.status != "passed"}


def test_hidden_inputs_reach_the_kernel_only_in_the_cells_of_their_questions(tmp_path):
    hidden = hidden_inputs(A)
    nb = nbformat.read(KEY, as_version=4)
    run = build_run_notebook(nb, A, tmp_path, hidden, "pass")
    plan = export_plan(A, hidden)
    with_hidden = {q for name, qs in plan.items() if name.startswith("!") for q in qs}
    snapshots = [c for c in run.cells if c.metadata.get("ag_role") == "snapshot"]
    assert [c.metadata["ag_question"] for c in snapshots] == ["02.numpy", "02.graph", "02.total_error",
                                                              "02.shapes", "02.gradient"]
    blob_marker = "base64.b64decode('"
    for cell in run.cells[:-1]:
        carries = blob_marker in cell.source and "base64.b64decode('')" not in cell.source
        assert carries == (cell.metadata.get("ag_question") in with_hidden), cell.metadata
    assert "02.shapes" not in with_hidden  # a question without hidden checks gets no hidden inputs


def test_sleeping_notebook_stops_at_the_wall_clock_and_is_retried_once_on_a_saturated_host(tmp_path, monkeypatch):
    from autograder.engine import limits

    monkeypatch.setattr(limits.os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    path = tmp_path / "01-sklearn.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(600)")]), path)
    result = grade_notebook(path, timeout_s=3)
    assert result.status == "timeout"
    assert "wall clock" in result.reason, result.reason
    assert result.timings["first_execute_s"] >= limits.wall_backstop(3)
    assert result.timings["cpu_s"] < 3
    assert any("run once more" in n for n in result.notes)


def run_python(*args, env=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})})


def test_checks_fail_under_python_O_and_the_grader_refuses_it(tmp_path):
    code = ("from autograder.check_api import expect_close, CheckFailure\n"
            "try:\n    expect_close(1.0, 2.0, 'x')\nexcept CheckFailure as e:\n    print('caught', e)\n")
    proc = run_python("-O", "-c", code)
    assert "caught x: got 1, expected 2" in proc.stdout, proc.stderr
    proc = run_python("-O", "-c", "from autograder.cli import main; raise SystemExit(main(['grade', 'nothing.ipynb']))")
    assert proc.returncode == 2
    assert "python -O" in proc.stderr and "Traceback" not in proc.stderr


def test_grading_without_a_course_secret_is_refused_with_what_to_do(tmp_path):
    env = {"AUTOGRADER_SECRET": "", "AUTOGRADER_COURSE": str(tmp_path)}
    code = "from autograder.cli import main; raise SystemExit(main(['grade', str(__import__('sys').argv[1])]))"
    proc = run_python("-c", code, str(KEY), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "no course secret" in proc.stderr and "autograder release" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_release_creates_a_private_course_secret_once(tmp_path):
    from autograder import secret

    path = secret.ensure(tmp_path)
    value = path.read_text()
    assert len(value.strip()) == 64 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert secret.ensure(tmp_path).read_text() == value
    assert ".autograder-secret" in (REPO / ".gitignore").read_text().split()


@pytest.mark.parametrize("secret", ["course-a", "course-b"])
def test_hidden_inputs_depend_on_the_course_secret(monkeypatch, secret):
    monkeypatch.setenv("AUTOGRADER_SECRET", secret)
    mine = hidden_inputs(A)["x"]
    monkeypatch.setenv("AUTOGRADER_SECRET", secret + "-other")
    other = hidden_inputs(A)["x"]
    assert other.shape != mine.shape or not (other == mine).all()


@pytest.mark.parametrize("name", list(practicals.REGISTRY))
def test_checks_modules_fail_explicitly_never_by_bare_assert(name):
    """A bare assert vanishes under python -O in a module pytest did not rewrite: checks use expect(...)."""
    import ast
    import importlib

    path = importlib.import_module(practicals.get(name).checks_module).__file__
    tree = ast.parse(open(path).read())
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert asserts == [], f"{path}: bare assert on lines {asserts}"


def test_each_student_gets_their_own_hidden_inputs_the_same_at_every_regrade():
    alice, bob = hidden_inputs(A, "alice"), hidden_inputs(A, "bob")
    assert alice["x"].shape != bob["x"].shape or not (alice["x"] == bob["x"]).all()
    again = hidden_inputs(A, "alice")
    assert all((again[k] == alice[k]).all() for k in alice)
