"""The kernel's twin (engine/twin.py): the clean re-trace forked from the kernel before any student code ran.

What the student's kernel can do to it is tried from a student's cell, in a real sandboxed kernel: reach its
memory, file descriptors or pipes (it must fail), and kill it (the grader must then re-trace in a fresh process
and reach the same verdict).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autograder import practicals
from autograder.engine import sandbox
from autograder.engine.limits import TWIN_PIDS
from autograder.grade import grade_notebook
from autograder.paths import REPO
from helpers import mutate, not_passed

A = practicals.get("02-graphs")
KEY = A.solution_notebook(REPO)
SUM = "return tf.reduce_sum(tf.square(y - predict(x)))"
# a correct total_error that computes for a second in Python each time it is traced (no operation added): the
# twin is still tracing when the cell after it runs
SLOW = "for i in range(10**7):\n        pass\n    " + SUM
PROBE = '''
import ctypes, os, signal
def _children(pid):
    kids = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(pid):
                kids.append(int(p))
        except OSError:
            pass
    return kids
_twins = _children(os.getpid())
_reached = []
for _p in _twins:
    for _f in ("mem", "environ", "maps"):
        try:
            open(f"/proc/{_p}/{_f}", "rb").read(1)
            _reached.append(_f)
        except OSError:
            pass
    try:
        _reached += [os.readlink(f"/proc/{_p}/fd/{fd}") for fd in os.listdir(f"/proc/{_p}/fd")]
    except OSError:
        pass
    if ctypes.CDLL(None).ptrace(16, _p, 0, 0) == 0:   # PTRACE_ATTACH
        _reached.append("ptrace")
for _fd in os.listdir("/proc/self/fd"):
    try:
        if "twin-" in os.readlink(f"/proc/self/fd/{_fd}"):
            _reached.append(_fd)
    except OSError:
        pass   # the listing's own descriptor
assert _twins and not _reached, (_twins, _reached)
for _p in _twins:
    os.kill(_p, signal.SIGKILL)
'''

pytestmark = pytest.mark.skipif(not sandbox.available()[0] or os.geteuid() != 0,
                                reason="the twin needs the sandbox and a root grader")


def test_the_answer_key_is_re_traced_by_its_kernels_twin(tmp_path):
    result = grade_notebook(mutate(KEY, tmp_path, []))
    assert result.status == "graded" and result.score == result.max_score, result.reason
    assert result.timings["retrace"] == "twin", result.timings
    assert not any("re-traced" in n for n in result.notes), result.notes


def graded_keeping_job(path):
    before = set(Path(tempfile.gettempdir()).glob("ag-job-*"))
    result = grade_notebook(path, keep_jobs=True)
    mine = Path(path).read_bytes()
    twins = []
    for job in set(Path(tempfile.gettempdir()).glob("ag-job-*")) - before:
        try:   # other tests may grade beside this one (pytest -n): only this submission's job folder counts
            if (job / "work" / Path(path).name).read_bytes() == mine:
                twins.append(len((job / TWIN_PIDS).read_text().split()))
                shutil.rmtree(job, ignore_errors=True)
        except OSError:
            pass
    return result, twins


def test_the_kernel_cannot_reach_its_twin_and_killing_it_changes_no_verdict(tmp_path):
    """The student's cell finds the twin (the kernel's child) while it traces: no /proc memory, environment,
    maps or descriptors, no ptrace, no pipe of its own; it kills it, and the fresh process gives the verdict."""
    result, twins = graded_keeping_job(mutate(KEY, tmp_path, [(SUM, SLOW + "\n" + PROBE)]))
    assert result.status == "graded", result.reason
    assert twins == [1]   # found before the student's code ran (still tracing): its CPU time is not the notebook's
    assert not any("raised" in n for n in result.notes), result.notes   # the probe's assertion holds
    assert result.timings["retrace"].startswith("process (the twin stopped"), result.timings
    assert not_passed(result) == set(), {c.name: c.message for c in result.checks if c.status != "passed"}
