"""Where the course lives: the kit's own folder, or AUTOGRADER_COURSE. Datasets: autograder.datasets."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def course_dir(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("AUTOGRADER_COURSE", REPO)).resolve()
