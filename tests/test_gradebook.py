"""nbgrader's gradebook keeps what graders wrote: the kit sets auto scores only, as ``nbgrader autograde`` does.

A course gradebook is made as nbgrader makes it (``nbgrader generate_assignment``, or nbgrader.api as
formgrader does), a TA's manual score, extra credit and comment are put in, and the kit's exports must leave them
as they were beside its own auto scores.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder import practicals
from autograder.paths import REPO
from autograder.report.gradebook import write_gradebook
from autograder.report.store import write_result
from autograder.results import CheckResult, SubmissionResult
from helpers import mutate

ASSIGNMENT = NOTEBOOK = "02-graphs"
BIN = str(Path(sys.executable).parent)
ENV = dict(os.environ, PATH=os.pathsep.join([BIN, os.environ.get("PATH", "")]))  # nbgrader runs alembic


def run(*args, cwd, timeout=600):
    proc = subprocess.run(list(args), cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


def result(student, numpy_passed):
    """A 02 result: 02.numpy's two checks (1 + 2 points) pass or not, 02.shapes (2 points) passes."""
    status = "passed" if numpy_passed else "failed"
    return SubmissionResult(ASSIGNMENT, f"/s/{student}/02-graphs/02-graphs.ipynb", "graded", student=student,
                            checks=[CheckResult("shape", "02.numpy", 1, status),
                                    CheckResult("values", "02.numpy", 2, status),
                                    CheckResult("shapes_answer", "02.shapes", 2, "passed")])


def ta_marks(db, student, score, comment):
    """What a TA does in formgrader: a manual score on 02.numpy, extra credit on 02.shapes, a comment."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        gb.find_grade("02_numpy", NOTEBOOK, ASSIGNMENT, student).manual_score = score
        gb.find_grade("02_shapes", NOTEBOOK, ASSIGNMENT, student).extra_credit = 0.5
        gb.find_comment("predict_np", NOTEBOOK, ASSIGNMENT, student).manual_comment = comment
        gb.db.commit()


def test_manual_scores_and_comments_survive_the_kit_s_exports(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", ENV["PATH"])

    db = tmp_path / "course" / "gradebook.db"
    db.parent.mkdir()
    with Gradebook(f"sqlite:///{db}") as gb:   # the course's gradebook, as generate_assignment leaves it
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook(NOTEBOOK, ASSIGNMENT)
        gb.add_grade_cell("02_numpy", NOTEBOOK, ASSIGNMENT, max_score=3, cell_type="code")
        gb.add_grade_cell("02_shapes", NOTEBOOK, ASSIGNMENT, max_score=2, cell_type="code")
        gb.add_solution_cell("predict_np", NOTEBOOK, ASSIGNMENT)
        for student in ("alice", "bob"):
            gb.add_student(student)
            gb.add_submission(ASSIGNMENT, student)   # nbgrader creates its grades and comments
    write_gradebook([result("alice", True), result("bob", False)], db, fresh=False)
    ta_marks(db, "bob", 2.5, "Right idea, a broadcasting slip.")

    # a re-grade (bob's 02.numpy now passes), exported by the CLI into the course gradebook
    grades = tmp_path / "grades"
    for r in (result("alice", True), result("bob", True)):
        write_result(r, grades / "results" / f"{r.student}__02-graphs.json")
    run(str(Path(BIN) / "autograder"), "export", str(grades), "--gradebook", str(db), "--no-feedback", cwd=tmp_path)

    with Gradebook(f"sqlite:///{db}") as gb:
        numpy = gb.find_grade("02_numpy", NOTEBOOK, ASSIGNMENT, "bob")
        assert (numpy.auto_score, numpy.manual_score, numpy.score) == (3, 2.5, 2.5)   # the TA's score counts
        assert numpy.needs_manual_grade   # as nbgrader's autograde: a manual grade under a new auto score: review
        shapes = gb.find_grade("02_shapes", NOTEBOOK, ASSIGNMENT, "bob")
        assert (shapes.auto_score, shapes.manual_score, shapes.extra_credit, shapes.score) == (2, None, 0.5, 2.5)
        assert not shapes.needs_manual_grade
        comment = gb.find_comment("predict_np", NOTEBOOK, ASSIGNMENT, "bob")
        assert comment.manual_comment == "Right idea, a broadcasting slip."
        assert gb.find_submission(ASSIGNMENT, "bob").score == 5
        alice = gb.find_grade("02_numpy", NOTEBOOK, ASSIGNMENT, "alice")
        assert (alice.auto_score, alice.manual_score, alice.needs_manual_grade) == (3, None, False)


def test_nbgrader_course_round_trip(tmp_path, monkeypatch):
    """generate_assignment -> collect layout -> TA's marks -> ``autograder grade --gradebook`` -> ``nbgrader
    export``: the kit's auto scores stand beside the TA's untouched manual score and comment."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", ENV["PATH"])
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    run(sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, cwd=course)
    db = course / "gradebook.db"
    assert (course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()

    key = practicals.get(ASSIGNMENT).solution_notebook(REPO)
    submitted = course / "submitted"
    mutate(key, submitted / "alice" / ASSIGNMENT, [])
    # bob's predict_np forgets the bias: 02.numpy's value checks fail
    mutate(key, submitted / "bob" / ASSIGNMENT, [("return np.sum(w * x, axis=1) + b", "return np.sum(w * x, axis=1)")])

    with Gradebook(f"sqlite:///{db}") as gb:   # bob's submission is in formgrader, a TA marked it by hand
        gb.add_student("bob")
        gb.add_submission(ASSIGNMENT, "bob")
    ta_marks(db, "bob", 2.0, "Where is b?")

    run(str(Path(BIN) / "autograder"), "grade", str(submitted), "--gradebook", str(db),
        "--out", str(tmp_path / "grades"), "--workers", "1", "--no-feedback", "--no-progress", cwd=course)
    results = [json.loads(p.read_text()) for p in (tmp_path / "grades" / "results").glob("*.json")]
    kit = {r["student"]: r for r in results}
    assert kit["alice"]["score"] == kit["alice"]["max_score"] == 20
    bob_numpy = sum(c["points"] for c in kit["bob"]["checks"] if c["question"] == "02.numpy")
    assert bob_numpy < 3 and kit["bob"]["score"] == 20 - 3 + bob_numpy

    run(sys.executable, "-m", "nbgrader", "export", "--to=grades.csv", cwd=course)
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())}
    assert float(rows["alice"]["score"]) == 20 and float(rows["alice"]["max_score"]) == 20
    # bob: the TA's 2 replaces 02.numpy's auto score, the extra 0.5 is added, the rest is the kit's
    assert float(rows["bob"]["score"]) == kit["bob"]["score"] - bob_numpy + 2.0 + 0.5
    with Gradebook(f"sqlite:///{db}") as gb:   # what formgrader shows
        numpy = gb.find_grade("02_numpy", NOTEBOOK, ASSIGNMENT, "bob")
        assert (numpy.auto_score, numpy.manual_score, numpy.needs_manual_grade) == (bob_numpy, 2.0, True)
        assert gb.find_comment("predict_np", NOTEBOOK, ASSIGNMENT, "bob").manual_comment == "Where is b?"
        cells = {c.name: c.max_score for c in gb.find_notebook(NOTEBOOK, ASSIGNMENT).grade_cells}
        assert cells == {"02_numpy": 3, "02_graph": 5, "02_total_error": 6, "02_shapes": 2, "02_gradient": 4}
        graph = gb.find_grade("02_graph", NOTEBOOK, ASSIGNMENT, "alice")
        assert (graph.auto_score, graph.manual_score, graph.needs_manual_grade) == (5, None, False)


def test_a_new_gradebook_is_stamped_as_nbgrader_stamps_it_without_running_alembic(tmp_path, monkeypatch):
    """The migrations' head is read in the grader's process; nbgrader's own way (the ``alembic`` program) must
    give the same, and nbgrader's ``db upgrade`` must find nothing to do."""
    import sqlite3

    from nbgrader.api import get_alembic_version

    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != BIN))
    monkeypatch.setattr(subprocess, "Popen", None)   # no program runs: the head is read here
    db = write_gradebook([result("ann", True)], tmp_path / "gradebook.db")
    monkeypatch.undo()
    stamp = sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall()
    monkeypatch.setenv("PATH", ENV["PATH"])
    assert stamp == [(get_alembic_version(),)]
    (tmp_path / "nbgrader_config.py").write_text(f"c.CourseDirectory.db_url = 'sqlite:///{db}'\n")
    run(sys.executable, "-m", "nbgrader", "db", "upgrade", cwd=tmp_path)
    assert sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall() == stamp
