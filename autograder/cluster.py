"""Grade a class on a Dask cluster (local machines, Slurm, Kubernetes): ``autograder grade ... --scheduler ADDRESS``.

The client (this process) finds the submissions, skips those already graded, and sends each one to the cluster
as data (the notebook's bytes, student, assignment, seed, limits): workers need no shared file system. A worker
grades it with the same engine as a local batch (``grade_notebook``: sandbox, limits, its own warm kernels) and
returns the result record; the client writes it with the result store, so resume, exports and progress are the
local batch's. A worker lost mid-notebook (killed, node gone) is replaced by Dask: the scheduler runs the
submission again elsewhere, up to its ``distributed.scheduler.allowed-failures`` (docs/cluster.md sets 2), then
the client records an "error" row saying so. A notebook that kills its own kernel is an ordinary result.

``GradingPlugin`` joins every worker: it refuses one that cannot grade (another kit, no Fashion-MNIST, no
bubblewrap, several threads) with the reason in the worker's log, brings the course secret in memory (set in
the worker process's environment only: kernels get a scrubbed one), and holds the worker's ``KernelPool``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from distributed import Client, Reschedule, WorkerPlugin, as_completed, get_worker
from distributed.scheduler import KilledWorker

from autograder.results import SubmissionResult

# The engine is imported where it is used: a worker unpickles this module's plugin in its event loop.
if TYPE_CHECKING:
    from autograder import batch

PLUGIN = "autograder-grading"
KIT = Path(__file__).resolve().parent
logger = logging.getLogger("autograder.cluster")


class WorkerRefused(RuntimeError):
    """A worker lacks something grading needs."""


def kit_fingerprint() -> str:
    """A hash of the kit's code, checks, thresholds and messages, and of the notebooks' helper module (dl4img,
    which kernels import and the data paths come from): a worker must grade with the same kit as the client."""
    import dl4img

    h = hashlib.sha256()
    for p in sorted(KIT.rglob("*")):
        if p.suffix in (".py", ".toml", ".json", ".po") and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(KIT)).encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(b"dl4img.py\0" + Path(dl4img.__file__).read_bytes())
    return h.hexdigest()[:16]


def requirements_missing(nthreads: int, fingerprint: str) -> list[str]:
    """What this process lacks to grade submissions (empty: it can grade)."""
    from autograder import datasets
    from autograder.engine import sandbox

    problems = []
    if fingerprint != (mine := kit_fingerprint()):
        problems.append(f"its autograder kit ({KIT}, fingerprint {mine}) differs from the client's ({fingerprint}): "
                        "install the same kit on every worker")
    if datasets.FASHION.source() is None:
        problems.append("Fashion-MNIST is missing: " + datasets.FASHION.how_to_install())
    ok, why = sandbox.available()
    if not ok:
        problems.append(f"no sandbox: {why}")
    if nthreads != 1:
        problems.append(f"it runs {nthreads} threads: start workers with --nthreads 1 (the checks are not thread "
                        "safe; use --nworkers N for N graders per machine)")
    return problems


class GradingPlugin(WorkerPlugin):
    name = PLUGIN

    def __init__(self, secret: str, fingerprint: str):
        self.secret = secret          # travels pickled in memory, never written to a file
        self.fingerprint = fingerprint
        self.pool = None
        self.refusal = ""

    async def setup(self, worker):
        # the checks import the engine (seconds): in a thread, so the worker keeps answering the scheduler
        await asyncio.get_running_loop().run_in_executor(None, self._prepare, worker.address, worker.state.nthreads)
        if self.pool is None:
            worker.loop.add_callback(worker.close, nanny=True, reason="autograder: requirements missing")
            raise WorkerRefused(self.refusal)

    def _prepare(self, address: str, nthreads: int) -> None:
        problems = requirements_missing(nthreads, self.fingerprint)
        if problems:
            self.refusal = f"autograder: worker {address} refused: " + "; ".join(problems)
            logger.error(self.refusal)
            return
        from autograder import batch
        from autograder.engine.kernels import KernelPool
        from autograder.secret import ENV

        os.environ[ENV] = self.secret   # the grading process only: kernel_env passes none of it to kernels
        batch.clean_stale_jobs()
        self.pool = KernelPool()

    def teardown(self, worker):
        if self.pool is not None:
            self.pool.close()


def grade_on_worker(job: dict, data: bytes) -> dict:
    """The task: grade one submission's bytes on this worker, return its result record."""
    from autograder import batch

    plugin = get_worker().plugins.get(PLUGIN)
    if plugin is None or plugin.pool is None:  # a refused worker, about to leave: grade it elsewhere
        raise Reschedule()
    # the same file and folder names as on the client: the assignment is recognised the same way
    with tempfile.TemporaryDirectory(prefix="ag-sub-") as tmp:
        path = Path(tmp, "submitted", job["folder"], job["name"])
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        result = batch.grade_job(job, path, plugin.pool)
    result.submission = job["path"]
    return result.to_dict()



def connect(address: str) -> Client:
    """A client of the scheduler at ``address``, with the grading plugin on every worker (now and later)."""
    from autograder.secret import course_secret

    try:
        client = Client(address, timeout="30s")
    except OSError as e:
        raise SystemExit(f"autograder: cannot reach the Dask scheduler at {address}: {e}") from None
    try:
        client.register_plugin(GradingPlugin(course_secret(), kit_fingerprint()), name=PLUGIN)
    except WorkerRefused as e:  # those workers leave; the others (and those that join later) grade
        print(f"warning: {e}", file=sys.stderr)
    return client


def run_cluster_batch(subs: list[batch.Submission], out: str | Path, address: str,
                      options: batch.BatchOptions | None = None) -> batch.BatchRun:
    """``batch.run_batch`` on the Dask cluster at ``address``: the same results, resume and progress."""
    from autograder import batch
    from autograder.report.store import RESULTS

    o = options or batch.BatchOptions()
    out = Path(out)
    (out / RESULTS).mkdir(parents=True, exist_ok=True)
    todo = [s for s in subs if o.regrade or not batch.is_done(s, out, o.seed)]
    skipped = [s for s in subs if s not in todo]
    queue = batch.queue_order(todo)
    statuses: Counter = Counter()
    t0 = time.monotonic()
    if not todo:  # all graded already: no cluster needed
        return batch.BatchRun(graded=[], skipped=skipped, statuses=statuses, wall_s=0.0)
    client = connect(address)
    workers = len(client.nthreads())
    if not workers:
        print(f"waiting for Dask workers to join {address}", file=sys.stderr)
    bar = batch._progress(len(todo), len(skipped), o.progress)
    jobs: dict = {}
    finished = as_completed()

    def fill():  # a window of twice the cluster's threads: work for every worker, not every notebook in memory
        window = 2 * max(1, sum(client.nthreads().values()))
        while queue and finished.count() < window:
            sub = queue.pop(0)
            job = batch._job(sub, out, o)
            job.update(folder=sub.path.parent.name, name=sub.path.name)
            fut = client.submit(grade_on_worker, job, sub.path.read_bytes(), pure=False,
                                key=f"grade-{sub.key}-{uuid.uuid4().hex[:8]}")
            jobs[fut] = (sub, job)
            finished.add(fut)

    try:
        fill()
        for fut in finished:
            sub, job = jobs.pop(fut)
            try:
                record = fut.result()
            except KilledWorker as e:  # every worker that took it died: allowed-failures + 1 of them
                n = e.allowed_failures + 1
                record = batch.grader_error(job, f"the grading worker was lost {n} time{'s' * (n != 1)} "
                                                 "while grading this submission").to_dict()
            except Exception as e:  # the task could not run there: a row, and the batch goes on
                record = batch.grader_error(job, f"the cluster failed on this submission: {type(e).__name__}: "
                                                 f"{str(e)[:300]}").to_dict()
            status = batch.record(SubmissionResult.from_dict(record), job)
            statuses[status] += 1
            failed = sum(v for k, v in statuses.items() if k != "graded")
            bar.set_postfix(done=sum(statuses.values()), failed=failed,
                            remaining=len(todo) - sum(statuses.values()), refresh=False)
            bar.update(1)
            workers = max(workers, len(client.nthreads()))
            fill()
    finally:
        bar.close()
        if jobs:  # interrupted: nothing more for the cluster to do
            client.cancel(list(jobs), force=True)
        client.close()
    return batch.BatchRun(graded=todo, skipped=skipped, statuses=statuses, wall_s=round(time.monotonic() - t0, 2),
                          workers=workers if todo else 0)
