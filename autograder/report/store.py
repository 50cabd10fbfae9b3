"""The result store: one JSON file per submission, written atomically; every report reads from here.

``<out>/results/<student>__<assignment>.json`` for a batch; ``write_named`` for a folder of loose results
(``autograder main``). Atomic even with two writers: a unique temporary file, fsync, then ``os.replace``, so
a killed run never leaves half a result.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from autograder.results import SubmissionResult

RESULTS = "results"   # <out>/results/<key>.json


def safe(name: str) -> str:
    """A file-name-safe form of a student's or an assignment's name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "_"


def result_path(out: Path, sub) -> Path:
    """Where a batch keeps the result of ``sub`` (anything with a ``key``: a batch.Submission)."""
    return Path(out) / RESULTS / f"{sub.key}.json"


def write_result(result: SubmissionResult, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(result.to_dict(), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_result(path: Path) -> SubmissionResult | None:
    try:
        return SubmissionResult.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_results(out: Path) -> list[SubmissionResult]:
    """Every result recorded under ``out`` (sorted by student, then assignment)."""
    results = [r for p in sorted((Path(out) / RESULTS).glob("*.json")) if (r := read_result(p)) is not None]
    return sorted(results, key=lambda r: (r.student, r.assignment, r.submission))


def result_filename(result: SubmissionResult) -> str:
    """``<student>__<assignment>.json``; without a student name, the submission's path stands in."""
    sub = Path(result.submission)
    stem = result.student or "_".join(sub.parts[-3:-1]) or "submission"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{stem}__{result.assignment or sub.stem}") + ".json"


def write_named(result: SubmissionResult, folder: Path) -> Path:
    """Write ``result`` into ``folder`` under its ``result_filename``; return the path."""
    return write_result(result, Path(folder) / result_filename(result))
