"""Gradescope: the zip that `autograder gradescope build` writes, run as Gradescope runs it.

Each test unpacks the real zip into a temporary root laid out like Gradescope's /autograder (``source/``,
``submission/``, ``results/``, ``submission_metadata.json``; ``venv`` links to this environment instead of running
setup.sh, which needs apt and a network), runs the zip's own ``run_autograder`` with ``AUTOGRADER_ROOT`` pointing
there, and validates results.json against Gradescope's documented format, whatever happened to the submission.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import practicals
from autograder.paths import REPO
from autograder.report.gradescope_zip import OPT_IN, build_zip

KEY = practicals.get("02-graphs").solution_notebook(REPO)

# Gradescope's results.json, as its "Autograder Specifications" document it: every key optional, "score" at the
# top or on every test; visibilities and formats from closed lists; a test's status passed or failed.
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMAT = {"text", "html", "simple_format", "md", "ansi"}
NUMBER = (int, float)
TOP_FIELDS = {"score": NUMBER, "execution_time": NUMBER, "output": str, "output_format": FORMAT,
              "test_output_format": FORMAT, "test_name_format": FORMAT, "visibility": VISIBILITY,
              "stdout_visibility": VISIBILITY, "extra_data": dict, "tests": list, "leaderboard": list}
TEST_FIELDS = {"score": NUMBER, "max_score": NUMBER, "status": {"passed", "failed"}, "name": str,
               "name_format": FORMAT, "number": str, "output": str, "output_format": FORMAT, "tags": list,
               "visibility": VISIBILITY, "extra_data": dict}


def _valid(value, kind) -> bool:
    if isinstance(kind, set):
        return value in kind
    return isinstance(value, kind) and not isinstance(value, bool)


def validate(doc: dict) -> dict:
    """Assert ``doc`` follows Gradescope's documented results.json format (and has what the kit promises)."""
    assert set(doc) <= set(TOP_FIELDS), set(doc) - set(TOP_FIELDS)
    for key, value in doc.items():
        assert _valid(value, TOP_FIELDS[key]), (key, value)
    for t in doc.get("tests", []):
        assert set(t) <= set(TEST_FIELDS), set(t) - set(TEST_FIELDS)
        for key, value in t.items():
            assert _valid(value, TEST_FIELDS[key]), (key, value)
        assert all(isinstance(tag, str) for tag in t.get("tags", []))
        assert 0 <= t["score"] <= t["max_score"]
    assert "score" in doc or all("score" in t for t in doc["tests"])
    # the kit always writes these: the total, how long it took and, for the student, what happened
    assert {"score", "execution_time", "output"} <= set(doc) and doc["execution_time"] >= 0 and doc["output"]
    return doc


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    """The zip as an instructor builds it: `autograder gradescope build --assignment 02-graphs -o X.zip`."""
    out = tmp_path_factory.mktemp("build") / "autograder-02.zip"
    p = subprocess.run([sys.executable, "-m", "autograder", "gradescope", "build", "--assignment", "02-graphs",
                        "-o", str(out)], cwd=out.parent, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.returncode == 0, p.stderr
    return out


def gradescope_root(tmp_path: Path, zip_path: Path, notebook: nbformat.NotebookNode | Path | None) -> Path:
    """A temporary /autograder: the unzipped autograder in source/ (modes kept), the submission, its metadata."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(root / "source")
        for info in z.infolist():
            (root / "source" / info.filename).chmod(info.external_attr >> 16 & 0o777)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    if isinstance(notebook, Path):
        (root / "submission" / notebook.name).write_bytes(notebook.read_bytes())
    elif notebook is not None:
        nbformat.write(notebook, root / "submission" / "02-graphs.ipynb")
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"email": "ada@example.org"}]}))
    (root / "venv").symlink_to(sys.prefix)   # what setup.sh would have installed
    return root


def run_autograder(root: Path, **extra_env) -> dict:
    """Run the zip's own run_autograder as Gradescope does; return the results.json it left."""
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_SECRET"}  # the zip's secret.txt only
    p = subprocess.run([root / "source" / "run_autograder"], cwd=root, capture_output=True, text=True,
                       timeout=600, env=dict(env, AUTOGRADER_ROOT=str(root), **extra_env))
    assert p.returncode == 0, p.stderr[-3000:]
    return validate(json.loads((root / "results" / "results.json").read_text()))


def crashing_key() -> nbformat.NotebookNode:
    """The answer key with a first code cell that kills its kernel."""
    nb = nbformat.read(KEY, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first, nbformat.v4.new_code_cell("import os\nos._exit(3)"))
    return nb


def test_zip_entry_points_and_setup_installs_bubblewrap(built_zip):
    with zipfile.ZipFile(built_zip) as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "assignment.txt", "secret.txt", "kit/pyproject.toml",
                "kit/autograder/grade.py", "kit/autograder/practicals/p02_graphs/checks.py"} <= names
        assert OPT_IN not in names                      # no opt-in unless the instructor asked for it
        assert not any("__pycache__" in n for n in names)
        for entry in ("setup.sh", "run_autograder"):
            assert (z.getinfo(entry).external_attr >> 16) & 0o111, f"{entry} must be executable"
            text = z.read(entry).decode()
            assert text.startswith("#!/usr/bin/env bash")
            assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
            # the /autograder folder (not bin/autograder, the command) only as the default of AUTOGRADER_ROOT
            uses = re.findall(r"\S*(?<!bin)/autograder\b\S*", text)
            assert len(uses) == 1 and uses[0].endswith('="${AUTOGRADER_ROOT:-/autograder}"'), uses
        assert z.read("assignment.txt").strip() == b"02-graphs"
        setup = z.read("setup.sh").decode().splitlines()
    installs = [line.split() for line in setup if line.startswith("apt-get install")]
    assert any("-y" in words and "bubblewrap" in words for words in installs), setup


@pytest.mark.slow
def test_answer_key_scores_full_marks(built_zip, tmp_path):
    out = run_autograder(gradescope_root(tmp_path, built_zip, KEY))
    assert out["tests"] and all(t["status"] == "passed" for t in out["tests"])
    assert out["score"] == sum(t["max_score"] for t in out["tests"]) == 20
    assert out["execution_time"] > 0 and "Graded." in out["output"]


@pytest.mark.slow
def test_crashing_notebook_scores_0_and_says_why(built_zip, tmp_path):
    out = run_autograder(gradescope_root(tmp_path, built_zip, crashing_key()))
    assert out["score"] == 0 and "kernel died" in out["output"]
    assert out["tests"] and all(t["status"] == "failed" for t in out["tests"])


def test_unsandboxed_grading_is_refused_without_the_opt_in(built_zip, tmp_path):
    out = run_autograder(gradescope_root(tmp_path, built_zip, KEY), AUTOGRADER_NO_SANDBOX="1")
    assert out["score"] == 0 and out["tests"] == []
    assert "refuses to run student code unsandboxed" in out["output"] and "AUTOGRADER_NO_SANDBOX" in out["output"]
    assert "--allow-unsandboxed" in out["output"]          # what the instructor can do


def test_a_host_whose_bubblewrap_cannot_make_namespaces_is_refused_too(built_zip, tmp_path):
    """bwrap installed but its namespaces forbidden (a container's default profile): every kernel would fail to
    start, so the submission is refused with bwrap's own words, as where bwrap is missing."""
    from helpers import failing_bwrap

    fake = failing_bwrap(tmp_path / "bin", "bwrap: No permissions to create new namespace")
    out = run_autograder(gradescope_root(tmp_path, built_zip, KEY), PATH=f"{fake}:{os.environ['PATH']}")
    assert out["score"] == 0 and out["tests"] == []
    assert "bubblewrap cannot isolate a process on this host (bwrap: No permissions to create new namespace)" \
        in out["output"] and "refuses to run student code unsandboxed" in out["output"]


def test_the_opt_in_is_recorded_in_the_zip_and_lets_grading_proceed(tmp_path):
    opted = build_zip(tmp_path / "opted.zip", "02-graphs", "kit-tests-secret", allow_unsandboxed=True)
    assert OPT_IN in zipfile.ZipFile(opted).namelist()
    # past the refusal: an empty submission gets the grader's own verdict (no notebook), not a refusal
    out = run_autograder(gradescope_root(tmp_path, opted, None), AUTOGRADER_NO_SANDBOX="1")
    assert "no .ipynb notebook" in out["output"] and "unsandboxed" not in out["output"]


def _unknown_assignment(root: Path) -> None:
    (root / "source" / "assignment.txt").write_text("99-x\n")


def _folder_named_like_a_notebook(root: Path) -> None:
    (root / "submission" / "trap.ipynb").mkdir()


def _not_a_notebook(root: Path) -> None:
    (root / "submission" / "02-graphs.ipynb").write_text("this is not JSON")


FAILURES = {  # how the submission or the zip is spoiled -> what results.json must say
    "missing submission": (lambda root: None, "no .ipynb notebook was found"),
    "invalid notebook": (_not_a_notebook, "not a notebook"),
    "unknown assignment": (_unknown_assignment, "unknown assignment '99-x'"),
    "grader crash": (_folder_named_like_a_notebook, "the grader failed (IsADirectoryError)"),
}


@pytest.mark.parametrize("spoil, says", list(FAILURES.values()), ids=list(FAILURES))
def test_a_failure_to_grade_still_writes_results_json_with_the_reason(built_zip, tmp_path, spoil, says):
    root = gradescope_root(tmp_path, built_zip, None)
    spoil(root)
    out = run_autograder(root)
    assert out["score"] == 0 and says in out["output"], out["output"]
    assert all(t["score"] == 0 for t in out["tests"])


def test_the_student_is_read_from_gradescope_metadata(tmp_path):
    from autograder.report.gradescope_zip import student_of

    (tmp_path / "meta.json").write_text(json.dumps({"users": [{"email": "a@b.c", "name": "A"}]}))
    assert student_of(tmp_path / "meta.json") == "a@b.c"
    assert student_of(tmp_path / "missing.json") == "submission"
