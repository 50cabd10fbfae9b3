"""Report step: the console table, ``grades.csv``, nbgrader's ``gradebook.db``, Gradescope, GitHub Classroom and
per-student HTML feedback, all rendered from the result store (``store``: one JSON ``SubmissionResult`` per
submission). Rendering only: nothing here grades.
"""

from __future__ import annotations

from pathlib import Path

from autograder.results import SubmissionResult


def export_all(results: list[SubmissionResult], out: str | Path, gradebook: str | Path | None = None,
               feedback: bool = True) -> dict[str, Path]:
    """Write every export under ``out``; return {name: path}."""
    from autograder.report import feedback as fb, gradebook as gb, grades_csv, gradescope

    out = Path(out)
    written = {"csv": grades_csv.write_csv(results, out / "grades.csv")}
    written["gradebook"] = gb.write_gradebook(results, Path(gradebook) if gradebook else out / "gradebook.db",
                                              fresh=gradebook is None)
    written["gradescope"] = gradescope.write_all(results, out / "gradescope")
    if feedback:
        written["feedback"] = fb.write_all(results, out / "feedback")
    return written
