"""Release step: student versions through the real ``nbgrader generate_assignment``, and the answer key.

``release/<a>/`` is what students get (solutions replaced by stubs); ``solutions/<a>/`` is the answer key,
the source notebook without outputs. Both are generated from ``source/<a>/``; never edit them by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.paths import course_dir


class ReleaseError(RuntimeError):
    pass


def _nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader calls alembic
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          capture_output=True, text=True)


def generate_release(name: str, root: str | Path | None = None) -> Path:
    root = course_dir(root)
    proc = _nbgrader(root, "generate_assignment", name, "--force", "--no-db")
    out = root / "release" / name
    if proc.returncode != 0 or not (out / f"{name}.ipynb").is_file():
        raise ReleaseError(f"nbgrader generate_assignment {name} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return out


def generate_solution(name: str, root: str | Path | None = None) -> Path:
    """The answer key: the instructor notebook with outputs and execution counts cleared."""
    root = course_dir(root)
    nb = nbformat.read(root / "source" / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    out = root / "solutions" / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    nbformat.write(nb, out / f"{name}.ipynb")
    return out


def release(names, root=None) -> list[Path]:
    written = []
    for name in names:
        written += [generate_release(name, root), generate_solution(name, root)]
    return written
