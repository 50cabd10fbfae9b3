"""nbgrader's ``gradebook.db``, written through nbgrader's own API (``nbgrader.api.Gradebook``).

Each practical's grade cells are its questions, named as in the source notebook (``02.numpy`` -> ``02_numpy``)
with the sum of the question's check points as ``max_score``; a submission's ``auto_score`` per question is
the sum of the points of the checks it passed. ``nbgrader export`` and formgrader then show the kit's scores.
Notebooks of no known assignment are left out (they are in grades.csv with status ``invalid``).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import OrderedDict
from pathlib import Path

from autograder import practicals
from autograder.results import SubmissionResult


def cell_id(question: str) -> str:
    return question.replace(".", "_")


def questions(results: list[SubmissionResult]) -> "OrderedDict[str, float]":
    """Question -> max points, from the results of one assignment (every result lists every check)."""
    q: OrderedDict[str, float] = OrderedDict()
    seen = set()
    for r in results:
        for c in r.checks:
            if (c.question, c.name) not in seen:
                seen.add((c.question, c.name))
                q[c.question] = q.get(c.question, 0.0) + c.max_points
        if q:
            break
    return q


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
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{path}") as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from inside nbgrader.api
        for name, rs in sorted(by_assignment.items()):
            notebook = practicals.get(name).notebook[:-len(".ipynb")]
            gb.update_or_create_assignment(name)
            gb.update_or_create_notebook(notebook, name)
            for q, max_points in questions(sorted(rs, key=lambda r: r.status != "graded")).items():
                gb.update_or_create_grade_cell(cell_id(q), notebook, name, max_score=max_points, cell_type="code")
            for r in sorted(rs, key=lambda r: r.student):
                gb.update_or_create_student(r.student)
                gb.update_or_create_submission(name, r.student)
                earned: dict[str, float] = {}
                for c in r.checks:
                    earned[c.question] = earned.get(c.question, 0.0) + c.points
                for q, points in earned.items():
                    try:
                        grade = gb.find_grade(cell_id(q), notebook, name, r.student)
                    except MissingEntry:  # a submission made before this grade cell existed
                        grade = Grade(cell_id=gb.find_grade_cell(cell_id(q), notebook, name).id,
                                      notebook=gb.find_submission_notebook(notebook, name, r.student))
                        gb.db.add(grade)
                    grade.auto_score = points
                    grade.manual_score = None
                    grade.needs_manual_grade = False
                gb.db.commit()
    return path
