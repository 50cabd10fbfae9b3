"""``grades.csv``: one row per student and assignment.

Columns: ``student, assignment, status, score, max_score``, then one column per check named
``<question>/<check>`` holding the points it earned (empty where the check belongs to another assignment),
then ``reason`` (why a submission was not graded). Rows are sorted by student and assignment; numbers are
written with Python's ``:g`` format. Columns of checks follow the assignments' order, then the checks' order.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.report.student_view import label
from autograder.results import SubmissionResult

FIXED = ["student", "assignment", "status", "score", "max_score"]


def check_columns(results: list[SubmissionResult]) -> list[str]:
    columns: list[str] = []
    for r in sorted(results, key=lambda r: (label(r), r.status != "graded")):
        for c in r.checks:
            col = f"{c.question}/{c.name}"
            if col not in columns:
                columns.append(col)
    return columns


def render_csv(results: list[SubmissionResult]) -> str:
    columns = check_columns(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIXED + columns + ["reason"])
    for r in sorted(results, key=lambda r: (r.student, label(r))):
        points = {f"{c.question}/{c.name}": f"{c.points:g}" for c in r.checks}
        w.writerow([r.student, label(r), r.status, f"{r.score:g}", f"{r.max_score:g}"]
                   + [points.get(col, "") for col in columns] + [r.reason])
    return buf.getvalue()


def write_csv(results: list[SubmissionResult], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_csv(results), encoding="utf-8")
    tmp.replace(path)
    return path
