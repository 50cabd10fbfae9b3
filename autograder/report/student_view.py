"""What a student may see of a result: a hidden check's or a grader cell's message made generic.

Student-facing reports (feedback, Gradescope, GitHub Classroom, the CSV's labels) render through these; the
console table and the gradebook are the instructor's and keep every message.
"""

from __future__ import annotations

import re
from pathlib import Path

from autograder.results import CheckResult, SubmissionResult

# What a student sees of a hidden check that did not pass: its name, question and points (in the export's own
# columns), and one of these lines, never the check's message. The message is about the grader's hidden inputs
# (its values, the student's outputs on them, an exception raised on them): any of it reveals those inputs.
HIDDEN_MESSAGES = {
    "failed": "failed on the grader's hidden inputs: check your answer on inputs of other sizes and values",
    "error": "could not be checked on the grader's hidden inputs (your code raised an error there, or the answer "
             "was missing): check your answer on inputs of other sizes and values",
    "skipped": "not run by this grader; it counts neither for nor against you",
}


def student_message(check: CheckResult) -> str:
    """The message a student may see: a public check's own message; for a hidden check, a generic line that
    names no input, value or output (``HIDDEN_MESSAGES``). Instructors' exports keep ``check.message``."""
    if check.status == "skipped":   # why it was skipped is for instructors (it names the grader's files)
        return HIDDEN_MESSAGES["skipped"]
    if not check.hidden:
        return check.message or ""
    if check.status == "passed":
        return ""
    return HIDDEN_MESSAGES.get(check.status, HIDDEN_MESSAGES["failed"])


# A note on an error in one of the grader's own cells (the snapshot/export cells that run the student's functions
# on the hidden inputs): "the grader's snapshot cell raised NAME: TEXT". NAME and TEXT come from the student's
# code, run on hidden inputs; students see only that the cell failed.
_GRADER_CELL_ERROR = re.compile(r"^(the grader's \w+ cell) raised\b.*", re.DOTALL)
# A file that code in the kernel wrote into the grader's export folder, named by that code ("'NAME' is not a
# plain artifact file and was ignored"): the name could carry what the code saw there.
_REJECTED_FILE = re.compile(r"^'.*' is (not a plain artifact file|larger than \S+ MB) and was ignored$", re.DOTALL)


def student_note(note: str) -> str:
    """A note as a student may see it (``student_message``'s counterpart for ``SubmissionResult.notes``)."""
    if m := _GRADER_CELL_ERROR.match(note):
        return f"{m.group(1)} was stopped by an exception from your code"
    if m := _REJECTED_FILE.match(note):
        return f"a file in the grader's export folder was ignored: {m.group(1)}"
    return note


def student_notes(result: SubmissionResult) -> list[str]:
    return [student_note(str(n)) for n in result.notes]


def label(result: SubmissionResult) -> str:
    """The assignment of a row; for a notebook of no known assignment, its file name."""
    return result.assignment or Path(result.submission).stem
