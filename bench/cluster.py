"""Overhead of grading on Dask: the bench's 20-submission class of 02 graded locally and through 1 and 2 Dask workers.

    python bench/cluster.py [--n 20] [--workers 2]

Side by side on this machine, with the same cores: ``autograder grade DIR --workers N`` (the local batch) and
``autograder grade DIR --scheduler ADDRESS`` against a ``dask scheduler`` with 1, then N ``dask worker
--nthreads 1`` processes started (and registered) before the clock starts. Every run is the whole command
(start-up, plugin, grading, exports), into a fresh folder; verdicts must be the local batch's. Goal: the cluster
with N workers within 10 % of the local batch with N workers. Prints a markdown table and the load average.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (re-runs this in the kit's venv; the same class as part b)

BIN = Path(sys.executable).parent


def grade(folder: Path, out: Path, *extra: str) -> tuple[float, dict]:
    t0 = time.monotonic()
    proc = subprocess.run([BIN / "autograder", "grade", folder, "--out", out, "--no-progress", "--brief", *extra],
                          capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"autograder grade {' '.join(extra)} failed: {proc.stderr[-2000:]}")
    verdicts = {p.name: (d["status"], d["score"]) for p in (out / "results").glob("*.json")
                if (d := json.loads(p.read_text()))}
    return wall, verdicts


def on_dask(folder: Path, out: Path, workers: int, tmp: Path) -> tuple[float, dict]:
    sched_file = tmp / f"scheduler-{workers}.json"
    procs = [subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", sched_file], stderr=subprocess.DEVNULL)]
    try:
        while not sched_file.exists():
            time.sleep(0.2)
        time.sleep(0.5)
        for _ in range(workers):
            procs.append(subprocess.Popen([BIN / "dask", "worker", "--scheduler-file", sched_file, "--no-nanny",
                                           "--nthreads", "1", "--no-dashboard"], stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(scheduler_file=str(sched_file)) as c:
            c.wait_for_workers(workers, timeout=300)
        address = json.loads(sched_file.read_text())["address"]
        return grade(folder, out, "--scheduler", address)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ag-bench-cluster-") as t:
        tmp = Path(t)
        bench.make_submissions(args.n, tmp / "submitted")
        load = [bench.loadavg()]
        local_s, local = grade(tmp / "submitted", tmp / "local", "--workers", str(args.workers))
        rows = [("local batch", args.workers, local_s)]
        for w in sorted({1, args.workers}):
            wall, verdicts = on_dask(tmp / "submitted", tmp / f"dask-{w}", w, tmp)
            if verdicts != local:
                sys.exit(f"verdicts with {w} Dask workers differ from the local batch's")
            rows.append(("Dask", w, wall))
        load.append(bench.loadavg())
    print(f"| {args.n} submissions of 02 | workers | wall (s) | vs local batch |\n|---|---|---|---|")
    for how, w, wall in rows:
        print(f"| {how} | {w} | {wall:.1f} | {wall / local_s:.2f}x |")
    print(f"\nload average before/after: {load[0]} / {load[1]}; {bench.machine()['cores']} cores, same verdicts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
