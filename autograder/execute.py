"""Execute step: run a submission in a fresh Jupyter kernel, in its own process, under limits.

The parent (grader) starts a worker process that drives the kernel with nbclient; the kernel is a child
of the worker. The parent watches the whole process tree for the wall-clock and memory limits and kills
it when one is crossed. The submission's cells are followed by the export cell, whose output folder has
an unguessable name, so nothing the student writes beforehand can pass for an artifact.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import importlib
import inspect
import io
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import psutil

from autograder import sandbox
from autograder.assignments import Assignment
from autograder.paths import FASHION_TRAIN_FILES, fashion_source_dir, link_fashion

KERNEL_NAME = "autograder-python3"
DEFAULT_SEED = 1234
DISK_MB = 2048            # what the notebook may write to its scratch folder
ARTIFACT_SUFFIXES = (".npy", ".json", ".pb", ".keras")
ARTIFACT_MB = 200


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


# -- building the notebook that runs ----------------------------------------------------------

def preamble_source(assignment: Assignment, seed: int, device: str) -> str:
    """Determinism injected before the student's first cell."""
    lines = [
        "import random as _ag_random, numpy as _ag_np",
        f"_ag_random.seed({seed}); _ag_np.random.seed({seed})",
    ]
    if assignment.uses_tensorflow:
        lines += [
            "import tensorflow as _ag_tf",
            f"_ag_tf.keras.utils.set_random_seed({seed})",
            "_ag_tf.config.experimental.enable_op_determinism()",
            "del _ag_tf",
        ]
    lines.append("del _ag_random, _ag_np")
    return "\n".join(lines)


CHECK_CELL = re.compile(r"""^check\(\s*["']([\w.\-]+)["']\s*\)$""")
ONLY_PLACEHOLDER = "__AG_ONLY__"   # the worker fills in the questions the final export cell must take


def check_cell_question(cell) -> str | None:
    """The question of a locked ``check("NN.q")`` cell (as released), else None."""
    meta = cell.metadata.get("nbgrader")
    if cell.cell_type != "code" or not isinstance(meta, dict) or not (meta.get("locked") or meta.get("grade")):
        return None
    m = CHECK_CELL.match(cell.source.strip())
    return m.group(1) if m else None


def export_plan(assignment: Assignment, hidden: dict | None = None) -> dict[str, tuple]:
    """Artifact name -> questions, as the practical's exporter declares them; hidden artifacts marked by a
    leading ``!`` (they need the hidden inputs)."""
    from autograder.export.common import Exporter

    practical = importlib.import_module(assignment.export_module)
    public = Exporter({}, None)
    practical.export(public)
    plan = dict(public.tags)
    if hidden is not None:
        full = Exporter({}, None, hidden=hidden)
        practical.export(full)
        plan.update({"!" + k: v for k, v in full.tags.items() if k not in public.tags})
    return plan


def export_source(assignment: Assignment, out_dir: str, hidden: dict | None, only) -> str:
    """An export cell: the kit's exporter modules, inlined, run on the student's namespace for ``only``.

    The random states of Python and numpy are restored afterwards, so that taking a snapshot between two
    student cells does not change what the next cell draws.
    """
    from autograder.export import common

    practical = importlib.import_module(assignment.export_module)
    blob = ""
    if hidden:
        buf = io.BytesIO()
        np.savez(buf, **hidden)
        blob = base64.b64encode(buf.getvalue()).decode()
    only_src = ONLY_PLACEHOLDER if only is None else repr(sorted(only))
    return f'''def _ag_export():
    import base64, io, random, types
    import numpy as np
    states = random.getstate(), np.random.get_state()
    mods = []
    for name, src in (("common", {inspect.getsource(common)!r}), ("practical", {inspect.getsource(practical)!r})):
        mod = types.ModuleType("_ag_" + name)
        exec(compile(src, "<autograder " + name + ">", "exec"), mod.__dict__)
        mods.append(mod)
    hidden = None
    if {blob!r}:
        with np.load(io.BytesIO(base64.b64decode({blob!r})), allow_pickle=False) as z:
            hidden = {{k: z[k] for k in z.files}}
    ex = mods[0].Exporter(get_ipython().user_ns, {out_dir!r}, hidden, fresh=True, only={only_src})
    try:
        mods[1].export(ex)
        ex.finish()
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
_ag_export()
del _ag_export
'''


def build_run_notebook(nb, assignment: Assignment, work: Path, hidden: dict | None, preamble: str):
    """Preamble (already run by the warm kernel), the student's code cells, then the final export cell.

    Each locked ``check("NN.q")`` cell is replaced by a snapshot cell that exports that question's answers
    (with the hidden inputs, if the question has hidden checks) into a fresh folder of an unguessable name;
    the worker moves it out of the kernel's reach before the next student cell runs. The final export cell
    takes the questions whose check cell did not run (the worker fills in which).
    """
    plan = export_plan(assignment, hidden)
    hidden_questions = {q for name, qs in plan.items() if name.startswith("!") for q in qs}
    questions = sorted({q for qs in plan.values() for q in qs})
    cells = [nbformat.v4.new_code_cell(preamble, metadata={"ag_role": "preamble"})]
    seen = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        q = check_cell_question(cell)
        if q in questions and q not in seen:
            seen.add(q)
            out = str(work / f"artifacts-{secrets.token_hex(8)}")
            source = export_source(assignment, out, hidden if q in hidden_questions else None, [q])
            cells.append(nbformat.v4.new_code_cell(source, metadata={
                "ag_index": i, "ag_role": "snapshot", "ag_question": q, "ag_out": out}))
        else:
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"ag_index": i}))
    out = str(work / f"artifacts-{secrets.token_hex(8)}")
    cells.append(nbformat.v4.new_code_cell(export_source(assignment, out, hidden, None), metadata={
        "ag_role": "export", "ag_out": out, "ag_questions": questions}))
    run = nbformat.v4.new_notebook(cells=cells)
    run.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3 (autograder)", "language": "python"}
    return run


# -- the kernel's environment -------------------------------------------------------------------

def kernel_env(job: Path, work: Path, device: str) -> dict:
    """A scrubbed environment: nothing from the grader's environment but what the kernel needs."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "KERAS_HOME": str(work / ".keras"),
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "TF_ENABLE_ONEDNN_OPTS": "0",   # also silences TF's start-up lines on stderr
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "JUPYTER_PATH": str(job / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(job / "runtime"),
        "JUPYTER_CONFIG_DIR": str(job / "jupyter-config"),
        "IPYTHONDIR": str(work / ".ipython"),
        "MPLCONFIGDIR": str(work / ".matplotlib"),
    }
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    for key in ("PYTHONPATH", "KERAS_BACKEND"):  # the kit itself may be on PYTHONPATH (not installed)
        if key in os.environ:
            env[key] = os.environ[key]
    return env


KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def write_kernelspec(job: Path, argv: list[str]) -> None:
    spec = job / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "Python 3 (autograder)", "language": "python",
    }))


def collect_artifacts(src: Path, dst: Path) -> tuple[Path | None, list[str]]:
    """Copy the exported files into a grader-owned folder, refusing anything but small regular files.

    The kernel could have planted links or devices in its own folder; only plain files with a known suffix
    and a plain name come through, opened without following links.
    """
    if not src.is_dir() or src.is_symlink():
        return None, []
    dst.mkdir()
    rejected = []
    for entry in os.scandir(src):
        name = entry.name
        ok_name = name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum() and name.endswith(ARTIFACT_SUFFIXES)
        if not ok_name or not entry.is_file(follow_symlinks=False):
            rejected.append(f"{name!r} is not a plain artifact file and was ignored")
            continue
        if entry.stat(follow_symlinks=False).st_size > ARTIFACT_MB * 2**20:
            rejected.append(f"{name!r} is larger than {ARTIFACT_MB} MB and was ignored")
            continue
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f, open(dst / name, "wb") as out:
            shutil.copyfileobj(f, out)
    return dst, rejected


def _disk_mb(*folders: Path) -> float:
    """Space the files under ``folders`` take (allocated blocks: a sparse file costs what it stores)."""
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for f in files:
                try:
                    total += os.lstat(os.path.join(root, f)).st_blocks * 512
                except OSError:
                    pass
    return total / 2**20


def _unlinked_mb(procs) -> tuple[float, float]:
    """(disk MB, memory MB) held through open files no folder shows: unlinked files and memfds."""
    seen, disk, memory = set(), 0, 0
    for p in procs:
        fds = f"/proc/{p.pid}/fd"
        try:
            names = os.listdir(fds)
        except OSError:
            continue
        for name in names:
            link = f"{fds}/{name}"
            try:
                target = os.readlink(link)
                if not target.endswith("(deleted)"):
                    continue
                st = os.stat(link)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if target.startswith("/memfd:"):
                memory += st.st_blocks * 512
            else:
                disk += st.st_blocks * 512
    return disk / 2**20, memory / 2**20


# -- running under limits ---------------------------------------------------------------------

def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _rss_mb(procs) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def _kill(procs) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


class CpuClock:
    """CPU time (user + system) of a process tree, counting processes that have since exited."""

    def __init__(self):
        self.seen: dict[int, float] = {}
        self.base: float | None = None     # None until started: nothing counts yet

    def start(self) -> None:
        self.base = sum(self.seen.values())

    def update(self, procs) -> float:
        for p in procs:
            try:
                t = p.cpu_times()
                self.seen[p.pid] = max(self.seen.get(p.pid, 0.0), t.user + t.system)
            except psutil.Error:
                pass
        return self.total

    @property
    def total(self) -> float:
        return 0.0 if self.base is None else sum(self.seen.values()) - self.base


def gpu_memory_mb(pids, query=None) -> float:
    """GPU memory (MB) held by the processes ``pids``, from ``nvidia-smi`` (0 when there is no NVIDIA GPU)."""
    if query is None:
        smi = shutil.which("nvidia-smi")
        if smi is None:
            return 0.0
        try:
            query = subprocess.run([smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                                   capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return 0.0
    wanted, total = set(pids), 0.0
    for line in query.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) in wanted:
            try:
                total += float(parts[1])
            except ValueError:
                pass
    return total


def wall_backstop(cpu_limit_s: float) -> float:
    """Wall-clock limit beside a CPU-time limit: generous, as a busy host slows an honest notebook 2-5x,
    yet it stops code that waits without computing (sleep, blocking reads)."""
    return 3 * cpu_limit_s + 15


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

    def discard(self) -> None:
        _kill(_tree(psutil.Process(self.proc.pid)) if self.proc.poll() is None else [])
        self.release_user()
        shutil.rmtree(self.folder, ignore_errors=True)

    def release_user(self) -> None:
        if self.user is not None:
            self.user.release()
            self.user = None


def _outermost(paths) -> frozenset:
    paths = {Path(p).resolve() for p in paths}
    return frozenset(p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths))


def start_job(assignment: Assignment, *, seed: int = DEFAULT_SEED, device: str = "cpu", hide=(),
              keep: Path | None = None, isolate: bool = True, timeout_s: float | None = None) -> Job:
    """Start a kernel for ``assignment`` in a fresh job folder and run the preamble (imports, seeds)."""
    key = (assignment.name, seed, device, _outermost(hide), keep, isolate)
    job = Path(tempfile.mkdtemp(prefix="ag-job-", dir=keep))
    (job / "owner.pid").write_text(str(os.getpid()))  # batch.clean_stale_jobs removes it once this process is gone
    work, runtime = job / "work", job / "runtime"
    for folder in (work, runtime, work / ".ipython", work / ".matplotlib"):
        folder.mkdir()
    sandboxed, why = sandbox.available() if isolate else (False, "sandbox not requested")
    data_binds = {}
    if assignment.fashion_mnist and sandboxed:
        folder = work / ".keras" / "datasets" / "fashion-mnist"
        folder.mkdir(parents=True)
        source = fashion_source_dir()
        for f in FASHION_TRAIN_FILES if source else ():
            (folder / f).touch()
            data_binds[folder / f] = (source / f).resolve()
    elif assignment.fashion_mnist:
        link_fashion(work / ".keras", files=FASHION_TRAIN_FILES)
    if assignment.imagenet:  # the grader's ImageNet weights, if it has them
        from autograder.models import link_imagenet

        link_imagenet(work / ".keras", binds=data_binds if sandboxed else None)
    user = None
    if sandboxed:
        limit = int((timeout_s or assignment.timeout_s) * 4) + 60
        user = sandbox.claim_user()
        argv = sandbox.kernel_command(KERNEL_ARGV, work=work, runtime=runtime, hide=list(hide), data_binds=data_binds,
                                      limits=sandbox.Limits(cpu_s=limit, uid=user.uid), device=device)
        sandbox.prepare(job, work, runtime, uid=user.uid)
    else:
        if isolate:
            sandbox.warn_unavailable(why)
        argv = KERNEL_ARGV
    write_kernelspec(job, argv)
    (job / "job.json").write_text(json.dumps({"ipc": sandboxed, "preamble": preamble_source(assignment, seed, device)}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder.execute", str(job)],
        cwd=work, env=kernel_env(job, work, device), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(job / "worker.log", "wb"),
    )
    return Job(key, job, work, proc, sandboxed, why, user)


_warm: dict[tuple, Job] = {}


def _take_warm(key: tuple) -> Job | None:
    job = _warm.pop(key, None)
    for other in _warm.values():  # a different assignment came: the other warm kernels are not needed
        other.discard()
    _warm.clear()
    if job is not None and job.proc.poll() is not None:  # it died while waiting
        job.discard()
        return None
    return job


def discard_warm() -> None:
    _take_warm(())


atexit.register(discard_warm)


def execute(nb, assignment: Assignment, hidden: dict | None = None, *, seed: int = DEFAULT_SEED,
            device: str = "cpu", timeout_s: float | None = None, memory_mb: float | None = None,
            keep: Path | None = None, hide: list[Path] = (), isolate: bool = True,
            disk_mb: float = DISK_MB, prewarm: bool = False) -> Execution:
    """Run the notebook ``nb`` (validated, normalised) for ``assignment``; never raises for student faults.

    ``hide``: folders the kernel must not see (the course, other submissions, the grader's outputs).
    ``prewarm``: when done, start the kernel for the next submission of the same assignment, so a batch
    never waits for kernel start-up and heavy imports.
    """
    options = dict(seed=seed, device=device, hide=hide, keep=keep, isolate=isolate, timeout_s=timeout_s)
    job = _take_warm((assignment.name, seed, device, _outermost(hide), keep, isolate))
    warm = job is not None
    job = job or start_job(assignment, **options)
    execution = run_job(job, nb, assignment, hidden, timeout_s=timeout_s or assignment.timeout_s,
                        memory_mb=memory_mb or assignment.memory_mb, disk_mb=disk_mb)
    execution.warm = warm
    if prewarm:
        _warm[job.key] = start_job(assignment, **options)
    return execution


def run_job(job: Job, nb, assignment: Assignment, hidden: dict | None, *, timeout_s: float, memory_mb: float,
            disk_mb: float) -> Execution:
    """Give the started kernel its submission, watch the limits, gather the questions' snapshots."""
    work = job.work
    nbformat.write(nb, work / assignment.notebook)
    settings = json.loads((job.folder / "job.json").read_text())
    run_nb = build_run_notebook(nb, assignment, work, hidden, settings["preamble"])
    nbformat.write(run_nb, job.folder / "run.ipynb")
    proc = job.proc
    watched = psutil.Process(proc.pid)
    cpu = CpuClock()  # counts from the end of the preamble: the kernel's start-up is not the submission's time
    (job.folder / "go.tmp").write_text("go")
    (job.folder / "go.tmp").replace(job.folder / "go")

    start = time.monotonic()
    peak = 0.0
    status, reason = "ok", ""
    ticks = 0
    wall_limit = wall_backstop(timeout_s)
    load = 0.0
    disk = unlinked_disk = in_memory_files = 0.0
    on_gpu, gpu_mb = job.key[2] != "cpu", 0.0
    while proc.poll() is None:
        procs = _tree(watched)
        ticks += 1
        if ticks % 5 == 0:  # files: the scratch and runtime folders, and open files unlinked from them
            unlinked_disk, in_memory_files = _unlinked_mb(procs)
            disk = _disk_mb(work, job.folder / "runtime") + unlinked_disk
        rss = _rss_mb(procs) + in_memory_files
        peak = max(peak, rss)
        elapsed = time.monotonic() - start
        used = cpu.update(procs)
        if cpu.base is None and (job.folder / "ready").exists():
            cpu.start()
            used = cpu.total
        if ticks % 20 == 0:
            load = max(load, os.getloadavg()[0])
            if on_gpu:
                gpu_mb = gpu_memory_mb([p.pid for p in procs])
        if used > timeout_s:
            status, reason = "timeout", f"the notebook used more than {timeout_s:.0f} s of CPU time and was stopped"
        elif elapsed > wall_limit:
            status, reason = "timeout", (f"the notebook ran longer than {wall_limit:.0f} s (wall clock) and was "
                                         f"stopped after {used:.0f} s of CPU time")
        if status != "ok":
            pass
        elif gpu_mb > memory_mb:
            status, reason = "memory", f"the notebook used more than {memory_mb:.0f} MB of GPU memory and was stopped"
        elif rss > memory_mb:
            status, reason = "memory", f"the notebook used more than {memory_mb:.0f} MB of memory and was stopped"
            if in_memory_files:
                reason += f" ({in_memory_files:.0f} MB of it in memory files)"
        elif disk > disk_mb:
            status, reason = "error", f"the notebook wrote more than {disk_mb:.0f} MB to disk and was stopped"
            if unlinked_disk:
                reason += f" ({unlinked_disk:.0f} MB of it in deleted files it kept open)"
        if status != "ok":
            _kill(procs)
            break
        time.sleep(0.05)
    _kill([p for p in _tree(watched)][1:])  # stray children of the kernel
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
        cpu_s=round(cpu.total, 2), wall_timeout=status == "timeout" and "wall clock" in reason,
        host_saturated=load >= (os.cpu_count() or 1),
        cell_errors=outcome.get("cell_errors", []),
        wall_s=round(wall, 2), peak_rss_mb=round(peak, 1),
        executed=executed if executed.is_file() else None,
        notes=notes, job=job.folder,
    )


SNAPSHOTS = "snapshots"
FINAL = "_final"


def take_snapshot(job: Path, out: str, name: str) -> None:
    """(Worker) move the files of one export cell out of the kernel's reach, as ``snapshots/<name>``.

    Called before the next student cell runs; the rename makes a snapshot whole or absent, even if the
    worker is killed meanwhile.
    """
    folder = job / SNAPSHOTS
    folder.mkdir(exist_ok=True)
    tmp = folder / f".tmp-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    collected, rejected = collect_artifacts(Path(out), tmp)
    shutil.rmtree(out, ignore_errors=True)
    if collected is None:
        return
    if rejected:
        (folder / f"{name}.notes.json").write_text(json.dumps(rejected))
    tmp.rename(folder / name)


def gathered(job: Path, questions: list[str]) -> tuple[dict[str, Path], list[str], list[str]]:
    """(Grader) each question's snapshot: taken at its check cell, else by the final export cell, else none."""
    folder = job / SNAPSHOTS
    snapshots, from_final, notes = {}, [], []
    for q in questions:
        if (folder / q).is_dir():
            snapshots[q] = folder / q
        elif (folder / FINAL).is_dir():
            snapshots[q] = folder / FINAL
            from_final.append(q)
    for f in sorted(folder.glob("*.notes.json")) if folder.is_dir() else ():
        notes += [str(n) for n in json.loads(f.read_text())]
    if from_final:
        notes.append(f"graded from the notebook's final state, as their check cell did not run: {', '.join(from_final)}")
    return snapshots, from_final, notes


# -- the worker process -----------------------------------------------------------------------

async def _drive(job: Path, client, preamble) -> object:
    """Start the kernel, run the preamble, wait for the submission ("go"), then run its cells."""
    from jupyter_core.utils import ensure_async

    parent = os.getppid()
    client.reset_execution_trackers()
    async with client.async_setup_kernel():
        await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))
        await client.async_execute_cell(preamble, 0, execution_count=1)
        (job / "ready").touch()
        while not (job / "go").exists():
            if os.getppid() != parent:  # the grader is gone: nothing will come
                return None
            await asyncio.sleep(0.02)
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
            await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            if role == "snapshot":
                take_snapshot(job, cell.metadata["ag_out"], cell.metadata["ag_question"])
            elif role == "export":
                take_snapshot(job, cell.metadata["ag_out"], FINAL)
    return client.nb


def _worker(job: Path) -> int:
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    settings = json.loads((job / "job.json").read_text())
    preamble = nbformat.v4.new_code_cell(settings["preamble"], metadata={"ag_role": "preamble"})
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, connection_file=str(job / "runtime" / "kernel.json"))
    if settings["ipc"]:  # the sandboxed kernel has no network, not even loopback: talk over unix sockets
        km.transport = "ipc"
        km.ip = str(job / "runtime" / "kernel")
    client = NotebookClient(nbformat.v4.new_notebook(cells=[preamble]), km=km, kernel_name=KERNEL_NAME,
                            allow_errors=True, timeout=None, startup_timeout=120, record_timing=False,
                            resources={"metadata": {"path": os.getcwd()}})
    outcome: dict = {"error": "", "cell_errors": []}
    nb = None
    try:
        nb = asyncio.run(_drive(job, client, preamble))
        if nb is None:
            return 0
    except DeadKernelError:
        outcome["error"] = "the kernel died while running the notebook (it exited or crashed)"
    except Exception as e:  # nbclient/kernel failures are results too
        outcome["error"] = f"the notebook could not be executed: {type(e).__name__}: {str(e)[:300]}"
    nb = client.nb
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                role = cell.metadata.get("ag_role")
                where = f"cell {cell.metadata['ag_index'] + 1}" if role is None else f"the grader's {role} cell"
                lines = [ln.strip() for ln in str(out.get("evalue", "")).splitlines() if ln.strip()]
                if lines and lines[0] == "in user code:":
                    lines = lines[-1:]
                outcome["cell_errors"].append(f"{where} raised {out.get('ename')}" + (f": {lines[0][:200]}" if lines else ""))
    nbformat.write(nb, job / "executed.ipynb")
    (job / "outcome.json").write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1])))
