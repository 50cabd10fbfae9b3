"""nbgrader's ``gradebook.db``, written through nbgrader's own API (``nbgrader.api.Gradebook``).

Each practical's grade cells are its questions, named as in the source notebook (``02.numpy`` -> ``02_numpy``);
a submission's ``auto_score`` per question is the sum of the points of the checks it passed. ``nbgrader export``
and formgrader then show the kit's scores. Notebooks of no known assignment are left out (they are in grades.csv
with status ``invalid``).

Autograding writes what nbgrader's own ``autograde`` writes (its ``SaveAutoGrades`` preprocessor) and nothing
else: a grade's ``auto_score``, and ``needs_manual_grade``, set where a grader already gave a ``manual_score``
(which stays the score nbgrader counts: formgrader flags it for review). A grader's ``manual_score``,
``extra_credit`` and comments are never touched, so ``--gradebook course/gradebook.db`` keeps a TA's marks.

Skipped checks (05.imagenet where the grader has no ImageNet weights) leave the maximum here as in every other
export: a grade cell's ``max_score`` is the sum of the points of its checks that were not skipped, so nbgrader's
totals are the console's, grades.csv's and Gradescope's. A question whose checks were all skipped gets
``max_score`` 0 and ``auto_score`` 0: nothing was graded, nothing is owed. nbgrader keeps one maximum per grade
cell for all students; the kit grades a batch in one environment, so a check is skipped for every submission or
for none. Where results disagree (merged runs of graders with and without the weights) a check counts when any
graded submission ran it, and the submissions that skipped it are flagged ``needs_manual_grade`` for a TA.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

from autograder import practicals
from autograder.results import SubmissionResult


def cell_id(question: str) -> str:
    return question.replace(".", "_")


def counted_checks(results: list[SubmissionResult]) -> set[tuple[str, str]]:
    """(question, check) of the checks that count toward the maximum: run (not skipped) by a graded submission,
    or, where none was graded, listed by any."""
    graded = [r for r in results if r.status == "graded"]
    if not graded:
        return {(c.question, c.name) for r in results for c in r.checks}
    return {(c.question, c.name) for r in graded for c in r.checks if c.status != "skipped"}


def questions(results: list[SubmissionResult]) -> "OrderedDict[str, float]":
    """Question -> max points (its counted checks' points), in the checks' order, from one assignment's results."""
    counted = counted_checks(results)
    q: OrderedDict[str, float] = OrderedDict()
    seen = set()
    for r in results:
        for c in r.checks:
            if (c.question, c.name) not in seen:
                seen.add((c.question, c.name))
                q[c.question] = q.get(c.question, 0.0) + (c.max_points if (c.question, c.name) in counted else 0.0)
    return q


@contextmanager
def _migrations_head_read_here():
    """nbgrader's Gradebook stamps a new database with its migrations' head by running the ``alembic`` program:
    4 s, a second Python importing nbgrader. The same head, read here from the same migrations, takes
    milliseconds (nbgrader's own way is kept as the fallback)."""
    from nbgrader import api
    from nbgrader.dbutil import _temp_alembic_ini

    by_program = api.get_alembic_version

    def head() -> str:
        try:
            from alembic.config import Config
            from alembic.script import ScriptDirectory

            with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
                return ScriptDirectory.from_config(Config(ini)).get_current_head()
        except Exception:
            return by_program()

    api.get_alembic_version = head
    try:
        yield
    finally:
        api.get_alembic_version = by_program


def write_gradebook(results: list[SubmissionResult], path: Path, fresh: bool = True) -> Path:
    """Write ``path`` from scratch (``fresh``), or update an existing course gradebook in place."""
    from nbgrader.api import Grade, Gradebook, MissingEntry

    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh and path.exists():
        path.unlink()
    graded = [r for r in results if r.assignment in practicals.REGISTRY and r.student]
    by_assignment: dict[str, list[SubmissionResult]] = {}
    for r in graded:
        by_assignment.setdefault(r.assignment, []).append(r)
    # nbgrader's Gradebook runs the `alembic` program: the venv's bin must be on PATH
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    with warnings.catch_warnings(), _migrations_head_read_here(), Gradebook(f"sqlite:///{path}") as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from inside nbgrader.api
        for name, rs in sorted(by_assignment.items()):
            notebook = practicals.get(name).notebook[:-len(".ipynb")]
            gb.update_or_create_assignment(name)
            gb.update_or_create_notebook(notebook, name)
            cells = questions(rs)
            counted = counted_checks(rs)
            for q, max_points in cells.items():
                gb.update_or_create_grade_cell(cell_id(q), notebook, name, max_score=max_points, cell_type="code")
            for r in sorted(rs, key=lambda r: r.student):
                gb.update_or_create_student(r.student)
                gb.update_or_create_submission(name, r.student)
                earned = {q: 0.0 for q in cells}   # a submission with no check results scores 0, as elsewhere
                unrun = set()                       # questions with a counted check this submission skipped
                for c in r.checks:
                    earned[c.question] = earned.get(c.question, 0.0) + c.points
                    if c.status == "skipped" and (c.question, c.name) in counted:
                        unrun.add(c.question)
                for q, points in earned.items():
                    try:
                        grade = gb.find_grade(cell_id(q), notebook, name, r.student)
                    except MissingEntry:  # a submission made before this grade cell existed
                        grade = Grade(cell_id=gb.find_grade_cell(cell_id(q), notebook, name).id,
                                      notebook=gb.find_submission_notebook(notebook, name, r.student))
                        gb.db.add(grade)
                    grade.auto_score = points
                    grade.needs_manual_grade = grade.manual_score is not None or q in unrun
                gb.db.commit()
    return path
