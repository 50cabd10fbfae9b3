"""The command line: bad input gets one line on stderr and exit code 2, never a traceback, and changes nothing;
the console's wording; stale job folders of a killed run are cleaned at the next start."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from autograder.report import store

REPO = Path(__file__).resolve().parents[1]

GRADE = ["grade", "submitted", "--out", "grades", "--no-progress"]
BAD = {
    "shard i > n": [*GRADE, "--shard", "3/2"],
    "shard not i/n": [*GRADE, "--shard", "abc"],
    "shard 0": [*GRADE, "--shard", "0/2"],
    "timeout not a number": [*GRADE, "--timeout", "abc"],
    "timeout negative": [*GRADE, "--timeout", "-1"],
    "timeout of an unknown assignment": [*GRADE, "--timeout", "99-x=30"],
    "timeout nan": [*GRADE, "--timeout", "01-sklearn=nan"],
    "memory negative": [*GRADE, "--memory", "-5"],
    "memory zero": [*GRADE, "--memory", "0"],
    "workers negative": [*GRADE, "--workers", "-1"],
    "workers not an integer": [*GRADE, "--workers", "two"],
    "seed not an integer": [*GRADE, "--seed", "x"],
    "unknown assignment": [*GRADE, "--assignment", "99-x"],
    "unknown status": [*GRADE, "--status", "bogus"],
    "student with no submission": [*GRADE, "--student", "nobody"],
    "assignment with no submission": [*GRADE, "--assignment", "01-sklearn"],
    "release unknown": ["release", "99-x"],
    "ci unknown": ["ci", "99-x"],
    "ci workers negative": ["ci", "--workers", "-3"],
    "classroom unknown": ["export", "--classroom", "99-x", "-o", "workflow.yml"],
    "gradescope build unknown": ["gradescope", "build", "--assignment", "99-x"],
    "gradescope build missing secret file": ["gradescope", "build", "--secret-file", "missing.txt"],
    "gradescope build empty secret file": ["gradescope", "build", "--secret-file", "empty.txt"],
    "gradescope run unknown": ["gradescope", "run", "submitted", "--assignment", "99-x", "--results", "r.json"],
    "gradescope run timeout": ["gradescope", "run", "submitted", "--timeout", "0", "--results", "r.json"],
    "calibrate unknown": ["calibrate", "99-x", "--dry-run"],
    "calibrate k": ["calibrate", "--k", "0", "--dry-run"],
    "calibrate seeds": ["calibrate", "--seeds", "1,x", "--dry-run"],
    "calibrate workers": ["calibrate", "--workers", "0", "--dry-run"],
}


def snapshot(folder: Path) -> dict:
    """Every file and folder under ``folder`` with its size, mtime and hash."""
    state = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_file():
            st = p.stat()
            state[rel] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            state[rel] = "dir"
    return state


@pytest.fixture
def workspace(tmp_path):
    """A class of one submission (never graded here), an empty course folder and an empty secret file."""
    nb = tmp_path / "submitted" / "alice" / "02-graphs" / "02-graphs.ipynb"
    nb.parent.mkdir(parents=True)
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (tmp_path / "course").mkdir()
    (tmp_path / "empty.txt").write_text("\n")
    return tmp_path


def run_cli(args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, AUTOGRADER_SECRET=os.environ.get("AUTOGRADER_SECRET") or "kit-tests-secret",
               PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "autograder", "--root", str(cwd / "course"), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", list(BAD.values()), ids=list(BAD))
def test_cli_bad_input_is_one_line_exit_2_and_changes_nothing(workspace, args):
    before = snapshot(workspace)
    p = run_cli(args, workspace)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert not lines[0].startswith("usage:")
    assert snapshot(workspace) == before


def test_cli_bad_input_messages_say_what_is_wrong(workspace):
    assert "no submission of student 'nobody' in submitted" in run_cli(BAD["student with no submission"],
                                                                       workspace).stderr
    err = run_cli(BAD["unknown assignment"], workspace).stderr
    assert "unknown assignment '99-x'" in err and "02-graphs" in err        # the known names
    assert "between 1 and n" in run_cli(BAD["shard i > n"], workspace).stderr
    assert "invalid choice: 'bogus'" in run_cli(BAD["unknown status"], workspace).stderr
    assert "missing.txt" in run_cli(BAD["gradescope build missing secret file"], workspace).stderr


def test_cli_accepted_values_parse():
    from autograder.cli import build_parser

    a = build_parser().parse_args(["grade", "x", "--workers", "0", "--shard", "2/4", "--timeout", "60",
                                   "--timeout", "01-sklearn=20", "--memory", "2500", "--status", "timeout",
                                   "--assignment", "02-graphs"])
    assert (a.workers, a.shard, a.memory, a.status, a.assignment) == (0, (2, 4), 2500.0, ["timeout"], ["02-graphs"])
    assert a.timeout == [(None, 60.0), ("01-sklearn", 20.0)]
    assert build_parser().parse_args(["ci", "02-graphs", "--workers", "3"]).workers == 3
    assert build_parser().parse_args(["calibrate", "--seeds", "1, 2"]).seeds == "1, 2"


def _fake_run(batch, workers):
    from autograder.results import SubmissionResult

    def fake(subs, out, options=None):  # no notebook runs
        for s in subs:
            r = SubmissionResult(assignment=s.label, submission=str(s.path), status="graded", student=s.student)
            store.write_result(r, store.result_path(out, s))
        return batch.BatchRun(graded=list(subs), skipped=[], statuses=Counter(), wall_s=0.0, workers=workers)
    return fake


def test_cli_grade_summary_wording(workspace, monkeypatch, capsys):
    from autograder import batch, cli

    monkeypatch.setenv("AUTOGRADER_SECRET", "kit-tests-secret")
    monkeypatch.setattr(batch, "run_batch", _fake_run(batch, 1))
    base = ["grade", str(workspace / "submitted"), "--out", str(workspace / "grades"), "--no-export",
            "--no-progress"]
    assert cli.main(base) == 0
    out = capsys.readouterr().out
    assert "1 submission (1 graded); 1 graded now in 0.0 s with 1 worker, 0 already graded" in out
    assert "alice" in out.split("student")[1]                              # the table's student column
    assert cli.main([*base, "--status", "timeout"]) == 0                    # none recorded with that status
    out = capsys.readouterr().out
    assert "0 submissions; 0 graded now in 0.0 s, 0 already graded" in out and "()" not in out


def test_cli_table_has_a_student_column():
    from autograder.report.console import table
    from autograder.results import SubmissionResult

    text = table([SubmissionResult(assignment="02-graphs", submission="s/x.ipynb", status="graded",
                                   student="bob")], details=False)
    header, row = text.split("\n")[-2:]
    assert header.split()[:3] == ["assignment", "student", "status"]
    assert row.split()[:3] == ["02-graphs", "bob", "graded"]


def test_cli_stale_job_folders_of_dead_processes_are_removed(tmp_path):
    import time

    from autograder.batch import OWNER, clean_stale_jobs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folders = {}
    for name, pid, age in (("ag-job-dead", dead.pid, 0), ("ag-checks-dead", dead.pid, 0),
                           ("ag-job-alive", os.getpid(), 0), ("ag-job-new-no-pid", None, 0),
                           ("ag-checks-old-no-pid", None, 7200), ("ag-zygote-dead", dead.pid, 0),
                           ("ag-retrace-dead", dead.pid, 0), ("other-dead", dead.pid, 0)):
        d = folders[name] = tmp_path / name
        (d / "work").mkdir(parents=True)
        if pid is not None:
            (d / OWNER).write_text(str(pid))
        if age:
            os.utime(d, (time.time() - age, time.time() - age))
    removed = clean_stale_jobs(tmp_path)
    assert sorted(p.name for p in removed) == ["ag-checks-dead", "ag-checks-old-no-pid", "ag-job-dead", "ag-retrace-dead",
                                                "ag-zygote-dead"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ag-job-alive", "ag-job-new-no-pid", "other-dead"]


def test_cli_check_worker_records_its_owner():
    from autograder.batch import OWNER
    from autograder.engine.check_worker import CheckWorker

    w = CheckWorker()
    w.start()
    try:
        assert (w.folder / OWNER).read_text() == str(os.getpid())
    finally:
        w.close()


def test_cli_data_says_whether_the_imagenet_weights_are_there(tmp_path):
    """Optional: without them 05's ImageNet checks are skipped, which an instructor should know before grading."""
    from autograder.datasets import IMAGENET

    env = dict(os.environ, KERAS_HOME=str(tmp_path))
    run = lambda: subprocess.run([sys.executable, "-m", "autograder", "data"], cwd=REPO, env=env,  # noqa: E731
                                 capture_output=True, text=True, timeout=300)
    out = run()
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Fashion-MNIST test: 10000 images" in out.stdout
    assert "ImageNet weights: missing, so 05's three ImageNet checks are skipped" in out.stdout
    assert all(str(tmp_path / "models" / name) in out.stdout for name in IMAGENET.files)   # where to put them
    (tmp_path / "models").mkdir(exist_ok=True)
    for name in IMAGENET.files:
        (tmp_path / "models" / name).write_bytes(b"")
    out = run()
    assert f"ImageNet weights: in {tmp_path / 'models'} (05's ImageNet checks run)" in out.stdout
