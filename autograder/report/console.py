"""The console table of a batch or of ``autograder main`` (the instructor's view: every message kept)."""

from __future__ import annotations

from autograder.results import SubmissionResult
from autograder.textsafe import printable

__all__ = ["MARK", "printable", "table"]

MARK = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "-"}


def table(results: list[SubmissionResult], details: bool = True) -> str:
    """The console table. Every string that a submission can influence goes through ``printable``: no escape
    sequence reaches the terminal and no message spans two lines. Hidden checks keep their full message here
    (the instructor's view); student-facing exports show ``student_view.student_message`` instead."""
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
