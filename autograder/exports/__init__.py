"""Exports of a batch's results: ``grades.csv``, nbgrader's ``gradebook.db``, Gradescope ``results.json``,
per-student HTML feedback. Rendering only: ``SubmissionResult`` (autograder.results) is the one source.
"""

from __future__ import annotations

import re
from pathlib import Path

from autograder.results import CheckResult, SubmissionResult

HIDDEN_NOTE = "the expected value of a hidden check is not shown"


def student_message(check: CheckResult) -> str:
    """The message a student may see: a hidden check's expected values are cut out (its result stays)."""
    msg = check.message or ""
    if not check.hidden or not msg:
        return msg
    # every expect_* helper (checks/api.py) writes the reference after the word "expected"
    cut = re.split(r"[,;]?\s*\bexpected\b", msg, maxsplit=1, flags=re.IGNORECASE)
    if len(cut) == 2:
        return f"{cut[0].rstrip(' :,;')} ({HIDDEN_NOTE})"
    return msg


def label(result: SubmissionResult) -> str:
    """The assignment of a row; for a notebook of no known assignment, its file name."""
    return result.assignment or Path(result.submission).stem


def export_all(results: list[SubmissionResult], out: str | Path, gradebook: str | Path | None = None,
               feedback: bool = True) -> dict[str, Path]:
    """Write every export under ``out``; return {name: path}."""
    from autograder.exports import gradebook as gb, grades_csv, gradescope
    from autograder import feedback as fb

    out = Path(out)
    written = {"csv": grades_csv.write_csv(results, out / "grades.csv")}
    written["gradebook"] = gb.write_gradebook(results, Path(gradebook) if gradebook else out / "gradebook.db",
                                              fresh=gradebook is None)
    written["gradescope"] = gradescope.write_all(results, out / "gradescope")
    if feedback:
        written["feedback"] = fb.write_all(results, out / "feedback")
    return written
