"""Gradescope: the autograder zip the kit builds, and what runs inside Gradescope's container.

``autograder gradescope build --assignment 02-graphs -o autograder.zip`` writes a zip with Gradescope's two
entry points at its root (``setup.sh``: install the kit into a venv; ``run_autograder``: grade
``/autograder/submission`` and write ``/autograder/results/results.json``) and the kit's source under ``kit/``.
Upload it as the assignment's "Configure Autograder" zip (Ubuntu 22.04 image).
"""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from autograder.paths import REPO

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install /autograder/source/kit
# Fashion-MNIST into Keras' cache (downloads it: the image build has network access).
/autograder/venv/bin/autograder data || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it, write /autograder/results/results.json.
set -uo pipefail
cd /autograder/source
if [ -f secret.txt ]; then export AUTOGRADER_SECRET="$(cat secret.txt)"; fi
ARGS=()
if [ -f assignment.txt ]; then ARGS+=(--assignment "$(cat assignment.txt)"); fi
mkdir -p /autograder/results
/autograder/venv/bin/autograder gradescope run /autograder/submission \\
    --results /autograder/results/results.json \\
    --metadata /autograder/submission_metadata.json "${ARGS[@]}"
"""

KIT_FILES = ("pyproject.toml", "README.md", "nbgrader_config.py", "LICENSE")


def _ignore(folder, names):
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info"))]


def build_zip(out: str | Path, assignment: str | None = None, secret: str | None = None,
              root: str | Path | None = None) -> Path:
    """Write Gradescope's autograder zip for ``assignment`` (None: any practical, recognised per notebook)."""
    root = Path(root or REPO)
    out = Path(out).absolute()
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        kit = stage / "kit"
        shutil.copytree(root / "autograder", kit / "autograder", ignore=_ignore)
        for name in KIT_FILES:
            if (root / name).is_file():
                shutil.copy(root / name, kit / name)
        if not (kit / "README.md").exists():  # pyproject names a readme
            (kit / "README.md").write_text("dl4img autograder (packaged for Gradescope)\n")
        (stage / "setup.sh").write_text(SETUP_SH)
        (stage / "run_autograder").write_text(RUN_AUTOGRADER)
        if assignment:
            (stage / "assignment.txt").write_text(assignment + "\n")
        if secret:
            (stage / "secret.txt").write_text(secret + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(stage.rglob("*")):
                if p.is_file():
                    info = zipfile.ZipInfo(str(p.relative_to(stage)), date_time=(2024, 1, 1, 0, 0, 0))
                    mode = 0o755 if p.name in ("setup.sh", "run_autograder") else 0o644
                    info.external_attr = (stat.S_IFREG | mode) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, p.read_bytes())
    return out


def student_of(metadata: str | Path | None) -> str:
    """The submitter, from Gradescope's ``submission_metadata.json`` (``users[0]``: email, else name, else id)."""
    try:
        users = json.loads(Path(metadata).read_text()).get("users") or []
        u = users[0]
        return str(u.get("email") or u.get("name") or u.get("id") or "submission")
    except (OSError, ValueError, TypeError, AttributeError, IndexError, KeyError):
        return "submission"


def run(submission: str | Path, results: str | Path, assignment: str | None = None,
        metadata: str | Path | None = None, timeout_s: float | None = None):
    """Grade the notebook in a Gradescope submission folder and write ``results.json``; return the result."""
    from autograder import practicals
    from autograder.batch import find_notebooks, identify
    from autograder.report.gradescope import write_results_json
    from autograder.grade import grade_notebook
    from autograder.results import SubmissionResult

    student = student_of(metadata)
    notebooks = find_notebooks([submission])
    subs = [identify(p, student) for p in notebooks]
    if assignment:
        subs.sort(key=lambda s: (s.label != assignment, s.path.stem != assignment, str(s.path)))
    else:
        subs.sort(key=lambda s: (not s.known, str(s.path)))
    if not subs:
        result = SubmissionResult(assignment=assignment or "", submission=str(submission), status="invalid",
                                  student=student, reason="no .ipynb notebook was found in the submission")
    elif assignment and subs[0].label != assignment:
        # the notebook was renamed and lost its metadata: grade it under the assignment's own name
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / assignment / practicals.get(assignment).notebook
            staged.parent.mkdir()
            shutil.copy(subs[0].path, staged)
            result = grade_notebook(staged, student=student, timeout_s=timeout_s)
            result.submission = str(subs[0].path)
    else:
        result = grade_notebook(subs[0].path, student=student, timeout_s=timeout_s)
    if subs:
        result.sha256 = subs[0].sha256
    write_results_json(result, Path(results))
    return result
