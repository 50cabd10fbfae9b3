"""Kernels: start one in a job folder (sandboxed, preamble run) before its submission is known; keep warm ones
in a ``KernelPool``; the worker process that drives a kernel with nbclient (``python -m autograder.engine.kernels``).

The grader starts a worker process per job; the kernel is the worker's child. The worker runs the preamble,
waits for the submission (``go``), runs its cells and moves each snapshot out of the kernel's reach.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil

from autograder import datasets
from autograder.engine import sandbox, zygote
from autograder.engine.artifacts import FINAL, SNAPSHOTS, take_snapshot
from autograder.engine.assemble import KERNEL_NAME, ONLY_PLACEHOLDER, preamble_source
from autograder.engine.limits import (MALLOC_FLAGS, TWIN_PIDS, CpuClock, forked_twins, kill_tree, process_tree,
                                     wall_backstop)
from autograder.practicals import Practical

# Numerics flags of every kernel (results report them as they are here).
KERNEL_FLAGS = {"PYTHONHASHSEED": "0", "TF_ENABLE_ONEDNN_OPTS": "0"}   # oneDNN off: also silences TF's start-up
# TensorFlow's thread pools, passed on from the grader: a batch gives each of its workers' kernels a share of
# the cores (batch._init_worker), since two trainings of two threads each on two cores wait on each other
THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def kernel_env(job: Path, work: Path, device: str) -> dict:
    """A scrubbed environment: nothing from the grader's environment but what the kernel needs."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "KERAS_HOME": str(work / ".keras"),
        "MPLBACKEND": "Agg",
        **KERNEL_FLAGS,
        **MALLOC_FLAGS,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "JUPYTER_PATH": str(job / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(job / "runtime"),
        "JUPYTER_CONFIG_DIR": str(job / "jupyter-config"),
        "IPYTHONDIR": str(work / ".ipython"),
        "MPLCONFIGDIR": str(work / ".matplotlib"),
    }
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    for key in ("PYTHONPATH", "KERAS_BACKEND", *THREAD_VARS):  # the kit itself may be on PYTHONPATH
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def factory_env(device: str) -> dict:
    """The kernel factory's environment (engine/zygote.py): a kernel's, its home in a folder kernels do not see
    (TensorFlow's import makes a Keras folder there)."""
    return kernel_env(zygote.DATA, zygote.DATA, device)


KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
TWIN_ARGV = [sys.executable, "-m", "autograder.engine.twin", "-f", "{connection_file}"]   # engine/twin.py
TWIN_WAIT_S = 60   # at most this long after the last cell for the twin's re-trace (else a fresh process does it)


def write_kernelspec(job: Path, argv: list[str]) -> None:
    spec = job / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "Python 3 (autograder)", "language": "python",
        "interrupt_mode": "message",   # over the control channel: a signal would stop at the sandbox's launcher
    }))


@dataclass
class Job:
    """A kernel started (and its preamble run) before the submission it will run is known."""

    key: tuple
    folder: Path
    work: Path
    proc: subprocess.Popen
    sandboxed: bool
    why: str
    user: object = None   # sandbox.KernelUser: the kernel's own user id, held until the kernel is gone
    twin: bool = False    # the kernel forked a twin for the clean re-trace (engine/twin.py)

    def discard(self) -> None:
        kill_tree(process_tree(psutil.Process(self.proc.pid)) if self.proc.poll() is None else [])
        self.release_user()
        shutil.rmtree(self.folder, ignore_errors=True)

    def release_user(self) -> None:
        if self.user is not None:
            self.user.release()
            self.user = None


def job_key(assignment: Practical, seed: int, device: str, hide, keep: Path | None, isolate: bool) -> tuple:
    """What a warm kernel must match to take a submission: the same preamble, folders hidden, sandbox."""
    return assignment.name, seed, device, sandbox.outermost(hide), keep, isolate


def start_job(assignment: Practical, *, seed: int, device: str = "cpu", hide=(),
              keep: Path | None = None, isolate: bool = True, timeout_s: float | None = None) -> Job:
    """Start a kernel for ``assignment`` in a fresh job folder and run the preamble (imports, seeds)."""
    key = job_key(assignment, seed, device, hide, keep, isolate)
    job = Path(tempfile.mkdtemp(prefix="ag-job-", dir=keep))
    (job / "owner.pid").write_text(str(os.getpid()))  # batch.clean_stale_jobs removes it once this process is gone
    work, runtime = job / "work", job / "runtime"
    for folder in (work, runtime, work / ".ipython", work / ".matplotlib"):
        folder.mkdir()
    sandboxed, why = sandbox.available() if isolate else (False, "sandbox not requested")
    data_binds = {}
    for name in assignment.datasets:  # read-only binds in the sandbox, symlinks outside it
        datasets.get(name).provide(work / ".keras", binds=data_binds if sandboxed else None)
    user = None
    # a practical with a clean re-trace: the kernel forks it a twin after importing TensorFlow (root graders,
    # which give the kernel a user id of its own; elsewhere the re-trace runs in a fresh process)
    twin = sandboxed and os.geteuid() == 0 and (assignment.folder / "retrace.py").is_file()
    if sandboxed:
        limit = int((timeout_s or assignment.timeout_s) * 4) + 60
        user = sandbox.claim_user()
        if twin:
            for name in ("twin-in", "twin-out"):
                os.mkfifo(job / name, 0o600)
        limits = sandbox.Limits(cpu_s=limit, uid=user.uid, twin=str(job) if twin else "")
        argv = sandbox.kernel_command(TWIN_ARGV if twin else KERNEL_ARGV, work=work, runtime=runtime,
                                      hide=list(hide), data_binds=data_binds, device=device, limits=limits)
        sandbox.prepare(job, work, runtime, uid=user.uid)
        # forked from the kernel factory when there is one (no TensorFlow import per kernel); this command if not
        factory = zygote.get(job.parent, hide, device, factory_env(device))
        if factory is not None:
            argv = zygote.request(job, zygote=factory, work=work, runtime=runtime, data_binds=data_binds,
                                  limits=limits, twin=twin, fallback=argv) or argv
    else:
        if isolate:
            sandbox.warn_unavailable(why)
        argv = KERNEL_ARGV
    write_kernelspec(job, argv)
    # a longer --timeout (a slower machine) gives each cell as much more; a limit per cell no lower than the
    # notebook's would only race it (the notebook's is the one that applies)
    total = timeout_s or assignment.timeout_s
    cell_cpu_s = assignment.cell_cpu_s * max(1.0, total / assignment.timeout_s)
    cell_cpu_s = cell_cpu_s if cell_cpu_s < total else None
    (job / "job.json").write_text(json.dumps({"ipc": sandboxed, "preamble": preamble_source(assignment, seed, device),
                                              "cell_cpu_s": cell_cpu_s}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder.engine.kernels", str(job)],
        cwd=work, env=kernel_env(job, work, device), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(job / "worker.log", "wb"),
    )
    return Job(key, job, work, proc, sandboxed, why, user, twin)


def _kernel_root(client) -> psutil.Process:
    return psutil.Process(client.km.provisioner.process.pid)   # the sandbox's launcher or the kernel itself


async def _run_bounded(client, cell, index: int, limit_s: float, twins=()) -> tuple[str, float]:
    """Run one student cell, interrupting it (as a student's Ctrl-C would) once the kernel has used ``limit_s``
    seconds of CPU on it, or waited the wall-clock backstop: (why it was stopped or "", its CPU seconds).
    ``twins``: the kernel's twin, whose re-trace is not the cell's time."""
    import time

    from jupyter_core.utils import ensure_async

    kernel = _kernel_root(client)
    clock = CpuClock(ignore=twins)
    clock.update(process_tree(kernel))
    clock.start()
    run = asyncio.ensure_future(client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1))
    start, why, interrupted_at = time.monotonic(), "", 0.0
    while not run.done():
        await asyncio.wait([run], timeout=0.25)
        if run.done():
            break
        used, now = clock.update(process_tree(kernel)), time.monotonic()
        if not why and used > limit_s:
            why = f"it used more than {limit_s:.0f} s of CPU time"
        elif not why and now - start > wall_backstop(limit_s):
            why = f"it ran longer than {wall_backstop(limit_s):.0f} s (wall clock)"
        if why and now - interrupted_at > 5:   # again every 5 s: C code may only see it on its way out
            interrupted_at = now
            await ensure_async(client.km.interrupt_kernel())
    run.result()
    return why, round(clock.total, 2)


async def _drive(job: Path, client, preamble, cell_cpu_s: float | None, times: dict, stopped: dict) -> object:
    """Start the kernel, run the preamble, wait for the submission ("go"), then run its cells.

    ``times``: seconds spent starting the kernel, in the preamble, in the student's cells and in the grader's
    snapshot and export cells (filled as it goes). A student cell over the practical's CPU time per cell is
    interrupted (``cell_cpu_s``, None: no limit per cell) and the next cells run, as in nbgrader; ``stopped``
    gets a line for each, by cell index."""
    import time

    from jupyter_core.utils import ensure_async

    parent = grader_pid(job)
    client.reset_execution_trackers()
    clock = time.monotonic()

    def lap(name):
        nonlocal clock
        now = time.monotonic()
        times[name] = round(times.get(name, 0.0) + now - clock, 3)
        clock = now

    async with client.async_setup_kernel():
        await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))
        lap("kernel_start_s")
        await client.async_execute_cell(preamble, 0, execution_count=1)
        lap("preamble_s")
        twins = forked_twins(process_tree(_kernel_root(client)))   # before any student code: only the twin
        (job / TWIN_PIDS).write_text(" ".join(map(str, twins)))
        (job / "ready").touch()
        while not (job / "go").exists():
            if os.getppid() != parent:  # the grader is gone: nothing will come
                return None
            await asyncio.sleep(0.02)
        clock = time.monotonic()
        run = nbformat.read(job / "run.ipynb", as_version=4)
        run.cells[0] = preamble
        client.nb = run
        for index, cell in enumerate(run.cells[1:], start=1):
            role = cell.metadata.get("ag_role")
            if role == "export":  # the final export takes only the questions whose check cell did not run
                missing = [q for q in cell.metadata["ag_questions"] if not (job / SNAPSHOTS / q).is_dir()]
                if not missing:
                    break
                cell.source = cell.source.replace(ONLY_PLACEHOLDER, repr(missing))
            lap("cells_s")
            if role is None and cell_cpu_s:
                why, used = await _run_bounded(client, cell, index, cell_cpu_s, twins)
                times["slowest_cell_cpu_s"] = max(times.get("slowest_cell_cpu_s", 0.0), used)
                if why:
                    stopped[index] = (f"cell {cell.metadata['ag_index'] + 1} was stopped: {why} (no cell of this "
                                   f"notebook needs that much); the cells after it still ran")
            else:
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            if role == "snapshot":
                take_snapshot(job, cell.metadata["ag_out"], cell.metadata["ag_question"])
            elif role == "export":
                take_snapshot(job, cell.metadata["ag_out"], FINAL)
            lap("export_s" if role in ("snapshot", "export") else "cells_s")
        # the kernel's twin re-traces beside the cells: shutting the kernel down would stop it too
        while (job / "twin-wanted").exists() and not (job / "twin-done").exists() and time.monotonic() - clock < TWIN_WAIT_S:
            if os.getppid() != parent:
                return None
            await asyncio.sleep(0.02)
        lap("twin_wait_s")
    return client.nb


def grader_pid(job: Path) -> int:
    """(Worker) the process that started this worker (it wrote the job folder's owner.pid)."""
    return int((job / "owner.pid").read_text())


def _exit_when_orphaned(parent: int) -> None:
    """(Worker) the grader that started this worker is gone (killed, its node lost): take the kernel down and exit,
    whatever the worker was doing (starting the kernel, waiting, running a cell)."""
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    kill_tree(process_tree(psutil.Process())[1:])
    os._exit(3)


def _worker(job: Path) -> int:
    import threading

    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    # the grader's pid from the job folder, not getppid(): a grader gone before this line leaves us pid 1 as parent
    threading.Thread(target=_exit_when_orphaned, args=(grader_pid(job),), daemon=True).start()
    settings = json.loads((job / "job.json").read_text())
    if settings["ipc"]:   # sandboxed: the launcher checks that it still has this parent (and drops the variable)
        os.environ[sandbox.PARENT] = str(os.getpid())
    preamble = nbformat.v4.new_code_cell(settings["preamble"], metadata={"ag_role": "preamble"})
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, connection_file=str(job / "runtime" / "kernel.json"))
    if settings["ipc"]:  # the sandboxed kernel has no network, not even loopback: talk over unix sockets
        km.transport = "ipc"
        # relative to the folder both this worker and the kernel run in: a socket's path must fit in 107 bytes,
        # which a deep TMPDIR or --keep folder would pass
        km.ip = os.path.relpath(job / "runtime" / "kernel")
    client = NotebookClient(nbformat.v4.new_notebook(cells=[preamble]), km=km, kernel_name=KERNEL_NAME,
                            allow_errors=True, timeout=None, startup_timeout=120, record_timing=False,
                            resources={"metadata": {"path": os.getcwd()}})
    outcome: dict = {"error": "", "cell_errors": [], "times": {}}
    stopped: dict[int, str] = {}
    nb = None
    try:
        nb = asyncio.run(_drive(job, client, preamble, settings["cell_cpu_s"], outcome["times"], stopped))
        if nb is None:
            return 0
    except DeadKernelError:
        outcome["error"] = "the kernel died while running the notebook (it exited or crashed)"
    except Exception as e:  # nbclient/kernel failures are results too
        outcome["error"] = f"the notebook could not be executed: {type(e).__name__}: {str(e)[:300]}"
    nb = client.nb
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and index not in stopped:
                role = cell.metadata.get("ag_role")
                where = f"cell {cell.metadata['ag_index'] + 1}" if role is None else f"the grader's {role} cell"
                lines = [ln.strip() for ln in str(out.get("evalue", "")).splitlines() if ln.strip()]
                if lines and lines[0] == "in user code:":
                    lines = lines[-1:]
                outcome["cell_errors"].append(f"{where} raised {out.get('ename')}" + (f": {lines[0][:200]}" if lines else ""))
    outcome["cell_errors"] = list(stopped.values()) + outcome["cell_errors"]
    nbformat.write(nb, job / "executed.ipynb")
    (job / "outcome.json").write_text(json.dumps(outcome))
    return 0



class KernelPool:
    """Warm kernels, one per (assignment, seed, device, ...) key: ``with KernelPool() as pool: ...``.

    A batch worker keeps one, so its next submission never waits for kernel start-up and heavy imports; when a
    submission of another assignment comes, the other warm kernels are discarded. Closing discards them all.
    """

    def __init__(self):
        self._warm: dict[tuple, Job] = {}

    def take(self, key: tuple) -> Job | None:
        job = self._warm.pop(key, None)
        self.close()
        if job is not None and job.proc.poll() is not None:  # it died while waiting
            job.discard()
            return None
        return job

    def put(self, job: Job) -> None:
        self.close()
        self._warm[job.key] = job

    def close(self) -> None:
        for job in self._warm.values():
            job.discard()
        self._warm.clear()

    def __enter__(self) -> "KernelPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1])))
