"""The kernel factory (engine/zygote.py): kernels forked from one TensorFlow import, each isolated as a kernel
launched through bubblewrap is. Tried from a student's cell in real kernels, beside a launched kernel."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder import practicals
from autograder.engine import sandbox, zygote
from autograder.engine.execute import execute
from autograder.engine.kernels import THREAD_VARS, start_job
from autograder.engine.limits import process_tree
from autograder.grade import load_submission
from autograder.paths import REPO
from helpers import mutate

pytestmark = pytest.mark.skipif(not sandbox.available()[0] or os.geteuid() != 0,
                                reason="the kernel factory needs the sandbox and a root grader")


@pytest.fixture(autouse=True)
def factory_on(monkeypatch):
    monkeypatch.delenv("AUTOGRADER_NO_ZYGOTE", raising=False)

A = practicals.get("02-graphs")
KEY = A.solution_notebook(REPO)
ANSWER_END = "return np.sum(w * x, axis=1) + b\n    ### END SOLUTION"   # code appended here runs as the student's

PROBE = r'''
import json as _json, os as _os, resource as _resource, socket as _socket, sys as _sys
_info = {"pid": _os.getpid(), "uid": _os.getuid(), "groups": _os.getgroups(), "cwd": _os.getcwd(),
         "root": sorted(_os.listdir("/")), "tmp": sorted(_os.listdir("/tmp")), "shm": _os.listdir("/dev/shm"),
         "jobs": sorted(_os.listdir(_os.path.dirname(_os.path.dirname(_os.getcwd())))),
         "job": sorted(_os.listdir(_os.path.dirname(_os.getcwd()))),
         "procs": sorted(p for p in _os.listdir("/proc") if p.isdigit()),
         "init": open("/proc/1/cmdline").read(), "group": [_os.getpgid(0), _os.getsid(0)],
         "env": sorted(_os.environ), "path": _sys.path[:3], "keras": "keras" in _sys.modules,
         "threads": [_os.environ.get(v) for v in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")],
         "tempdir": _os.path.relpath(__import__("tempfile").gettempdir(), _os.getcwd()), "sigchld": str(__import__("signal").getsignal(17)),
         "limits": [_resource.getrlimit(getattr(_resource, r)) for r in ("RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE")]}
_info.update({l.split(":")[0]: l.split(":")[1].strip() for l in open("/proc/self/status").read().splitlines()
              if l.startswith(("Cap", "NoNewPrivs"))})
try:
    _socket.create_connection(("127.0.0.1", 22), timeout=1)
    _info["network"] = "open"
except OSError as _e:
    _info["network"] = "blocked: " + type(_e).__name__
for _name in ("/dev/shm/mine", "/tmp/mine"):
    try:
        open(_name, "w").close()
        _info[_name] = "written"
    except OSError:
        _info[_name] = "read-only"
print("INFO" + _json.dumps(_info))
'''


def probe(tmp_path: Path, name: str, keep: Path) -> dict:
    path = mutate(KEY, tmp_path / name, [(ANSWER_END, ANSWER_END + "\n" + PROBE)])
    nb, assignment, _ = load_submission(path)
    run = execute(nb, assignment, None, keep=keep, then=None)
    assert run.status == "ok", run.reason
    executed = nbformat.read(run.executed, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "INFO" in text, run.cell_errors
    return json.loads(text.split("INFO", 1)[1].splitlines()[0])


def test_a_forked_kernel_is_isolated_as_a_launched_one_and_sees_no_other_job(tmp_path, monkeypatch):
    jobs = tmp_path / "jobs"
    decoy = jobs / "ag-job-classmate" / "work"
    decoy.mkdir(parents=True)
    (decoy / "answers.ipynb").write_text("{}")
    for var in THREAD_VARS:   # a batch worker's share of the cores reaches its kernels, forked or launched
        monkeypatch.setenv(var, "1")
    forked = probe(tmp_path, "forked", jobs)
    second = probe(tmp_path, "second", jobs)
    monkeypatch.setenv("AUTOGRADER_NO_ZYGOTE", "1")
    launched = probe(tmp_path, "launched", jobs)

    assert forked["pid"] == launched["pid"] == 2   # under an init of its own, as under bwrap
    assert "bwrap" not in forked["init"] and "bwrap" in launched["init"], (forked["init"], launched["init"])
    assert forked["keras"] is False   # 02's kernel, as its preamble imports TensorFlow
    for info in (forked, second, launched):
        assert info["uid"] >= sandbox.UID_BASE and info["groups"] == []
        assert {info[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} == {"0000000000000000"}
        assert info["NoNewPrivs"] == "1"
        assert info["network"].startswith("blocked")
        assert info["jobs"] == [Path(info["cwd"]).parent.name]   # neither the classmate's job nor the other kernel's
        assert info["job"] == ["runtime", "work"]
        # its own /tmp: the way to its job folder (and to the kit, where it lives in /tmp); /tmp and /dev/shm
        # read-only, as bwrap makes them
        assert Path(info["cwd"]).relative_to("/tmp").parts[0] in info["tmp"], info["tmp"]
        assert info["shm"] == [] and info["/dev/shm/mine"] == info["/tmp/mine"] == "read-only"
    assert forked["tmp"] == second["tmp"] == launched["tmp"]
    assert forked["procs"] == ["1", "2", "3"]   # its init, itself, its twin: no process of the grader or other kernels
    # the same view, environment, import path, limits, temporary folder and signal handling as a launched kernel (the factory's empty data folder
    # aside)
    assert set(forked["root"]) - {zygote.DATA.name} == set(launched["root"])
    assert forked["threads"] == launched["threads"] == ["1", "1"]
    for key in ("env", "path", "limits", "tempdir", "sigchld", "group"):
        assert forked[key] == launched[key], key


def test_a_runaway_cell_of_a_forked_kernel_with_a_twin_is_interrupted(tmp_path, monkeypatch):
    """ipykernel interrupts its own process group: a kernel that was PID 1 sent that to its twin only (kill(-1)
    spares the caller, and succeeds once another process got it), and the loop ran to the notebook's limit."""
    import dataclasses

    from autograder.grade import grade_notebook

    monkeypatch.setitem(practicals.REGISTRY, A.name, dataclasses.replace(A, cell_cpu_s=4))
    path = mutate(KEY, tmp_path / "loop", [(ANSWER_END, ANSWER_END + "\nwhile True:\n    pass")])
    result = grade_notebook(path, timeout_s=60)
    assert result.status == "graded" and result.score == result.max_score, (result.reason, result.notes)
    assert any("was stopped: it used more than 4 s of CPU time" in n for n in result.notes), result.notes


def test_a_forked_kernel_goes_away_with_its_execution_worker(tmp_path):
    """The worker exits without shutting its kernel down (a launched kernel's bwrap dies with it): the client
    must die with it too, or the kernel runs on, idle, until the grader exits (the bench's part (a) left three)."""
    nb, assignment, _ = load_submission(KEY)
    run = execute(nb, assignment, None, keep=tmp_path, then=None)
    assert run.status == "ok", run.reason
    factory = psutil.Process(zygote.get(tmp_path, [], "cpu", dict(os.environ)).proc.pid)
    deadline, left = time.monotonic() + 10, ["?"]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in psutil.process_iter(["cmdline"]) if str(run.job) in " ".join(p.info["cmdline"] or [])]
        left += process_tree(factory)[2:]   # bwrap, the factory, then what it forked for each kernel
    assert not left, [p.cmdline()[:4] for p in left]


def test_the_students_of_one_class_folder_share_a_factory_that_hides_the_whole_folder(tmp_path):
    """Each student's notebook hides its own folders (grade.hidden_from_kernel): a factory keyed on all of them
    was started again for every student of a batch (a TensorFlow import each, 1.9 s of CPU), not once."""
    from autograder.grade import hidden_from_kernel

    klass, jobs = tmp_path / "class", tmp_path / "jobs"
    ann, ben = (klass / name / "02-graphs" / "02-graphs.ipynb" for name in ("ann", "ben"))
    for path in (ann, ben):
        path.parent.mkdir(parents=True)
        path.write_bytes(KEY.read_bytes())
    jobs.mkdir()
    first = zygote.get(jobs, hidden_from_kernel(ann), "cpu", dict(os.environ))
    assert zygote.get(jobs, hidden_from_kernel(ben), "cpu", dict(os.environ)) is first
    looks = f"\nprint('SEES', [__import__('os').path.exists(p) for p in {[str(ann), str(ben), str(klass)]!r}])"
    nb, assignment, _ = load_submission(mutate(KEY, tmp_path / "probe", [(ANSWER_END, ANSWER_END + looks)]))
    run = execute(nb, assignment, None, keep=jobs, hide=hidden_from_kernel(ben), then=None)
    assert run.status == "ok", run.reason
    text = "".join(o.get("text", "") for c in nbformat.read(run.executed, as_version=4).cells
                   for o in c.get("outputs", []))
    assert "SEES [False, False, False]" in text, text[-500:]
    assert [z for z in zygote._zygotes.values() if z.key[0] == jobs.resolve()] == [first]   # its kernel's too


def _send_factory_pid(jobs_root: Path, pipe) -> None:
    pipe.send(zygote.get(jobs_root, [], "cpu", dict(os.environ)).proc.pid)
    time.sleep(60)


def test_a_process_forked_from_a_grader_with_a_factory_starts_its_own(tmp_path):
    """A process pool forked from a grader that had a factory: the child waited for ever on the parent's spawner
    thread (which a fork does not copy), and would have removed the parent's socket."""
    import multiprocessing

    mine = zygote.get(tmp_path, [], "cpu", dict(os.environ))
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_send_factory_pid, args=(tmp_path, send))
    child.start()
    try:
        assert receive.poll(60), "the forked process got no factory in 60 s"
        assert receive.recv() != mine.proc.pid
    finally:
        child.kill()
        child.join()
    assert mine.alive() and mine.socket_path.exists()


def test_a_client_killed_takes_its_kernel_down(tmp_path):
    job = start_job(A, seed=0, keep=tmp_path)
    try:
        deadline, kernel = time.monotonic() + 60, None
        while kernel is None and time.monotonic() < deadline:   # the worker starts the client, the client the kernel
            kernel = next((k for p in process_tree(psutil.Process(job.proc.pid)) if (k := zygote.adopted(p.pid))), None)
            time.sleep(0.1)
        assert kernel is not None, "no kernel forked by the factory"
        client = next(p for p in psutil.Process(job.proc.pid).children() if "connect" in p.cmdline())
        client.send_signal(signal.SIGKILL)
        gone, alive = psutil.wait_procs([kernel], timeout=10)
        assert not alive, kernel
    finally:
        job.discard()


def test_a_kernel_is_launched_as_before_when_the_factory_cannot_serve(tmp_path, monkeypatch):
    """A factory that died (or refuses) costs its saving, not the submission: the client runs the launcher."""
    factory = zygote.get(tmp_path / "jobs", [], "cpu", dict(os.environ))
    (tmp_path / "jobs").mkdir()
    for p in psutil.Process(factory.proc.pid).children():   # the factory (or bwrap's child, not yet it)
        p.kill()
    factory.proc.kill()
    factory.proc.wait()
    monkeypatch.setattr(zygote.Zygote, "alive", lambda self: True)
    info = probe(tmp_path, "alice", tmp_path / "jobs")
    assert info["pid"] == 2   # under bwrap's own init, as launched
    assert info["jobs"] == [Path(info["cwd"]).parent.name]


def serve(tmp_path: Path, prelude: str, *, under_bwrap: bool) -> str:
    """The factory's loop in a process of its own (under a plain bwrap, as the grader starts it, or not): its
    standard error once it stopped."""
    import subprocess

    code = (prelude + "\nfrom autograder.engine import zygote\nimport socket\ns = socket.socket(socket.AF_UNIX)\n"
            f"s.bind({str(tmp_path / 's')!r}); s.listen()\nzygote._serve(s.fileno(), '/tmp')\n")
    bwrap = ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc"] if under_bwrap else []
    out = subprocess.run([*bwrap, sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr[-500:]
    return out.stderr


def test_the_factory_serves_nothing_when_its_imports_started_a_thread(tmp_path):
    """A fork copies only the forking thread: a lock another thread held would stay held in every kernel."""
    prelude = ("import importlib.abc, sys, threading, time\n"
               "class StartsAThread(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path, target=None):\n"
               "        if name == 'ipykernel.kernelapp':\n"
               "            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
               "sys.meta_path.insert(0, StartsAThread())\n")
    assert "1 threads started by the imports; not serving" in serve(tmp_path, prelude, under_bwrap=True)


def test_a_factory_whose_bwrap_is_gone_serves_nothing(tmp_path):
    """bwrap killed before the factory ran (a grader's start-up cut short) would leave it serving, parentless."""
    assert "not bwrap; not serving" in serve(tmp_path, "", under_bwrap=False)


def test_a_factory_whose_bwrap_is_killed_while_it_starts_goes_away(tmp_path):
    factory = zygote.get(tmp_path, [], "cpu", dict(os.environ))
    try:
        factory.proc.kill()   # at once: bwrap may not have armed its child's parent-death signal yet
        factory.proc.wait()
        deadline, left, mine = time.monotonic() + 20, ["?"], []
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            mine = [p for p in psutil.process_iter(["cmdline", "name"])
                    if "serve" in (p.info["cmdline"] or []) and str(tmp_path) in (p.info["cmdline"] or [])]
            # bwrap's own child, killed before it ran the factory, may wait for ever for its dead parent (as a
            # launched kernel's would): only the factory counts here
            left = [p for p in mine if p.info["name"] != "bwrap"]
        assert not left, left
    finally:
        for p in mine:
            p.kill()
        factory.close()


def _start_factory_and_die(jobs_root: Path, pipe) -> None:
    """Start a factory, and be killed the moment its process exists: before bwrap can arm its own parent-death
    signal."""
    import subprocess

    real = subprocess.Popen

    class DyingPopen(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pipe.send(self.pid)
            os.kill(os.getpid(), signal.SIGKILL)

    subprocess.Popen = DyingPopen
    zygote.get(jobs_root, [], "cpu", dict(os.environ))


def test_a_grader_killed_while_its_factory_starts_leaves_no_factory(tmp_path):
    """A grading process killed as it starts its factory (a batch stopped, a worker killed) left bwrap and the
    factory running under init, for ever."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_start_factory_and_die, args=(tmp_path, send))
    child.start()
    child.join(60)
    assert receive.poll(1), "the process never started its factory"
    started = receive.recv()
    deadline = time.monotonic() + 20
    while True:
        left = [p for p in psutil.process_iter(["cmdline"])
                if p.pid == started or str(tmp_path) in " ".join(p.info["cmdline"] or [])]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for p in left:
        p.kill()
    assert not left, [(p.pid, p.info["cmdline"][:3]) for p in left]
