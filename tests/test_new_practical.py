"""A practical is one folder: a throw-away sixth practical, written in a temporary course, releases and grades.

The course folder holds only its notebook (``source/06-tiny/``), nbgrader's config and the practical's folder
(``practicals/p06_tiny/``); nothing of the kit is edited. Its answer key must score full marks, its blank release 0,
and a wrong answer must lose exactly the points of the check that names the mistake.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder import practicals
from autograder.paths import REPO

IN_KERNEL = '''
def export(ex):
    with ex.question("06.double"):
        ex.array("double_of_public", lambda: ex.get("double")(3.0))
        if ex.hidden is not None:
            ex.array("double_of_hidden", lambda: ex.get("double")(ex.hidden["x"].copy()))
'''

CHECKS = '''
import numpy as np

from autograder.check_api import check, expect_close


def make_hidden(rng):
    return {"x": rng.uniform(-5, 5, size=7)}


@check("06.double", points=2)
def test_double_of_three(art):
    expect_close(art.array("double_of_public"), 6.0, "double(3.0)")


@check("06.double", points=1, hidden=True)
def test_double_of_other_inputs(art):
    x = art.hidden("x")
    expect_close(art.array("double_of_hidden"), 2 * x, "double(x) on other inputs")
'''

DECLARATION = '''name = "06-tiny"
tensorflow = false
timeout_s = 60
memory_mb = 1024
datasets = []
'''


def _cell(kind, source, grade_id, solution=False):
    meta = {"nbgrader": {"grade": False, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
                         "solution": solution}}
    new = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
    return new(source, metadata=meta)


def _notebook() -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[
        _cell("md", "# Practical 06 — a tiny one\n\nWrite `double(x)`: twice its input.", "md-01"),
        _cell("code", "import numpy as np\nfrom autograder.selfcheck import check", "code-02"),
        _cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double",
              solution=True),
        _cell("code", 'check("06.double")', "check-06-double"),
    ])


def _course(tmp: Path) -> Path:
    course = tmp / "course"
    (course / "source" / "06-tiny").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    nbformat.write(_notebook(), course / "source" / "06-tiny" / "06-tiny.ipynb")
    folder = course / "practicals" / "p06_tiny"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text('"""Practical 06-tiny."""\n')
    (folder / "practical.toml").write_text(DECLARATION)
    (folder / "in_kernel.py").write_text(IN_KERNEL)
    (folder / "checks.py").write_text(CHECKS)
    return course


def _kit_files() -> dict:
    return {p: p.stat().st_mtime_ns for p in (REPO / "autograder").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_a_sixth_practical_is_one_folder_and_a_notebook(tmp_path):
    before = _kit_files()
    course = _course(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("AUTOGRADER_COURSE", None)
    # --root names the course: its own practicals are known to the command line
    release = subprocess.run([sys.executable, "-m", "autograder", "--root", str(course), "release", "06-tiny"],
                             env=env, cwd=tmp_path, capture_output=True, text=True)
    assert release.returncode == 0, release.stdout + release.stderr
    key = course / "solutions" / "06-tiny" / "06-tiny.ipynb"
    blank = course / "release" / "06-tiny" / "06-tiny.ipynb"
    assert key.is_file() and blank.is_file()
    assert "BEGIN SOLUTION" not in blank.read_text() and "NotImplementedError" in blank.read_text()
    wrong = tmp_path / "wrong" / "06-tiny.ipynb"   # right on 3.0, wrong elsewhere: only the hidden check sees it
    wrong.parent.mkdir()
    nb = nbformat.read(blank, as_version=4)
    nb.cells[2].source = "def double(x):\n    return x + 3.0"
    nbformat.write(nb, wrong)

    script = ("import json, sys\nfrom autograder.grade import grade_notebook\n"
              "for path in sys.argv[1:]:\n"
              "    r = grade_notebook(path, student='s')\n"
              "    print(json.dumps({'status': r.status, 'reason': r.reason, 'score': r.score, 'max': r.max_score,"
              " 'checks': {c.name: c.status for c in r.checks}}))\n")
    env["AUTOGRADER_COURSE"] = str(course)   # the Python API's way to name the course
    graded = subprocess.run([sys.executable, "-c", script, str(key), str(blank), str(wrong)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert graded.returncode == 0, graded.stderr[-3000:]
    key_r, blank_r, wrong_r = [json.loads(line) for line in graded.stdout.splitlines()[-3:]]
    assert (key_r["status"], key_r["score"], key_r["max"]) == ("graded", 3, 3), key_r
    assert (blank_r["status"], blank_r["score"], blank_r["max"]) == ("graded", 0, 3), blank_r
    assert wrong_r["score"] == 2 and wrong_r["checks"] == {"double_of_three": "passed",
                                                            "double_of_other_inputs": "failed"}, wrong_r

    assert "06-tiny" not in practicals.REGISTRY   # the kit's own registry is untouched...
    assert _kit_files() == before                 # ...and so is every file of the kit
