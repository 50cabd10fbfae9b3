"""The course secret: it seeds the hidden inputs, so students who have the kit cannot compute them.

Each course makes its own at its first ``autograder release`` (or ``autograder main``), in
``<course>/.autograder-secret``: outside ``release/``, ignored by git, never bound into a student's kernel.
``AUTOGRADER_SECRET`` (e.g. a CI secret) overrides the file. There is no public default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from autograder.paths import course_dir

ENV = "AUTOGRADER_SECRET"
FILE = ".autograder-secret"


class MissingSecret(RuntimeError):
    pass


def secret_path(root=None) -> Path:
    return course_dir(root) / FILE


def ensure(root=None) -> Path:
    """Create the course's secret file if it has none (mode 0600); return its path."""
    path = secret_path(root)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    return path


def course_secret(root=None) -> str:
    """The secret from ``AUTOGRADER_SECRET``, else the course's file; raises MissingSecret with what to do."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return value
    path = secret_path(root)
    try:
        value = path.read_text().strip()
    except OSError:
        value = ""
    if not value:
        raise MissingSecret(
            f"no course secret: {path} is missing and {ENV} is not set. Run `autograder release` once on the "
            f"course (it creates the file; keep it private and out of git), or set {ENV} (in CI: a repository "
            "secret); every grader of the course must use the same secret")
    return value
