"""The student kit: public self-checks that work as in the full kit, with nothing only the grader may hold."""

import ast
import os
import subprocess
import sys

import pytest

from autograder import practicals
from autograder.engine.check_runner import list_checks
from autograder.paths import REPO
from autograder.studentkit import build, public_source


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    return build(tmp_path_factory.mktemp("student") / "kit")


def test_the_kit_holds_no_hidden_check_no_generator_and_no_grading_engine(kit):
    files = {p.relative_to(kit / "autograder").as_posix() for p in (kit / "autograder").rglob("*.py")}
    for engine in ("grade.py", "engine/execute.py", "engine/sandbox.py", "engine/kernels.py", "batch.py",
                   "engine/retrace.py", "calibrate.py", "ci.py", "engine/check_worker.py", "mutants.py", "secret.py"):
        assert engine not in files
    assert not {f for f in files if f.endswith("/mutants.py")}
    for a in practicals.REGISTRY.values():
        source = (kit / "autograder" / "practicals" / a.package / "checks.py").read_text()
        names = {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}
        checks = list_checks(a.checks_module)
        assert {f"test_{c.name}" for c in checks if c.hidden} & names == set()
        assert {f"test_{c.name}" for c in checks if not c.hidden} <= names
        assert "make_hidden" not in names and "hidden=True" not in source and "art.hidden" not in source


def test_a_definition_used_only_by_hidden_checks_is_cut():
    source = '''
from autograder.check_api import check

def only_hidden():
    return 1

def shared():
    return 2

def make_hidden(rng):
    return {}

@check("9.q", points=1)
def test_public(art):
    assert shared() == 2

@check("9.q", points=1, hidden=True)
def test_secret(art):
    assert only_hidden() + shared() == 3
'''
    names = {n.name for n in ast.parse(public_source(source)).body if isinstance(n, ast.FunctionDef)}
    assert names == {"shared", "test_public"}


def test_a_fixture_a_public_check_requests_is_kept(kit):
    source = '''
import pytest
from autograder.check_api import check

@pytest.fixture
def weights():
    pytest.skip("no weights here")

@pytest.fixture
def secret_data():
    return 3

@check("9.q", points=1)
def test_public(weights, art):
    assert art

@check("9.q", points=1, hidden=True)
def test_secret(secret_data, art):
    assert secret_data == 3
'''
    names = {n.name for n in ast.parse(public_source(source)).body if isinstance(n, ast.FunctionDef)}
    assert names == {"weights", "test_public"}
    # and in the kit built from the real checks: 05's ImageNet checks request one
    p05 = ast.parse((kit / "autograder" / "practicals" / "p05_pretrained" / "checks.py").read_text())
    assert "imagenet_weights" in {n.name for n in p05.body if isinstance(n, ast.FunctionDef)}


def test_self_checks_from_the_student_kit_pass_on_the_answer_key(kit):
    """The 02 answer key run with the student kit on the path: every public check passes, hidden ones counted."""
    import nbformat

    nb = nbformat.read(practicals.get("02-graphs").solution_notebook(REPO), as_version=4)
    code = "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")
    script = ("import autograder, matplotlib\nmatplotlib.use('Agg')\nprint('KIT', autograder.__file__)\n"
              "from autograder.selfcheck import check as _check\n"
              "def check(q):\n    _check(q, globals())\n" + code.replace("from autograder.selfcheck import check", "pass"))
    env = {**os.environ, "PYTHONPATH": str(kit), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=kit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"KIT {kit}" in proc.stdout
    assert "✗" not in proc.stdout and "!" not in proc.stdout.replace("!=", ""), proc.stdout
    public = [c for c in list_checks("autograder.practicals.p02_graphs.checks") if not c.hidden]
    assert proc.stdout.count("✓") == len(public)
    hidden = [c for c in list_checks("autograder.practicals.p02_graphs.checks") if c.hidden and c.question == "02.numpy"]
    assert f"+ {len(hidden)} hidden check(s)" in proc.stdout
