"""Gradescope's ``results.json`` (the autograder specification's format).

``{"score", "execution_time", "output", "visibility", "stdout_visibility", "tests": [{"name", "number", "score",
"max_score", "status", "output", "visibility"}]}``: one test per check, named ``<question>: <check>``; ``status`` is
``passed``/``failed``. Hidden checks are listed with their name, points and result and a generic line
(``student_view.student_message``), never their message, which is about the hidden inputs (``HIDDEN_VISIBILITY`` can
hold them back until grades are published); notes pass through ``student_view.student_note``. A submission that was not graded
(timeout, memory, error, invalid) says why in ``output`` and scores 0; so does one the autograder refused or failed
to grade (``not_graded``).
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.report.store import safe
from autograder.report.student_view import label, student_message, student_notes
from autograder.results import SubmissionResult

VISIBILITY = "visible"
HIDDEN_VISIBILITY = "visible"      # or "after_published": Gradescope's own way to hold results back

STATUS_TEXT = {
    "graded": "Graded.",
    "timeout": "The notebook ran past its time limit and was stopped; the checks could not run.",
    "memory": "The notebook used more memory than allowed and was stopped; the checks could not run.",
    "error": "The notebook could not be run to the end (its kernel died or the grader failed).",
    "invalid": "The file is not a notebook of a known assignment.",
}


def results_json(result: SubmissionResult, hidden_visibility: str = HIDDEN_VISIBILITY,
                 execution_time: float | None = None) -> dict:
    """``execution_time``: seconds (default: the grading time the result recorded)."""
    tests = []
    for c in result.checks:
        tests.append({
            "name": f"{c.question}: {c.name}",
            "number": c.question,
            "score": float(c.points),
            "max_score": 0.0 if c.status == "skipped" else float(c.max_points),  # counts neither way
            "status": "passed" if c.status in ("passed", "skipped") else "failed",
            "output": student_message(c) if c.status != "passed" else "",
            "visibility": hidden_visibility if c.hidden else VISIBILITY,
        })
    output = f"{label(result)}: {result.score:g} / {result.max_score:g}. {STATUS_TEXT.get(result.status, '')}"
    if result.reason:
        output += f"\nReason: {result.reason}"
    for note in student_notes(result):
        output += f"\nNote: {note}"
    if execution_time is None:
        execution_time = result.timings.get("total_s", 0.0)
    return {"score": float(result.score), "execution_time": round(float(execution_time), 2), "output": output,
            "visibility": VISIBILITY, "stdout_visibility": "hidden", "tests": tests}


def not_graded(reason: str, execution_time: float = 0.0) -> dict:
    """results.json of a submission the autograder refused or failed to grade: score 0 and why."""
    return {"score": 0.0, "execution_time": round(float(execution_time), 2), "output": f"Not graded: {reason}",
            "visibility": VISIBILITY, "stdout_visibility": "hidden", "tests": []}


def write_json(doc: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def write_results_json(result: SubmissionResult, path: Path, execution_time: float | None = None) -> Path:
    return write_json(results_json(result, execution_time=execution_time), path)


def write_all(results: list[SubmissionResult], folder: Path) -> Path:
    """``<folder>/<student>/<assignment>/results.json`` for every result."""
    for r in results:
        write_results_json(r, Path(folder) / safe(r.student or "_") / safe(label(r)) / "results.json")
    return Path(folder)
