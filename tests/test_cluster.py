"""Grading on a Dask cluster: a real scheduler and real worker processes on this machine, one killed mid-batch;
the worker plugin's refusals; the Slurm and Kubernetes recipes of docs/cluster.md built without a cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from autograder import batch, datasets, mutants, practicals
from autograder.cluster import GradingPlugin, kit_fingerprint, requirements_missing
from autograder.engine.kernels import kernel_env
from autograder.paths import REPO
from autograder.report import store
from autograder.secret import ENV

BIN = Path(sys.executable).parent
KEY01 = practicals.get("01-sklearn").solution_notebook(REPO)
BLANK01 = practicals.get("01-sklearn").release_notebook(REPO)
KEY02 = practicals.get("02-graphs").solution_notebook(REPO)
DOCS = REPO / "docs" / "cluster.md"


def make_class(root: Path) -> Path:
    """nbgrader's layout: four real notebooks, a mistake and a notebook that kills its own kernel among them."""
    import nbformat

    sub = root / "submitted"

    def put(student, assignment):
        p = sub / student / assignment / f"{assignment}.ipynb"
        p.parent.mkdir(parents=True)
        return p

    put("alice", "02-graphs").write_bytes(KEY02.read_bytes())
    mutants.apply_edits(KEY02, put("carol", "02-graphs"), next(m for m in mutants.load("02-graphs") if m[0] == "mean-not-sum")[1])
    put("dave", "01-sklearn").write_bytes(KEY01.read_bytes())
    nb = nbformat.read(BLANK01, as_version=4)
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")).source = "import os\nos._exit(1)"
    nbformat.write(nb, put("erin", "01-sklearn"))
    return sub


def start(args, log: Path, env: dict, cwd: Path) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "wb"), env=env, cwd=cwd,
                            start_new_session=True)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a worker and everything it started (its kernels too): a node lost."""
    try:
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait()


def wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def verdicts(out: Path) -> dict:
    return {p.name: (r.status, r.score, r.max_score, r.sha256, [(c.name, c.status) for c in r.checks])
            for p in sorted((out / store.RESULTS).glob("*.json")) if (r := store.read_result(p))}


def test_a_class_on_two_workers_one_killed_matches_the_local_batch(tmp_path):
    sub = make_class(tmp_path)
    subs, _ = batch.discover([sub])
    limits = dict(timeout=None, timeouts={"01-sklearn": 60}, memory_mb=2500, progress=False)
    local = tmp_path / "local"
    batch.run_batch(subs, local, batch.BatchOptions(workers=2, **limits))

    # the workers get no secret of their own: the grading plugin brings it
    env = {k: v for k, v in os.environ.items() if k != ENV}
    sched_file = tmp_path / "scheduler.json"
    procs = [start([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", sched_file], tmp_path / "scheduler.log",
                   dict(env, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="2"), tmp_path / "s")]
    tmps = {}   # the workers' short temporary folders, outside tmp_path: removed below
    try:
        wait_for(sched_file.exists, 60, "the scheduler")
        time.sleep(0.5)
        address = json.loads(sched_file.read_text())["address"]
        workers = {}
        for name, threads in (("A", 1), ("B", 1), ("wide", 2)):  # "wide" must be refused: checks are not thread safe
            # a short TMPDIR: a kernel's unix socket lives under it, and socket paths are limited to 107 bytes
            tmps[name] = Path(tempfile.mkdtemp(prefix=f"ag-t{name}-", dir="/tmp"))
            workers[name] = start([BIN / "dask", "worker", address, "--no-nanny", "--nthreads", str(threads),
                                   "--no-dashboard", "--name", name], tmp_path / f"{name}.log",
                                  dict(env, TMPDIR=str(tmps[name])), tmp_path / name / "cwd")
        procs += workers.values()
        wait_for(lambda: all("Registered to" in (tmp_path / f"{n}.log").read_text() for n in workers), 120,
                 "the workers")

        out = tmp_path / "cluster"
        cli = subprocess.Popen([BIN / "autograder", "grade", sub, "--scheduler", address, "--out", out,
                                "--no-progress", "--brief", "--no-feedback"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        # node A is lost while it grades a submission (its temporary copy of the notebook exists)
        wait_for(lambda: list(tmps["A"].glob("ag-sub-*")), 180, "worker A to grade")
        kill_tree(workers["A"])
        in_flight = len(subs) - len(list((out / store.RESULTS).glob("*.json")))
        stdout, stderr = cli.communicate(timeout=300)
        assert cli.returncode == 0, stderr
        assert in_flight >= 1

        assert "refused" in stderr and "--nthreads 1" in stderr, stderr
        assert "--nthreads 1" in (tmp_path / "wide.log").read_text()
        assert wait_for(lambda: workers["wide"].poll() is not None, 30, "the refused worker to leave") is not None

        # past the bound (set to 0 here: a submission gets one worker), a lost worker is a row that says so
        from distributed import Client

        with Client(address) as c:
            c.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
        late = tmp_path / "late" / "zoe" / "01-sklearn" / "01-sklearn.ipynb"
        late.parent.mkdir(parents=True)
        late.write_bytes(KEY01.read_bytes())
        lost = tmp_path / "lost"
        cli = subprocess.Popen([BIN / "autograder", "grade", tmp_path / "late", "--scheduler", address, "--out", lost,
                                "--no-progress", "--brief", "--no-export"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        wait_for(lambda: list(tmps["B"].glob("ag-sub-*")), 180, "worker B to grade")
        kill_tree(workers["B"])
        stdout, stderr = cli.communicate(timeout=120)
        assert cli.returncode == 0, stderr
        zoe = store.read_result(lost / store.RESULTS / "zoe__01-sklearn.json")
        assert (zoe.status, zoe.reason) == ("error", "the grading worker was lost 1 time while grading this submission")
    finally:
        for p in procs:
            kill_tree(p)
        for folder in tmps.values():
            shutil.rmtree(folder, ignore_errors=True)

    # nothing lost, nothing doubled, every verdict the local batch's
    assert sorted(p.name for p in (out / store.RESULTS).iterdir()) == sorted(f"{s.key}.json" for s in subs)
    assert verdicts(out) == verdicts(local), {p.name: (r.status, r.reason, r.notes[-3:]) for p in sorted(
        (out / store.RESULTS).glob("*.json")) if (r := store.read_result(p)) and r.status != "graded"}
    statuses = {name: v[0] for name, v in verdicts(out).items()}
    assert statuses["erin__01-sklearn.json"] == "error"       # killed its own kernel: a result, not a retry
    assert {statuses[f"{s}__02-graphs.json"] for s in ("alice", "carol")} == {"graded"}
    assert verdicts(out)["alice__02-graphs.json"][1] == verdicts(out)["alice__02-graphs.json"][2] > 0
    assert verdicts(out)["carol__02-graphs.json"][1] < verdicts(out)["carol__02-graphs.json"][2]
    assert (out / "grades.csv").is_file()
    # resume: the same command again grades nothing, and needs no cluster for it (none listens there now)
    again = subprocess.run([BIN / "autograder", "grade", sub, "--scheduler", address, "--out", out, "--no-progress",
                            "--brief", "--no-export"], capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0 and "0 graded now" in again.stdout, again.stdout + again.stderr


def test_the_fingerprint_covers_the_notebooks_helper_module(tmp_path, monkeypatch):
    import dl4img

    before = kit_fingerprint()
    other = tmp_path / "dl4img.py"   # a worker with another copy of the helper kernels import
    other.write_text(Path(dl4img.__file__).read_text() + "\nFASHION_CLASSES = ()\n")
    monkeypatch.setattr(dl4img, "__file__", str(other))
    assert kit_fingerprint() != before


def test_the_plugin_refuses_a_worker_that_cannot_grade(tmp_path, monkeypatch):
    assert requirements_missing(1, kit_fingerprint()) == []
    monkeypatch.setattr(datasets, "FASHION", dataclasses.replace(datasets.FASHION, offline_dirs=()))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("AUTOGRADER_NO_SANDBOX", "1")
    problems = " ".join(requirements_missing(4, "another-kit"))
    for needed in ("differs from the client's", "Fashion-MNIST is missing", "no sandbox", "--nthreads 1"):
        assert needed in problems


def test_the_secret_reaches_the_grader_and_never_a_kernel(tmp_path, monkeypatch):
    import pickle

    plugin = pickle.loads(pickle.dumps(GradingPlugin("s3cret-course", kit_fingerprint())))
    assert plugin.secret == "s3cret-course" and plugin.pool is None
    monkeypatch.setenv(ENV, plugin.secret)
    assert "s3cret-course" not in json.dumps(kernel_env(tmp_path, tmp_path, "cpu"))


def _docs_block(title: str) -> str:
    """The python block of docs/cluster.md that follows the line naming ``title``."""
    text = DOCS.read_text()
    match = re.search(re.escape(title) + r".*?```python\n(.*?)```", text, re.S)
    assert match, f"no python block after {title!r} in {DOCS}"
    return match.group(1)


def test_the_slurm_recipe_builds_a_valid_job_script():
    scope = {"__name__": "docs"}  # the recipe's `if __name__ == "__main__":` part waits for jobs: not run here
    exec(_docs_block("slurm_cluster.py"), scope)
    cluster = scope["cluster"]
    try:
        script = cluster.job_script()
        assert script.startswith("#!/usr/bin/env bash") and "#SBATCH" in script
        assert re.search(r"--nthreads 1\b", script) and "--nworkers" in script
        assert "export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1" in script   # a core per grader
        assert f"{ENV}" not in script   # the secret comes with the plugin, never in a job script on disk
        assert cluster.scheduler_address.startswith("tcp://")
    finally:
        cluster.close()


def test_the_kubernetes_recipe_builds_a_valid_cluster_spec():
    scope = {"__name__": "docs"}
    exec(_docs_block("kubernetes_cluster.py"), scope)
    spec = scope["spec"]
    assert spec["apiVersion"] == "kubernetes.dask.org/v1" and spec["kind"] == "DaskCluster"
    worker = spec["spec"]["worker"]["spec"]["containers"][0]
    assert "--nthreads" in worker["args"] and worker["args"][worker["args"].index("--nthreads") + 1] == "1"
    env = {e["name"]: e["value"] for e in worker["env"]}
    assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == "1"
    assert ENV not in json.dumps(spec)
    scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
    assert scheduler["image"] == worker["image"]
