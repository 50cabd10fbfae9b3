"""Shared fixtures: graded answer keys and blanks (once per session); helpers are in helpers.py."""

from __future__ import annotations

import functools
import os

import pytest

from autograder import practicals
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
    return lambda name: _graded(str(practicals.get(name).solution_notebook(REPO)), keep_artifacts=str(root / name))


@pytest.fixture(scope="session")
def key_artifacts(graded_key, tmp_path_factory):
    """The folder of the answer key's exported files (the key is graded once, shared with ``graded_key``)."""
    def folder(name):
        graded_key(name)
        return tmp_path_factory.getbasetemp() / "key-artifacts" / name

    return folder


@pytest.fixture(scope="session")
def graded_blank():
    return lambda name: _graded(str(practicals.get(name).release_notebook(REPO)))
