"""Report step: render SubmissionResults as a console table and JSON files (rendering only, no grading)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from autograder.results import SubmissionResult
from autograder.textsafe import printable

__all__ = ["MARK", "printable", "result_filename", "table", "write_json"]

MARK = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "-"}


def result_filename(result: SubmissionResult) -> str:
    """``<student>__<assignment>.json``; without a student name, the submission's path stands in."""
    sub = Path(result.submission)
    stem = result.student or "_".join(sub.parts[-3:-1]) or "submission"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{stem}__{result.assignment or sub.stem}") + ".json"


def write_json(result: SubmissionResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / result_filename(result)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2))
    tmp.replace(path)  # atomic: a killed run never leaves half a result
    return path


def table(results: list[SubmissionResult], details: bool = True) -> str:
    """The console table. Every string that a submission can influence goes through ``printable``: no escape
    sequence reaches the terminal and no message spans two lines. Hidden checks keep their full message here
    (the instructor's view); student-facing exports show ``exports.student_message`` instead."""
    p = printable
    lines = []
    for r in results:
        head = f"{p(r.assignment or '?'):<14} {p(r.student or '?')}  {p(r.submission)}"
        lines.append(f"{head}  [{p(r.status)}]  {r.score:g} / {r.max_score:g}")
        if r.reason:
            lines.append(f"    reason: {p(r.reason)}")
        if details:
            for c in r.checks:
                tag = " (hidden)" if c.hidden else ""
                msg = f"  {p(c.message)}" if c.message and c.status != "passed" else ""
                lines.append(f"    {MARK.get(c.status, '?')} {p(c.question):<18} {p(c.name):<28} "
                             f"{c.points:g}/{c.max_points:g}{tag}{msg}")
            for note in r.notes:
                lines.append(f"    note: {p(note)}")
    lines.append("")
    width = max([len("student"), *(len(p(r.student or "?")) for r in results)])
    lines.append(f"{'assignment':<14} {'student':<{width}} {'status':<8} {'score':>12}  submission")
    for r in results:
        lines.append(f"{p(r.assignment or '?'):<14} {p(r.student or '?'):<{width}} {p(r.status):<8} "
                     f"{f'{r.score:g}/{r.max_score:g}':>12}  {p(r.submission)}")
    return "\n".join(lines)
