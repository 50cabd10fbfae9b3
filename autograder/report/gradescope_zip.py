"""Gradescope: the autograder zip the kit builds, and what runs inside Gradescope's container.

``autograder gradescope build --assignment 02-graphs -o autograder.zip`` writes a zip with Gradescope's two
entry points at its root (``setup.sh``: install bubblewrap and the kit into a venv; ``run_autograder``: grade
``/autograder/submission`` and write ``/autograder/results/results.json``) and the kit's source under ``kit/``.
Upload it as the assignment's "Configure Autograder" zip (Ubuntu 22.04 image).

Gradescope runs the submission as root: without the sandbox (bubblewrap) the student's code could read the
secret, the hidden checks and rewrite results.json, so ``run`` refuses to grade unless the zip was built with
``allow_unsandboxed`` (recorded as ``allow_unsandboxed.txt``). ``AUTOGRADER_ROOT`` replaces ``/autograder``
everywhere (to try the zip in a temporary folder). Whatever happens, a results.json says why.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from autograder.paths import REPO

ROOT_ENV = "AUTOGRADER_ROOT"
OPT_IN = "allow_unsandboxed.txt"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
apt-get update
# bubblewrap: the sandbox of the student's kernel (run_autograder refuses to grade without it)
apt-get install -y python3 python3-venv python3-pip bubblewrap
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --upgrade pip
"$ROOT/venv/bin/pip" install "$ROOT/source/kit"
# Fashion-MNIST into Keras' cache (downloads it: the image build has network access).
"$ROOT/venv/bin/autograder" data || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it, write $ROOT/results/results.json.
set -uo pipefail
export AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
ROOT="$AUTOGRADER_ROOT"
cd "$ROOT/source"
if [ -f secret.txt ]; then export AUTOGRADER_SECRET="$(cat secret.txt)"; fi
ARGS=()
if [ -f assignment.txt ]; then ARGS+=(--assignment "$(cat assignment.txt)"); fi
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
ERR="$(mktemp)"
"$ROOT/venv/bin/autograder" gradescope run "$ROOT/submission" \\
    --results "$ROOT/results/results.json" \\
    --metadata "$ROOT/submission_metadata.json" "${ARGS[@]}" 2>"$ERR"
cat "$ERR" >&2   # Gradescope shows this output to instructors only
if [ ! -s "$ROOT/results/results.json" ]; then
    # the grader did not start or was refused its arguments: its last line of errors says why
    WHY="$(tail -n 1 "$ERR" | tr -d '\\000-\\037"\\\\')"
    printf '{"score": 0.0, "execution_time": %d, "output": "Not graded: the autograder failed before grading: %s",
 "visibility": "visible", "stdout_visibility": "hidden", "tests": []}\\n' "$SECONDS" "${WHY:-no message}" \\
        > "$ROOT/results/results.json"
fi
rm -f "$ERR"
"""

KIT_FILES = ("pyproject.toml", "README.md", "nbgrader_config.py", "LICENSE", "dl4img.py")


def gradescope_root() -> Path:
    """Gradescope's ``/autograder``, or ``$AUTOGRADER_ROOT``."""
    return Path(os.environ.get(ROOT_ENV) or "/autograder")


def _ignore(folder, names):
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info"))]


def build_zip(out: str | Path, assignment: str | None = None, secret: str | None = None,
              root: str | Path | None = None, allow_unsandboxed: bool = False) -> Path:
    """Write Gradescope's autograder zip for ``assignment`` (None: any practical, recognised per notebook).

    ``allow_unsandboxed``: grade even where bubblewrap cannot run (student code then runs as root, unconfined).
    """
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
        if allow_unsandboxed:
            (stage / OPT_IN).write_text("The instructor allowed grading without the sandbox (bubblewrap): student "
                                        "code may then run as root, unconfined.\n")
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


def run(submission: str | Path | None = None, results: str | Path | None = None, assignment: str | None = None,
        metadata: str | Path | None = None, timeout_s: float | None = None,
        allow_unsandboxed: bool | None = None):
    """Grade the notebook in a Gradescope submission folder and write ``results.json``; return the result.

    Paths default to Gradescope's layout under ``gradescope_root()``; ``allow_unsandboxed`` to the zip's record.
    Refused (no sandbox, unknown assignment) or failed gradings write a results.json that says why, scored 0.
    """
    from autograder.engine import sandbox
    from autograder.report.gradescope import not_graded, write_json, write_results_json
    from autograder.results import SubmissionResult

    t0 = time.monotonic()
    root = gradescope_root()
    submission = Path(submission or root / "submission")
    results = Path(results or root / "results" / "results.json")
    metadata = metadata or root / "submission_metadata.json"
    if allow_unsandboxed is None:
        allow_unsandboxed = (root / "source" / OPT_IN).is_file()
    student = student_of(metadata)
    refused = _refusal(assignment, sandbox.available(), allow_unsandboxed)
    if not refused:
        try:
            result = _grade(submission, assignment, student, timeout_s)
            write_results_json(result, results, execution_time=time.monotonic() - t0)
            return result
        except Exception as e:  # Gradescope must get a results.json whatever failed
            traceback.print_exc()   # for the instructor (Gradescope's stdout); the student sees the type only
            refused = f"the grader failed ({type(e).__name__}); the instructor's autograder output has the details"
    print(f"not graded: {refused}", file=sys.stderr)
    write_json(not_graded(refused, time.monotonic() - t0), results)
    return SubmissionResult(assignment=assignment or "", submission=str(submission), status="error",
                            student=student, reason=refused)


def _refusal(assignment: str | None, sandbox: tuple[bool, str], allow_unsandboxed: bool) -> str:
    """Why this submission must not be graded here ("" if it may)."""
    from autograder import practicals

    if assignment and assignment not in practicals.REGISTRY:
        return (f"this autograder was built for assignment '{assignment}', which its kit does not know "
                f"(known: {', '.join(practicals.REGISTRY)}); the instructor must rebuild it")
    ok, why = sandbox
    if not ok and not allow_unsandboxed:
        return (f"the sandbox is unavailable ({why}) and this autograder refuses to run student code unsandboxed; "
                "the instructor must install bubblewrap in setup.sh or rebuild the zip with --allow-unsandboxed")
    return ""


def _grade(submission: Path, assignment: str | None, student: str, timeout_s: float | None):
    from autograder import practicals
    from autograder.batch import find_notebooks, identify
    from autograder.grade import grade_notebook
    from autograder.results import SubmissionResult

    subs = [identify(p, student) for p in find_notebooks([submission])]
    if assignment:
        subs.sort(key=lambda s: (s.label != assignment, s.path.stem != assignment, str(s.path)))
    else:
        subs.sort(key=lambda s: (not s.known, str(s.path)))
    if not subs:
        return SubmissionResult(assignment=assignment or "", submission=str(submission), status="invalid",
                                student=student, reason="no .ipynb notebook was found in the submission")
    if assignment and subs[0].label != assignment:
        # the notebook was renamed and lost its metadata: grade it under the assignment's own name
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / assignment / practicals.get(assignment).notebook
            staged.parent.mkdir()
            shutil.copy(subs[0].path, staged)
            result = grade_notebook(staged, student=student, timeout_s=timeout_s)
            result.submission = str(subs[0].path)
    else:
        result = grade_notebook(subs[0].path, student=student, timeout_s=timeout_s)
    result.sha256 = subs[0].sha256
    return result
