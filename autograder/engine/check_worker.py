"""The check step in its own process, under limits: untrusted files are parsed away from the grader.

A submission's exported files are untrusted: a small ``.keras`` can declare a huge layer, a JSON file can be
huge, a model can be nested deeply. The checks therefore run in a warm worker subprocess (TensorFlow and the
checks modules imported once) watched like a kernel: resident memory, CPU time per submission, disk written to
its temporary folder, wall clock. A breach kills the worker and becomes the submission's status with a reason;
the next submission gets a fresh worker. The worker is reused but not trusted: what it returns is validated
against the checks the grader itself collected (names, points, statuses), and it keeps no cache between
submissions (each request builds new ``Artifacts``).

Run as ``python -m autograder.engine.check_worker FOLDER``: the worker reads ``go <request.json>`` lines on stdin and
answers ``done`` on stdout once the response file is written.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.engine.limits import MALLOC_FLAGS
from autograder.results import CHECK_STATUSES, CheckResult

ARTIFACT_BUDGET_MB = 400   # all of one submission's exported files together
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class CheckLimits:
    memory_mb: float = 4096   # the worker's resident memory (TensorFlow, the test split, a model)
    cpu_s: float = 300        # CPU time spent on one submission's checks
    wall_s: float = 900       # backstop
    disk_mb: float = 1024     # written to its temporary folder (e.g. a Keras archive unpacked)


class CheckStepFailed(Exception):
    """The check step breached a limit or crashed: ``status`` ("memory", "timeout", "error") and a reason."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def artifact_mb(folders) -> float:
    total = 0
    for folder in set(map(Path, folders)):
        for f in folder.iterdir() if folder.is_dir() else ():
            try:
                total += f.lstat().st_size
            except OSError:
                pass
    return total / 2**20


class CheckWorker:
    """One warm check subprocess, restarted after a breach."""

    def __init__(self, limits: CheckLimits = CheckLimits()):
        self.limits = limits
        self.proc: subprocess.Popen | None = None
        self.folder: Path | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker if none is running (returns at once; it warms up in the background)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.close()
        self.folder = Path(tempfile.mkdtemp(prefix="ag-checks-"))
        (self.folder / "owner.pid").write_text(str(os.getpid()))  # see batch.clean_stale_jobs
        env = dict(os.environ, TMPDIR=str(self.folder / "tmp"), PYTHONDONTWRITEBYTECODE="1", **MALLOC_FLAGS)
        (self.folder / "tmp").mkdir()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.engine.check_worker", str(self.folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.folder / "worker.log", "wb"),
            env=env, start_new_session=True, text=True)

    def close(self) -> None:
        if self.proc is not None:
            from autograder.engine.limits import kill_tree, process_tree

            import psutil

            if self.proc.poll() is None:
                kill_tree(process_tree(psutil.Process(self.proc.pid)))
            self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    # -- one submission --------------------------------------------------------------------------
    def run(self, module: str, snapshots: dict[str, Path], hidden: dict | None, missing: str,
            expected: list[CheckResult], language: str = "en") -> tuple[list[CheckResult], dict]:
        """Run ``module``'s checks on the snapshots, messages in the notebook's ``language``; returns
        (checks, measurements) or raises CheckStepFailed."""
        size = artifact_mb(snapshots.values())
        if size > ARTIFACT_BUDGET_MB:
            raise CheckStepFailed("error", f"the notebook exported {size:.0f} MB of answers, more than the "
                                           f"{ARTIFACT_BUDGET_MB} MB a submission may export")
        self.start()
        request = self.folder / "request"
        shutil.rmtree(request, ignore_errors=True)
        request.mkdir()
        hidden_file = None
        if hidden:
            hidden_file = request / "hidden.npz"
            np.savez(hidden_file, **hidden)
        (request / "request.json").write_text(json.dumps({
            "module": module, "snapshots": {q: str(p) for q, p in snapshots.items()},
            "hidden": str(hidden_file) if hidden_file else None, "missing": missing,
            "response": str(request / "response.json"), "language": language}))
        try:
            self.proc.stdin.write(f"go {request / 'request.json'}\n")
            self.proc.stdin.flush()
            self._wait()
            data = json.loads((request / "response.json").read_text())
        except CheckStepFailed:
            self.close()
            raise
        except (OSError, ValueError) as e:
            self.close()
            raise CheckStepFailed("error", f"the check step failed: {type(e).__name__}: {str(e)[:200]}")
        finally:
            shutil.rmtree(request, ignore_errors=True)
            if self.folder is not None:
                shutil.rmtree(self.folder / "tmp", ignore_errors=True)
                (self.folder / "tmp").mkdir(exist_ok=True)
        if "error" in data:
            raise CheckStepFailed("error", f"the check step failed: {str(data['error'])[:300]}")
        return validated(data.get("checks"), expected), _measurements(data.get("measurements"))

    def _wait(self) -> None:
        """Watch the worker until it answers; raise CheckStepFailed on a breach (the caller kills it)."""
        import psutil

        from autograder.engine.limits import CpuClock, disk_mb, process_tree, rss_mb

        watched = psutil.Process(self.proc.pid)
        cpu = CpuClock()
        cpu.update(process_tree(watched))
        cpu.start()
        start, ticks, lim = time.monotonic(), 0, self.limits
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if ready:
                line = self.proc.stdout.readline()
                if line.strip() == "done":
                    return
                if not line:
                    raise CheckStepFailed("error", "the check step crashed (its process exited) on this "
                                                   "submission's files")
            procs = process_tree(watched)
            ticks += 1
            if rss_mb(procs) > lim.memory_mb:
                raise CheckStepFailed("memory", f"checking the exported answers needed more than "
                                                f"{lim.memory_mb:.0f} MB of memory (an oversized model or file?)")
            if cpu.update(procs) > lim.cpu_s:
                raise CheckStepFailed("timeout", f"checking the exported answers took more than {lim.cpu_s:.0f} s "
                                                 "of CPU time (an oversized or deeply nested model?)")
            if time.monotonic() - start > lim.wall_s:
                raise CheckStepFailed("timeout", f"checking the exported answers took longer than "
                                                 f"{lim.wall_s:.0f} s")
            if ticks % 5 == 0 and disk_mb(self.folder / "tmp") > lim.disk_mb:
                raise CheckStepFailed("error", f"checking the exported answers wrote more than {lim.disk_mb:.0f} MB "
                                               "to disk (an oversized model?)")


def validated(raw, expected: list[CheckResult]) -> list[CheckResult]:
    """The worker's answers, trusted only as far as the grader's own list of checks allows."""
    got = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            got[(item["name"], item.get("question"))] = item
    out = []
    for c in expected:
        item = got.get((c.name, c.question), {})
        status = item.get("status")
        if status not in CHECK_STATUSES:
            status, message = "error", "the check step returned no verdict for this check"
        else:
            message = str(item.get("message", ""))[:MAX_MESSAGE]
        out.append(CheckResult(name=c.name, question=c.question, max_points=c.max_points, status=status,
                               message=message, hidden=c.hidden))
    return out


def _measurements(raw) -> dict:
    if not isinstance(raw, dict):
        return {}
    return {str(k)[:100]: float(v) for k, v in list(raw.items())[:200] if isinstance(v, (int, float))}


# -- the worker side ---------------------------------------------------------------------------------

def _release_memory() -> None:
    """Give back what one submission's checks loaded (models, test data) before the next kernel runs beside us."""
    import ctypes
    import gc

    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _serve(folder: Path) -> int:
    import autograder  # noqa: F401  (numerics flags before TensorFlow)
    from autograder.check_api import Artifacts
    from autograder.engine.check_runner import run_checks

    from autograder.engine.in_kernel import import_tensorflow

    try:
        import_tensorflow()   # warm: the checks of most practicals need it (01's import scikit-learn themselves)
    except ImportError:
        pass
    for line in sys.stdin:
        if not line.startswith("go "):
            continue
        req = json.loads(Path(line[3:].strip()).read_text())
        try:
            hidden = None
            if req["hidden"]:
                with np.load(req["hidden"], allow_pickle=False) as z:
                    hidden = {k: z[k] for k in z.files}
            by_question = {q: Artifacts(p, hidden) for q, p in req["snapshots"].items()}
            checks = run_checks(req["module"], by_question, missing=req["missing"], language=req.get("language", "en"))
            measurements = {k: v for a in by_question.values() for k, v in a.measurements.items()}
            response = {"checks": [c.__dict__ for c in checks], "measurements": measurements}
        except Exception as e:  # the grader's own failure on this submission: reported, the worker goes on
            response = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        Path(req["response"]).write_text(json.dumps(response))
        by_question = hidden = None
        _release_memory()
        sys.stdout.write("done\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve(Path(sys.argv[1])))
