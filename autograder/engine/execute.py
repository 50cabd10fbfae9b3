"""Execute step: run a submission in a started kernel, under limits, and gather each question's snapshot.

Never raises for a student's fault: a crash, a timeout, memory or disk over the limits are an ``Execution``
with a status and a reason.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

from autograder.engine.artifacts import gathered
from autograder.engine.assemble import build_run_notebook
from autograder.engine.kernels import Job, KernelPool, job_key, start_job
from autograder.engine.limits import DISK_MB, Watchdog, kill_tree, process_tree
from autograder.practicals import Practical

DEFAULT_SEED = 1234


@dataclass
class Execution:
    """What the execute step hands to the check step."""

    status: str                      # "ok", "timeout", "memory", "error"
    reason: str = ""
    snapshots: dict[str, Path] = field(default_factory=dict)   # question -> its exported files
    from_final: list[str] = field(default_factory=list)        # questions taken at the end (check cell did not run)
    cell_errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    executed: Path | None = None     # the executed notebook, for feedback
    notes: list[str] = field(default_factory=list)
    job: Path | None = None          # the job folder (the caller removes it)
    cpu_s: float = 0.0               # CPU time of the kernel's process tree
    wall_timeout: bool = False       # stopped by the wall-clock backstop (not by its CPU time)
    host_saturated: bool = False     # the load average reached the number of cores during the run
    warm: bool = False               # the kernel was started before the submission came
    steps: dict = field(default_factory=dict)   # seconds: kernel_start_s, preamble_s, cells_s, export_s


SAME = "same"   # execute(then=...): leave a kernel of the same assignment warm


def execute(nb, assignment: Practical, hidden: dict | None = None, *, seed: int = DEFAULT_SEED,
            device: str = "cpu", timeout_s: float | None = None, memory_mb: float | None = None,
            keep: Path | None = None, hide: list[Path] = (), isolate: bool = True,
            disk_mb: float = DISK_MB, pool: KernelPool | None = None, on_start=None,
            then: tuple | None | str = SAME) -> Execution:
    """Run the notebook ``nb`` (validated, normalised) for ``assignment``; never raises for student faults.

    ``hide``: folders the kernel must not see (the course, other submissions, the grader's outputs).
    ``pool``: take a warm kernel from it, and when done leave it a kernel for the next submission, so a batch
    never waits for kernel start-up and heavy imports. ``then``: that submission's (assignment, timeout_s) when
    the batch knows it, None when none is expected (no kernel is started for nothing); by default this one's.
    ``on_start``: called with the kernel's ``Job`` before it gets the submission (the re-trace pairs with it).
    """
    options = dict(seed=seed, device=device, hide=hide, keep=keep, isolate=isolate, timeout_s=timeout_s)
    job = pool.take(job_key(assignment, seed, device, hide, keep, isolate)) if pool is not None else None
    warm = job is not None
    job = job or start_job(assignment, **options)
    if on_start is not None:
        on_start(job)
    execution = run_job(job, nb, assignment, hidden, timeout_s=timeout_s or assignment.timeout_s,
                        memory_mb=memory_mb or assignment.memory_mb, disk_mb=disk_mb)
    execution.warm = warm
    if pool is not None and then == SAME:
        pool.put(start_job(assignment, **options))
    elif pool is not None and then is not None:
        pool.put(start_job(then[0], **{**options, "timeout_s": then[1]}))
    return execution


def run_job(job: Job, nb, assignment: Practical, hidden: dict | None, *, timeout_s: float, memory_mb: float,
            disk_mb: float) -> Execution:
    """Give the started kernel its submission, watch the limits, gather the questions' snapshots."""
    work = job.work
    nbformat.write(nb, work / assignment.notebook)
    settings = json.loads((job.folder / "job.json").read_text())
    run_nb = build_run_notebook(nb, assignment, work, hidden, settings["preamble"])
    nbformat.write(run_nb, job.folder / "run.ipynb")
    proc = job.proc
    watched = psutil.Process(proc.pid)
    # CPU time counts from the end of the preamble: the kernel's start-up is not the submission's time
    dog = Watchdog(timeout_s, memory_mb, disk_mb, folders=(work, job.folder / "runtime"),
                   ready=job.folder / "ready", on_gpu=job.key[2] != "cpu")
    (job.folder / "go.tmp").write_text("go")
    (job.folder / "go.tmp").replace(job.folder / "go")
    start = time.monotonic()
    status, reason = dog.watch(proc)
    kill_tree([p for p in process_tree(watched)][1:])  # stray children of the kernel
    job.release_user()
    wall = time.monotonic() - start

    outcome = {}
    try:
        outcome = json.loads((job.folder / "outcome.json").read_text())
    except (OSError, ValueError):
        pass
    if status == "ok" and outcome.get("error"):
        status, reason = "error", outcome["error"]
    elif status == "ok" and proc.returncode != 0:
        status, reason = "error", f"the execution worker exited with code {proc.returncode}"
    executed = job.folder / "executed.ipynb"
    snapshots, from_final, notes = gathered(job.folder, run_nb.cells[-1].metadata["ag_questions"])
    if not job.sandboxed:
        notes.insert(0, f"not sandboxed: {job.why}")
    return Execution(
        status=status, reason=reason, snapshots=snapshots, from_final=from_final,
        cpu_s=round(dog.cpu.total, 2), wall_timeout=status == "timeout" and "wall clock" in reason,
        host_saturated=dog.load >= (os.cpu_count() or 1),
        cell_errors=outcome.get("cell_errors", []), steps=outcome.get("times", {}),
        wall_s=round(wall, 2), peak_rss_mb=round(dog.peak, 1),
        executed=executed if executed.is_file() else None,
        notes=notes, job=job.folder,
    )

