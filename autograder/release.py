"""Release step: student versions through the real ``nbgrader generate_assignment``, and the answer key.

``release/<a>/`` is what students get (solutions replaced by stubs); ``solutions/<a>/`` is the answer key,
the source notebook without outputs. Both are generated from ``source/<a>/``; never edit them by hand.
``--lang fr`` writes ``release/fr/<a>/`` and ``solutions/fr/<a>/`` from the same source and the French catalog
(``autograder/i18n.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.models import fashion_base_path
from autograder.paths import REPO, course_dir

# The kit's files a notebook may use beside it: the students' helper module, and 05's pretrained network.
DL4IMG = REPO / "dl4img.py"
BASE_NETWORK = Path(fashion_base_path())


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
    ship_helpers(out / f"{name}.ipynb")
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
    ship_helpers(out / f"{name}.ipynb")
    return out


def ship_helpers(notebook: Path) -> None:
    """Copy beside ``notebook`` what it uses of the kit: dl4img.py where it imports dl4img, the pretrained network
    where it calls fashion_base_path(). Students then need no grader, only the packages they import."""
    code = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    for helper, used in ((DL4IMG, re.search(r"^\s*(from|import) dl4img\b", code, re.M)),
                         (BASE_NETWORK, "fashion_base_path(" in code)):
        if used:
            shutil.copy(helper, notebook.parent / helper.name)


def generate_translated(name: str, lang: str, root: str | Path | None = None) -> list[Path]:
    """``release/<lang>/<a>/`` and ``solutions/<lang>/<a>/``: the source translated from the catalog into a
    temporary course's ``source/``, released there by the same steps (real nbgrader), then copied here."""
    import tempfile

    from autograder import i18n

    root = course_dir(root)
    written = []
    with tempfile.TemporaryDirectory(prefix=f"ag-release-{lang}-") as tmp:
        course = Path(tmp)
        shutil.copytree(root / "source" / name, course / "source" / name)
        if (root / "nbgrader_config.py").exists():
            shutil.copy(root / "nbgrader_config.py", course)
        notebook = course / "source" / name / f"{name}.ipynb"
        nbformat.write(i18n.translate_notebook(nbformat.read(notebook, as_version=4), lang), notebook)
        for folder, generate in (("release", generate_release), ("solutions", generate_solution)):
            out = root / folder / lang / name
            if out.exists():
                shutil.rmtree(out)
            shutil.copytree(generate(name, course), out)
            written.append(out)
    return written


def release(names, root=None, lang: str = "en") -> list[Path]:
    """English (the source's language) into release/<a>/ and solutions/<a>/; another language into
    release/<lang>/<a>/ and solutions/<lang>/<a>/."""
    written = []
    for name in names:
        if lang == "en":
            written += [generate_release(name, root), generate_solution(name, root)]
        else:
            written += generate_translated(name, lang, root)
    return written
