"""Grade a class: find the submissions, grade them in parallel worker processes, resume after any kill.

Layouts understood (any mix, at any depth under the folders given):

- nbgrader's course layout ``submitted/<student>/<assignment>/<notebook>.ipynb``;
- a plain folder: ``<student>_<assignment>.ipynb``, ``<student>/<assignment>.ipynb`` or
  ``<assignment>/<student>.ipynb`` (the assignment may also come from the notebook's metadata);
- a Gradescope submission folder (``/autograder/submission/<anything>.ipynb``; the student comes from
  ``submission_metadata.json`` when ``autograder gradescope run`` grades it).

The queue starts with the submissions likely to take longest (``queue_order``), so that the short ones fill the
workers' ends instead of one worker finishing a long notebook alone.

Each submission is keyed by (student, assignment). Its result is written, atomically, to
``<out>/results/<student>__<assignment>.json`` by the worker that graded it, the moment it finishes, with the
SHA-256 of the notebook's bytes and the seed. A batch started again skips every submission whose result exists
for the same bytes and seed, so a batch killed at any moment (Ctrl-C, ``kill -9``, power loss) loses at most the
submissions in flight, never writes a row twice, and ends with the same results. A changed resubmission is
re-graded. Workers are processes (``spawn``): the checks run through ``pytest.main``, which is not thread safe.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from autograder import practicals
from autograder.engine.execute import DEFAULT_SEED, SAME
from autograder.engine.kernels import THREAD_VARS, KernelPool
from autograder.engine.limits import kill_tree, process_tree
from autograder.report.store import RESULTS, read_result, result_path, safe, write_result
from autograder.results import SubmissionResult

OWNER = "owner.pid"   # in each ag-job-*/ag-checks-*/ag-zygote-*/ag-retrace-* folder: the pid of the process that made it
STUB = "raise NotImplementedError()"   # what nbgrader leaves in an unanswered solution cell (nbgrader_config.py)


@dataclass(frozen=True)
class Submission:
    path: Path
    student: str
    label: str          # the assignment's name; for a notebook of no known assignment, its folder or file name
    known: bool         # the assignment was recognised
    sha256: str
    answered: float = 1.0   # the share of its solution cells the student answered (``answered_share``)

    @property
    def key(self) -> str:
        return f"{safe(self.student)}__{safe(self.label)}"

    @property
    def expected_s(self) -> float:
        """About how long grading it takes: its assignment's answer key, less the questions left unanswered (a
        blank release runs in seconds); 0 for a notebook of no known assignment."""
        return practicals.get(self.label).grade_s * self.answered if self.known else 0.0


def answered_share(nb) -> float:
    """The share of a notebook's solution cells (nbgrader's marks) that no longer hold nbgrader's stub; 1.0 when
    it marks none, or is no notebook (it cannot say: its grading says what is wrong)."""
    try:
        solutions = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]
                     if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")]
        return sum(STUB not in source for source in solutions) / len(solutions) if solutions else 1.0
    except (TypeError, KeyError, AttributeError):
        return 1.0


def queue_order(subs: list[Submission]) -> list[Submission]:
    """Longest expected first, one assignment after another among equals (a warm kernel fits the next): the last
    submissions to start are the short ones, so the workers end together. In a mix of the five practicals
    (bench (d)) the queue by assignment name ended with one worker grading 05 alone for 15 s."""
    return sorted(subs, key=lambda s: (-s.expected_s, s.label, s.key))


# -- discovery -----------------------------------------------------------------------------------

def find_notebooks(paths) -> list[Path]:
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in q.parts and not any(s.startswith(".") for s in q.relative_to(p).parts))
        elif p.exists():
            found.append(p)
    return found


def identify(path: Path, student: str | None = None) -> Submission:
    """Who submitted ``path``, for which assignment, and the hash of its bytes (never raises for bad content)."""
    path = Path(path).absolute()
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    try:
        nb = json.loads(data)
    except ValueError:
        nb = None
    try:
        name = practicals.recognise(path, nb if isinstance(nb, dict) else None).name
    except Exception:  # UnknownAssignment, or metadata of the wrong shape
        name = None
    parts, stem, known = path.parts[:-1], path.stem, set(practicals.REGISTRY)
    folder_assignment = None
    who = None
    if "submitted" in parts:  # nbgrader: submitted/<student>/<assignment>/<notebook>
        i = len(parts) - 1 - parts[::-1].index("submitted")
        after = parts[i + 1:]
        if after:
            who = after[0]
            folder_assignment = after[1] if len(after) > 1 else None
    if who is None:
        target = name or ""
        if path.parent.name in known and target and target in stem:     # <student>/<assignment>/<assignment>.ipynb
            who = path.parent.parent.name
        elif target and stem != target and target in stem:               # <student>_<assignment>.ipynb
            who = stem.replace(target, " ").strip(" _-.") or stem
        elif target and stem == target:                                  # <student>/<assignment>.ipynb
            who = path.parent.name
        else:                                                            # <assignment>/<student>.ipynb, unknown
            who = stem
    label = name or folder_assignment or stem
    return Submission(path=path, student=student or who, label=label, known=name is not None, sha256=sha,
                      answered=answered_share(nb))


def discover(paths, student: str | None = None) -> tuple[list[Submission], list[str]]:
    """Every submission under ``paths``, one per (student, assignment); warnings for the notebooks left out."""
    by_key: dict[str, list[Submission]] = {}
    warnings = []
    for p in find_notebooks(paths):
        try:
            s = identify(p, student)
        except OSError as e:
            warnings.append(f"{p}: cannot be read ({e})")
            continue
        by_key.setdefault(s.key, []).append(s)
    subs = []
    for key, group in sorted(by_key.items()):
        group.sort(key=lambda s: (s.path.stem != s.label, str(s.path)))  # the notebook named as the assignment first
        subs.append(group[0])
        for other in group[1:]:
            warnings.append(f"{other.path}: ignored, {group[0].path} is {group[0].student}'s {group[0].label}")
    return subs, warnings


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects i/n (e.g. 2/4), got {text!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"--shard {text}: i must be between 1 and n")
    return i, n


def shard(subs: list[Submission], i: int, n: int) -> list[Submission]:
    """Shard ``i`` of ``n`` (1-based): every n-th submission in key order, so shards are balanced and disjoint."""
    return [s for k, s in enumerate(sorted(subs, key=lambda s: s.key)) if k % n == i - 1]


def select(subs, students=(), assignments_=()) -> list[Submission]:
    return [s for s in subs if (not students or s.student in students) and (not assignments_ or s.label in assignments_)]


def is_done(sub: Submission, out: Path, seed: int) -> bool:
    r = read_result(result_path(out, sub))
    return r is not None and r.sha256 == sub.sha256 and r.environment.get("seed", seed) == seed


# -- the worker side -------------------------------------------------------------------------------

_recording = threading.Lock()   # held while a result is written
_dying = threading.Event()      # set (under that lock) before a worker whose batch is gone kills its tree


def _kill_tree_and_exit(code: int) -> None:
    with _recording:   # a result being written ends whole; none is written from here on: the kernels this
        _dying.set()   # kill takes down would otherwise end as an "error" result that a resumed batch trusts
    kill_tree(process_tree(psutil.Process())[1:])
    os._exit(code)


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:  # the batch was killed (kill -9, power loss of a shell): take the kernels down
            _kill_tree_and_exit(3)
        time.sleep(0.5)


_pool: KernelPool | None = None   # a batch worker's warm kernels


def kernel_threads(workers: int) -> int | None:
    """TensorFlow threads for each worker's kernels and checks: their share of the cores, so that parallel
    trainings do not wait on each other's threads (two 04 trainings of two threads on two cores took twice as
    long as with one each); None: TensorFlow's own default (one worker)."""
    cores = os.cpu_count() or 1
    return max(1, cores // workers) if workers > 1 else None


def _init_worker(threads: int | None = None) -> None:
    global _pool
    if threads:   # inherited by the check worker; kernels get them from kernels.kernel_env
        for var in THREAD_VARS:
            os.environ.setdefault(var, str(threads))   # a grader's own setting stands
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle: it stops the workers
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _pool = KernelPool()
    multiprocessing.util.Finalize(_pool, _pool.close, exitpriority=10)  # runs when the worker process exits


def grade_job(job: dict, path, pool: KernelPool | None) -> SubmissionResult:
    """Grade one job's notebook at ``path`` (the pool's next kernel starts while its checks run); never raises."""
    from autograder.grade import grade_notebook

    then = job.get("then", SAME)
    if isinstance(then, dict):
        then = (practicals.get(then["assignment"]), then["timeout"])
    try:
        return grade_notebook(path, device=job["device"], seed=job["seed"], student=job["student"],
                              timeout_s=job["timeout"], memory_mb=job["memory"], pool=pool, then=then)
    except Exception as e:  # a fault of the grader, not of the submission: still a row, and the batch goes on
        return grader_error(job, f"the grader failed on this submission: {type(e).__name__}: {str(e)[:300]}")


def record(result: SubmissionResult, job: dict) -> str:
    """Write a job's result where the batch keeps it; return its status ("abandoned": not written, as the
    worker is taking its kernels down because its batch is gone)."""
    result.sha256 = job["sha256"]
    result.environment.setdefault("seed", job["seed"])
    with _recording:
        if _dying.is_set():
            return "abandoned"
        write_result(result, Path(job["out_file"]))
    return result.status


def _grade_task(job: dict) -> dict:
    return {"status": record(grade_job(job, job["path"], _pool), job)}


def grader_error(job: dict, reason: str) -> SubmissionResult:
    return SubmissionResult(assignment=job["assignment"], submission=job["path"], status="error",
                            student=job["student"], reason=reason, environment={"seed": job["seed"]})


# -- the batch -----------------------------------------------------------------------------------------

@dataclass
class BatchOptions:
    workers: int = 0                       # 0: the number of cores
    seed: int = DEFAULT_SEED
    device: str = "cpu"
    timeout: float | None = None           # seconds per notebook (None: the assignment's own limit)
    timeouts: dict = field(default_factory=dict)   # per assignment, overrides ``timeout``
    memory_mb: float | None = None
    regrade: bool = False                  # grade again even when a result for the same bytes exists
    progress: bool = True


@dataclass
class BatchRun:
    graded: list[Submission]               # graded by this run
    skipped: list[Submission]              # already had a result
    statuses: Counter
    wall_s: float
    workers: int = 0                       # the worker processes this run used


def _job(sub: Submission, out: Path, o: BatchOptions, then: dict | None | str = SAME) -> dict:
    """``then``: the submission its worker will likely take next (``_likely_next``), for which it leaves a kernel
    warm; by default one of the same assignment."""
    job = {"path": str(sub.path), "student": sub.student, "assignment": sub.label if sub.known else "",
           "sha256": sub.sha256, "seed": o.seed, "device": o.device,
           "timeout": o.timeouts.get(sub.label, o.timeout), "memory": o.memory_mb,
           "out_file": str(result_path(out, sub))}
    if then != SAME:
        job["then"] = then
    return job


def _likely_next(queue: list[Submission], workers: int, o: BatchOptions) -> dict | None:
    """The submission a worker will take after the one just given to it: the others in flight end first and take
    the queue's head, so it is about ``queue[workers - 1]``; None when the queue will be empty by then (a kernel
    started for nothing costs seconds of CPU that the other workers need, and one per assignment change)."""
    nxt = queue[workers - 1] if len(queue) >= workers else None
    if nxt is None or not nxt.known:
        return None
    return {"assignment": nxt.label, "timeout": o.timeouts.get(nxt.label, o.timeout)}


def _progress(total: int, skipped: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="nb", file=sys.stderr, disable=not enabled or total == 0, dynamic_ncols=True,
                desc="grading" + (f" ({skipped} already graded)" if skipped else ""))


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers and the kernels they run, now."""
    procs = list(getattr(pool, "_processes", {}).values() or [])
    for proc in procs:
        try:
            kill_tree(process_tree(psutil.Process(proc.pid)))
        except psutil.Error:
            pass
    pool.shutdown(wait=False, cancel_futures=True)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_batch(subs: list[Submission], out: str | Path, options: BatchOptions | None = None) -> BatchRun:
    """Grade every submission of ``subs`` that has no up-to-date result under ``out``; record each as it ends."""
    o = options or BatchOptions()
    out = Path(out)
    clean_stale_jobs()
    (out / RESULTS).mkdir(parents=True, exist_ok=True)
    todo = [s for s in subs if o.regrade or not is_done(s, out, o.seed)]
    skipped = [s for s in subs if s not in todo]
    workers = max(1, min(o.workers or os.cpu_count() or 1, len(todo) or 1))
    statuses: Counter = Counter()
    attempts: Counter = Counter()
    queue = queue_order(todo)
    t0 = time.monotonic()
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt) if threading.current_thread() is threading.main_thread() else None
    bar = _progress(len(todo), len(skipped), o.progress)
    try:
        while queue:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(kernel_threads(workers),))
            running: dict = {}
            try:
                while queue or running:
                    while queue and len(running) < workers:  # a window of `workers` tasks: every task is running
                        sub = queue.pop(0)
                        running[pool.submit(_grade_task, _job(sub, out, o, then=_likely_next(queue, workers, o)))] = sub
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    broken = False
                    for fut in finished:
                        sub = running.pop(fut)
                        try:
                            status = fut.result()["status"]
                        except BrokenProcessPool:
                            broken = True
                            attempts[sub.key] += 1
                            if attempts[sub.key] < 2:
                                queue.insert(0, sub)
                                continue
                            status = "error"
                            r = grader_error(_job(sub, out, o), "the grader's worker process died twice "
                                             "while grading this submission")
                            r.sha256 = sub.sha256
                            write_result(r, result_path(out, sub))
                        statuses[status] += 1
                        failed = sum(v for k, v in statuses.items() if k != "graded")
                        bar.set_postfix(done=sum(statuses.values()), failed=failed,
                                        remaining=len(todo) - sum(statuses.values()), refresh=False)
                        bar.update(1)
                    if broken:  # the other tasks of the broken pool go back to the queue
                        for fut, sub in running.items():
                            attempts[sub.key] += 1
                            queue.insert(0, sub)
                        running.clear()
                        break
            except BaseException:
                _stop(pool)
                raise
            pool.shutdown(wait=True)
    finally:
        bar.close()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    return BatchRun(graded=todo, skipped=skipped, statuses=statuses, wall_s=round(time.monotonic() - t0, 2),
                    workers=workers if todo else 0)


def clean_stale_jobs(folder: str | Path | None = None, grace_s: float = 3600) -> list[Path]:
    """Remove the ``ag-job-*``/``ag-checks-*``/``ag-zygote-*``/``ag-retrace-*`` folders a killed run left in the temporary folder.

    A folder is stale when the process named in its ``owner.pid`` is gone; one without that file (made by an
    older kit, or being made right now) only when it is older than ``grace_s``. Other users' folders are left."""
    removed = []
    base = Path(folder or tempfile.gettempdir())
    try:
        candidates = [*base.glob("ag-job-*"), *base.glob("ag-checks-*"), *base.glob("ag-zygote-*"),
                      *base.glob("ag-retrace-*")]
    except OSError:
        return removed
    for d in candidates:
        try:
            st = d.lstat()
            if not d.is_dir() or d.is_symlink() or st.st_uid != os.getuid():
                continue
            try:
                owner = int((d / OWNER).read_text().strip())
                stale = not psutil.pid_exists(owner)
            except FileNotFoundError:
                stale = time.time() - st.st_mtime > grace_s
            except (OSError, ValueError):
                continue
        except OSError:
            continue
        if stale:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


# -- shards ----------------------------------------------------------------------------------------------

def merge(shard_dirs, out: str | Path) -> tuple[int, list[str]]:
    """Copy every shard's results into ``out``; the same submission in two shards keeps the one graded last."""
    out = Path(out)
    (out / RESULTS).mkdir(parents=True, exist_ok=True)
    chosen: dict[str, tuple[float, Path]] = {}
    warnings = []
    for d in map(Path, shard_dirs):
        files = sorted((d / RESULTS).glob("*.json")) if (d / RESULTS).is_dir() else []
        if not files:
            warnings.append(f"{d}: no results")
        for f in files:
            if read_result(f) is None:
                warnings.append(f"{f}: not a result, skipped")
                continue
            mtime = f.stat().st_mtime
            if f.name in chosen:
                warnings.append(f"{f.name} is in several shards; keeping the newest")
                if mtime <= chosen[f.name][0]:
                    continue
            chosen[f.name] = (mtime, f)
    for name, (_, f) in chosen.items():
        if f.resolve() != (out / RESULTS / name).resolve():
            shutil.copyfile(f, out / RESULTS / name)
    return len(chosen), warnings
