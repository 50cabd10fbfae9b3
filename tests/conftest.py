"""Shared fixtures: grade notebooks with the real engine, and make wrong submissions from an answer key."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import nbformat
import pytest

from autograder import assignments
from autograder.grade import grade_notebook
from autograder.paths import REPO

# The kit's tests grade with an explicit test secret (a course makes its own at `autograder release`).
TEST_SECRET = "kit-tests-secret"
os.environ["AUTOGRADER_SECRET"] = TEST_SECRET


@functools.lru_cache(maxsize=None)
def _graded(path: str, **kw):
    return grade_notebook(path, **kw)


@pytest.fixture(scope="session")
def graded_key(tmp_path_factory):
    """Grade an assignment's answer key once per test session (returns a SubmissionResult).

    Its exported files are kept in ``key_artifacts(name)``, for tests that re-check edited copies of them.
    """
    root = tmp_path_factory.getbasetemp() / "key-artifacts"
    return lambda name: _graded(str(assignments.get(name).solution_notebook(REPO)), keep_artifacts=str(root / name))


@pytest.fixture(scope="session")
def key_artifacts(graded_key, tmp_path_factory):
    """The folder of the answer key's exported files (the key is graded once, shared with ``graded_key``)."""
    def folder(name):
        graded_key(name)
        return tmp_path_factory.getbasetemp() / "key-artifacts" / name

    return folder


@pytest.fixture(scope="session")
def graded_blank():
    return lambda name: _graded(str(assignments.get(name).release_notebook(REPO)))


def mutate(source: Path, dest_dir: Path, edits: list[tuple[str, str]], name: str | None = None) -> Path:
    """Copy the notebook ``source`` into ``dest_dir`` with each ``(old, new)`` edit applied to its code.

    Every ``old`` must occur exactly once in the notebook, so a test breaks loudly when the notebook changes.
    """
    nb = nbformat.read(source, as_version=4)
    for old, new in edits:
        hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        count = sum(c.source.count(old) for c in hits)
        assert count == 1, f"{old!r} occurs {count} times in {source.name}, expected once"
        hits[0].source = hits[0].source.replace(old, new)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / (name or source.name)
    nbformat.write(nb, out)
    return out


def assert_caught(key: Path, tmp_path: Path, edits, expected: set[str]):
    """Grade a wrong submission made from ``key``: exactly the ``expected`` checks lose their points."""
    result = grade_notebook(mutate(key, tmp_path, edits))
    assert result.status == "graded", result.reason
    assert not_passed(result) == expected, {c.name: c.message for c in result.checks if c.status != "passed"}
    assert 0 < result.score < result.max_score
    return result


def outcome(result) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


def not_passed(result) -> set[str]:
    return {c.name for c in result.checks if c.status != "passed"}
