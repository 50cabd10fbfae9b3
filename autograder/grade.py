"""Grade one submission: validate -> execute -> check -> SubmissionResult. Never raises for a bad submission."""

from __future__ import annotations

import hashlib
import importlib
import os
import platform
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

import nbformat
import numpy as np

from autograder import hygiene, i18n, practicals
from autograder.engine import retrace, sandbox
from autograder.engine.check_worker import CheckStepFailed
from autograder.engine.check_runner import list_checks
from autograder.engine.execute import DEFAULT_SEED, SAME, execute
from autograder.engine.kernels import KERNEL_FLAGS, THREAD_VARS, KernelPool
from autograder.paths import course_dir
from autograder.results import CheckResult, SubmissionResult
from autograder.secret import course_secret

LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "nbclient", "nbgrader")


def environment(device: str) -> dict:
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return {"device": device, "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "versions": versions,
            "flags": {**KERNEL_FLAGS, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
                      **{k: os.environ[k] for k in THREAD_VARS if k in os.environ}}}


def hidden_inputs(assignment: practicals.Practical, student: str = "") -> dict | None:
    """The grader's hidden inputs, drawn from the course secret and the student: each student of a course gets
    their own (so hidden values one student saw are worth nothing to another), the same at every re-grade."""
    module = importlib.import_module(assignment.checks_module)
    make = getattr(module, "make_hidden", None)
    if make is None:
        return None
    secret = course_secret()
    key = f"{secret}:{assignment.name}" + (f":{student}" if student else "")
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return make(np.random.default_rng(seed))


def hidden_from_kernel(submission: Path) -> list[Path]:
    """Folders the student's kernel must not see: the course, the grader's working folder, other submissions."""
    sub = Path(submission).resolve()
    return [course_dir(), Path.cwd(), *sub.parents[:3]] if len(sub.parents) > 3 else [course_dir(), Path.cwd()]


def load_submission(path: Path, root=None):
    """Read, validate and normalise the notebook against its release.

    Returns (notebook to run, assignment, notes) or raises ValueError with the reason it cannot be graded.
    """
    path = Path(path)
    size_mb = path.stat().st_size / 2**20 if path.is_file() else 0
    if size_mb > hygiene.MAX_NOTEBOOK_MB:
        raise ValueError(f"the notebook is {size_mb:.0f} MB, more than {hygiene.MAX_NOTEBOOK_MB} MB "
                         "(clear large outputs or attachments and resubmit)")
    hygiene.check_bounds(path)  # a cheap count before nbformat's slow validation
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:
        raise ValueError(f"not a valid notebook: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    try:
        assignment = practicals.recognise(path, nb)
    except practicals.UnknownAssignment as e:
        raise ValueError(str(e)) from None
    meta = nb.metadata.get("autograder", {})
    claimed = meta.get("assignment") if isinstance(meta, dict) else None
    if claimed in practicals.REGISTRY and claimed != assignment.name:
        raise ValueError(f"this is a notebook of {claimed}, submitted as {assignment.name}")
    release_path = assignment.release_notebook(root)
    if not release_path.is_file():
        return nb, assignment, []
    # a translated notebook is compared with the release in its language (the same cells, translated text)
    lang = i18n.notebook_language(nb)
    release = i18n.translate_notebook(nbformat.read(release_path, as_version=4), lang)
    share = hygiene.overlap(nb, release)
    if share < 0.5:
        for other in practicals.REGISTRY.values():
            p = other.release_notebook(root)
            if other is not assignment and p.is_file() and hygiene.overlap(
                    nb, i18n.translate_notebook(nbformat.read(p, as_version=4), lang)) >= 0.5:
                raise ValueError(f"this is a notebook of {other.name}, submitted as {assignment.name}")
    fixed, notes = hygiene.normalise(nb, release)
    return fixed, assignment, notes


def resolve_device(device: str) -> str:
    """``auto`` means the GPU when an NVIDIA driver answers, else the CPU."""
    if device != "auto":
        return device
    smi = shutil.which("nvidia-smi")
    if smi and subprocess.run([smi, "-L"], capture_output=True).returncode == 0:
        return "gpu"
    return "cpu"


_checker = None       # the warm check-step worker of this grading process (autograder.engine.check_worker)
_expected: dict = {}  # checks module -> the grader's own list of its checks


def check_worker():
    global _checker
    if _checker is None:
        import atexit

        from autograder.engine.check_worker import CheckWorker

        _checker = CheckWorker()
        atexit.register(_checker.close)
    return _checker


def expected_checks(module: str):
    if module not in _expected:
        _expected[module] = list_checks(module)
    return _expected[module]


def grade_notebook(path: str | Path, *, device: str = "cpu", seed: int = DEFAULT_SEED, student: str = "",
                   timeout_s: float | None = None, memory_mb: float | None = None,
                   keep_jobs: bool = False, keep_artifacts: str | Path | None = None,
                   pool: KernelPool | None = None, then=SAME) -> SubmissionResult:
    """Grade one notebook. ``keep_artifacts``: copy the exported files there (tests re-check them offline).

    ``pool``: warm kernels (batches): take one if it matches, and leave one for the next submission
    (``then``: which, as for ``engine.execute.execute``).
    """
    path = Path(path)
    t0 = time.monotonic()
    device = resolve_device(device)
    env = dict(environment(device), seed=seed)
    try:
        nb, assignment, hygiene_notes = load_submission(path)
    except ValueError as e:
        return SubmissionResult(assignment="", submission=str(path), student=student, status="invalid",
                                reason=str(e), environment=env)
    env["flags"]["op_determinism"] = assignment.tensorflow   # the preamble enables it where TensorFlow is used
    if assignment.tensorflow:   # and turns off tf.data's autotuning (engine.in_kernel.turn_off_tf_data_autotune)
        env["flags"]["tf_data_autotune"] = False
    hidden = hidden_inputs(assignment, student)
    check_worker().start()  # warms up (imports TensorFlow and the checks) while the notebook runs
    # graph structure is re-traced from the submitted cells in a clean sandboxed process, beside the kernel
    retracer = retrace.Retracer(assignment, nb, sandboxed=sandbox.available()[0])
    options = dict(seed=seed, device=device, timeout_s=timeout_s, memory_mb=memory_mb, hide=hidden_from_kernel(path))
    prepare_s = time.monotonic() - t0
    run = execute(nb, assignment, hidden, pool=pool, on_start=retracer.start, then=then, **options)
    first = None
    if run.wall_timeout and run.host_saturated:  # the host, not the notebook, was slow: once more
        first = run
        if run.job is not None and not keep_jobs:
            shutil.rmtree(run.job, ignore_errors=True)
        run = execute(nb, assignment, hidden, pool=pool, on_start=retracer.start, then=then, **options)
    result = SubmissionResult(assignment=assignment.name, submission=str(path), student=student,
                              status="graded", environment=env, notes=hygiene_notes + run.notes + run.cell_errors)
    if run.status != "ok":
        result.status = run.status
        result.reason = run.reason
        if run.snapshots:
            result.reason += (f"; questions graded from their check cells, before it stopped: "
                              f"{', '.join(q for q in run.snapshots if q not in run.from_final)}")
    elif not run.snapshots:
        result.status, result.reason = "error", "the notebook did not reach the export step"
    t_retrace = time.monotonic()
    if run.snapshots:
        result.notes += retracer.apply(run.snapshots)
    t1 = time.monotonic()
    stopped = (run.reason if run.status != "ok" else "the notebook did not reach the export step")
    expected = expected_checks(assignment.checks_module)
    try:
        result.checks, result.measurements = check_worker().run(
            assignment.checks_module, run.snapshots, hidden,
            f"not graded: {stopped} before this question's check cell ran", expected,
            language=i18n.notebook_language(nb))
    except CheckStepFailed as e:
        result.status, result.reason = e.status, e.reason
        result.checks = [CheckResult(**{**c.__dict__, "status": "error", "message": e.reason}) for c in expected]
    result.timings["checks_s"] = round(time.monotonic() - t1, 2)
    result.timings.update(execute_s=run.wall_s, cpu_s=run.cpu_s, total_s=round(time.monotonic() - t0, 2),
                          warm_kernel=run.warm, prepare_s=round(prepare_s, 2),
                          retrace_wait_s=round(t1 - t_retrace, 2), **retracer.how, **run.steps)
    if first is not None:
        result.timings.update(first_execute_s=first.wall_s, first_cpu_s=first.cpu_s)
        result.notes.append(f"the first run hit the wall-clock limit after {first.wall_s:.0f} s ({first.cpu_s:.0f} s "
                            "of CPU time) while the grading host was saturated; it was run once more")
    result.environment["peak_rss_mb"] = run.peak_rss_mb
    if keep_artifacts is not None:  # one flat folder: every question's files
        for folder in dict.fromkeys(run.snapshots.values()):
            shutil.copytree(folder, keep_artifacts, dirs_exist_ok=True)
    if not keep_jobs and run.job is not None:
        shutil.rmtree(run.job, ignore_errors=True)
    return result
