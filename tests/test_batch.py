"""Batch grading of a class: layouts, parallel workers, statuses, resume after kill -9, shards, re-grades.

The class mixes real practical-02 notebooks (answer key, blank, a mutant: the only expensive ones) with cheap
broken submissions. Everything goes through the `autograder grade` command line, as an instructor runs it.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.report import store
from autograder import practicals, batch, mutants
from autograder.paths import REPO

KEY02 = practicals.get("02-graphs").solution_notebook(REPO)
BLANK02 = practicals.get("02-graphs").release_notebook(REPO)
BLANK01 = practicals.get("01-sklearn").release_notebook(REPO)
MUTANT = next(w for w in mutants.load("02-graphs") if w[0] == "mean-not-sum")

# the options every run of the class uses: 2 workers, a short limit for the (cheap) practical-01 notebooks
GRADE = ["--workers", "2", "--timeout", "01-sklearn=30", "--memory", "2500"]

# student -> (assignment label, expected status, expected score: "full", "zero", "partial" or None)
EXPECTED = {
    "alice": ("02-graphs", "graded", "full"),
    "bob": ("02-graphs", "graded", "zero"),
    "carol": ("02-graphs", "graded", "partial"),
    "dave": ("01-sklearn", "error", "zero"),       # kills its kernel
    "erin": ("01-sklearn", "timeout", "zero"),     # computes past --timeout
    "frank": ("02-graphs", "memory", "zero"),      # allocates past --memory
    "grace": ("02-graphs", "invalid", None),       # not JSON
    "heidi": ("99-unknown", "invalid", None),      # unknown assignment
    "ivan": ("02-graphs", "invalid", None),        # JSON, not a notebook
    "kate": ("02-graphs", "invalid", None),        # empty file
    "leo": ("02-graphs", "invalid", None),         # notebook JSON that fails the schema
    "pat": ("02-graphs", "invalid", None),         # practical 01's notebook submitted as 02
}


def with_answer(src: Path, dest: Path, code: str) -> Path:
    """``src`` (a released notebook) with its first answer cell replaced by ``code``."""
    nb = nbformat.read(src, as_version=4)
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")).source = code
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def make_class(root: Path) -> Path:
    """nbgrader's layout: submitted/<student>/<assignment>/<notebook>.ipynb."""
    sub = root / "submitted"

    def put(student, assignment, name=None):
        p = sub / student / assignment / (name or f"{assignment}.ipynb")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    put("alice", "02-graphs").write_bytes(KEY02.read_bytes())
    put("alice", "02-graphs", "02-graphs-Copy1.ipynb").write_bytes(BLANK02.read_bytes())  # ignored: a copy
    put("bob", "02-graphs").write_bytes(BLANK02.read_bytes())
    mutants.apply_edits(KEY02, put("carol", "02-graphs"), MUTANT[1])
    with_answer(BLANK01, put("dave", "01-sklearn"), "import os\nos._exit(1)")
    with_answer(BLANK01, put("erin", "01-sklearn"), "while True:\n    pass")
    with_answer(BLANK02, put("frank", "02-graphs"),
                "chunks = []\nwhile True:\n    chunks.append(bytearray(100 * 2**20))")
    put("grace", "02-graphs").write_text("{not json")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["autograder"] = {"assignment": "99-unknown"}
    nbformat.write(nb, put("heidi", "99-unknown"))
    put("ivan", "02-graphs").write_text(json.dumps({"cells": 5}))
    put("kate", "02-graphs").write_text("")
    put("leo", "02-graphs").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                                   "cells": [{"cell_type": "code"}]}))
    put("pat", "02-graphs").write_bytes(BLANK01.read_bytes())
    return sub


def grade_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", *args]


def run_grade(*args, timeout=900) -> subprocess.CompletedProcess:
    proc = subprocess.run(grade_cmd(*args), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def snapshot(out: Path) -> dict[str, str]:
    """Every export as text (the gradebook through nbgrader's API), keyed by its path under ``out``."""
    from nbgrader.api import Gradebook

    files = {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*"))
             if p.is_file() and p.suffix in (".csv", ".json", ".html") and store.RESULTS not in p.parts}
    for name in [n for n in files if n.startswith("gradescope/")]:   # how long grading took is no verdict
        data = json.loads(files[name])
        data.pop("execution_time")
        files[name] = json.dumps(data)
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        files["gradebook"] = "\n".join(map(json.dumps, sorted(   # a line per grade: a readable diff
            (s.student.id, s.assignment.name, g.name, g.score, g.max_score)
            for a in gb.assignments for s in a.submissions for nb in s.notebooks for g in nb.grades)))
    return files


def assert_same_exports(got: dict, want: dict) -> None:
    """``snapshot``s equal; else each differing export as a diff (pytest truncates a dict comparison)."""
    import difflib

    diffs = [f"only in one: {sorted(set(got) ^ set(want))}"] if set(got) != set(want) else []
    for name in sorted(set(got) & set(want)):
        if got[name] != want[name]:
            lines = difflib.unified_diff(want[name].splitlines(), got[name].splitlines(), "clean", "this", n=1,
                                         lineterm="")
            diffs.append(f"{name}:\n" + "\n".join(list(lines)[:40]))
    assert not diffs, "\n".join(diffs)


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    return make_class(tmp_path_factory.mktemp("class"))


@pytest.fixture(scope="module")
def clean(klass, tmp_path_factory):
    """The class graded once, uninterrupted."""
    out = tmp_path_factory.mktemp("clean")
    proc = run_grade(str(klass), "--out", str(out), *GRADE)
    return out, proc


# -- discovery and shards (no grading) ----------------------------------------------------------------------

def test_layouts_are_recognised(tmp_path):
    nbgrader = tmp_path / "course" / "submitted" / "ann" / "02-graphs" / "02-graphs.ipynb"
    plain = tmp_path / "plain" / "ben_02-graphs.ipynb"
    per_student = tmp_path / "plain2" / "cat" / "02-graphs.ipynb"
    per_assignment = tmp_path / "plain3" / "02-graphs" / "dan.ipynb"
    gradescope = tmp_path / "autograder" / "submission" / "02-graphs.ipynb"
    for p in (nbgrader, plain, per_student, per_assignment, gradescope):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(BLANK02.read_bytes())
    got = {(s.student, s.label, s.known) for s in batch.discover([tmp_path])[0]}
    assert got == {("ann", "02-graphs", True), ("ben", "02-graphs", True), ("cat", "02-graphs", True),
                   ("dan", "02-graphs", True), ("submission", "02-graphs", True)}


def test_each_student_assignment_is_one_submission(klass):
    subs, warnings = batch.discover([klass])
    assert sorted(s.student for s in subs) == sorted(EXPECTED)
    assert {s.student: s.label for s in subs} == {k: v[0] for k, v in EXPECTED.items()}
    assert any("02-graphs-Copy1.ipynb" in w for w in warnings)


def test_shards_are_disjoint_balanced_and_deterministic(klass):
    subs, _ = batch.discover([klass])
    shards = [batch.shard(subs, i, 3) for i in (1, 2, 3)]
    keys = [s.key for sh in shards for s in sh]
    assert sorted(keys) == sorted(s.key for s in subs) and len(set(keys)) == len(keys)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [s.key for s in batch.shard(list(reversed(subs)), 2, 3)] == [s.key for s in shards[1]]
    with pytest.raises(ValueError):
        batch.parse_shard("4/3")


# -- the class graded ----------------------------------------------------------------------------------------

def test_every_submission_has_one_row_with_the_right_status(clean):
    out, proc = clean
    results = store.load_results(out)
    assert len(list((out / store.RESULTS).glob("*.json"))) == len(EXPECTED) == len(results)
    got = {r.student: r for r in results}
    assert set(got) == set(EXPECTED)
    for student, (_, status, score) in EXPECTED.items():
        r = got[student]
        assert r.status == status, f"{student}: {r.status} ({r.reason}), expected {status}"
        if score == "full":
            assert r.score == r.max_score > 0
        elif score == "zero":
            assert r.score == 0 and r.max_score > 0
        elif score == "partial":
            assert 0 < r.score < r.max_score
        if status != "graded":
            assert r.reason
    assert "done=" in proc.stderr and "failed=" in proc.stderr and "remaining=" in proc.stderr  # progress bar


def test_each_worker_gives_its_kernels_and_checks_a_share_of_the_cores(clean):
    """Two trainings of two TensorFlow threads each on two cores wait on each other's threads (twice as long)."""
    out, _ = clean
    share = str(max(1, (os.cpu_count() or 1) // 2))   # 2 workers
    graded = [r for r in store.load_results(out) if r.status == "graded"]
    assert graded and all(r.environment["flags"].get("TF_NUM_INTRAOP_THREADS") == share for r in graded)
    assert batch.kernel_threads(1) is None   # one worker: TensorFlow's own default


def test_grades_csv_content(clean):
    out, _ = clean
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == len(EXPECTED)
    by = {r["student"]: r for r in rows}
    key = store.read_result(next((out / store.RESULTS).glob("alice__*.json")))
    assert by["alice"]["status"] == "graded" and float(by["alice"]["score"]) == key.max_score
    for c in key.checks:
        assert float(by["alice"][f"{c.question}/{c.name}"]) == c.max_points
    assert by["carol"]["02.total_error/total_error_value"] == "0"
    assert by["erin"]["status"] == "timeout" and "more than 30 s of CPU time" in by["erin"]["reason"]
    assert by["heidi"]["assignment"] == "99-unknown" and by["heidi"]["status"] == "invalid"


def test_gradebook_gradescope_and_feedback_content(clean):
    from nbgrader.api import Gradebook

    out, _ = clean
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert gb.find_submission("02-graphs", "alice").score == 20
        assert gb.find_submission("02-graphs", "bob").score == 0
        assert 0 < gb.find_submission("02-graphs", "carol").score < 20
        assert gb.find_submission("01-sklearn", "erin").score == 0
        assert {s.id for s in gb.students} == {"alice", "bob", "carol", "dave", "erin", "frank"}
    gs = json.loads((out / "gradescope" / "carol" / "02-graphs" / "results.json").read_text())
    assert 0 < gs["score"] < 20 and sum(t["max_score"] for t in gs["tests"]) == 20
    lost = {t["name"].split(": ")[1] for t in gs["tests"] if t["score"] < t["max_score"]}
    assert lost == MUTANT[2]
    html = (out / "feedback" / "carol" / "02-graphs.html").read_text()
    assert f'id="score">{gs["score"]:g} / 20<' in html and "<svg" in html
    assert all(f'data-check="{name}"' in html for name in MUTANT[2])
    assert "timeout" in (out / "feedback" / "erin" / "01-sklearn.html").read_text()


def test_killed_batch_resumes_to_identical_exports(klass, clean, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(grade_cmd(str(klass), "--out", str(out), *GRADE), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 600
    workers = set()
    while time.monotonic() < deadline and proc.poll() is None:
        workers |= {p.pid for p in parent.children(recursive=True)} if parent.is_running() else set()
        if len(list((out / store.RESULTS).glob("*.json"))) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(40):  # the workers notice their parent is gone and take their kernels down
        alive = [pid for pid in workers if _alive(pid)]
        if not alive:
            break
        time.sleep(0.5)
    assert not alive, f"orphaned processes: {alive}"
    done = len(list((out / store.RESULTS).glob("*.json")))
    assert 3 <= done < len(EXPECTED)

    resumed = run_grade(str(klass), "--out", str(out), *GRADE)
    assert f"{done} already graded" in resumed.stdout
    assert_same_exports(snapshot(out), snapshot(clean[0]))
    assert len(list((out / store.RESULTS).glob("*.json"))) == len(EXPECTED)

    again = run_grade(str(klass), "--out", str(out), *GRADE, "--brief")   # nothing left: nothing graded
    assert "0 graded now" in again.stdout and f"{len(EXPECTED)} already graded" in again.stdout
    assert_same_exports(snapshot(out), snapshot(clean[0]))


WORKER_WHOSE_BATCH_DIES = """
import glob, os, sys, threading, time
from pathlib import Path
from autograder import batch

kill = batch.kill_tree
def slow_kill(procs):   # widens the race: the grading thread sees its kernel die while the worker is exiting
    kill(procs)
    time.sleep(120)   # (the grading thread ends first: the worker then exits)
batch.kill_tree = slow_kill

def batch_dies():   # once the kernel runs the submission's cells
    while not glob.glob(os.path.join(os.environ["TMPDIR"], "ag-job-*", "go")):
        time.sleep(0.05)
    time.sleep(1)
    batch._watch_parent(-1)
threading.Thread(target=batch_dies, daemon=True).start()
job = batch._job(batch.identify(Path(sys.argv[1]), "carol"), Path(sys.argv[2]), batch.BatchOptions())
print(batch._grade_task(job)["status"])
"""


def test_a_worker_whose_batch_died_records_nothing(klass, tmp_path):
    """Its kernels killed under it, the grading thread would record "error" for the submission, and a resumed
    batch would keep that row (the bytes are the same) instead of grading it."""
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run([sys.executable, "-c", WORKER_WHOSE_BATCH_DIES, str(klass / "carol" / "02-graphs" /
                          "02-graphs.ipynb"), str(tmp_path / "out")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TMPDIR=str(tmp_path / "tmp")), cwd=REPO)
    assert proc.stdout.split()[-1:] == ["abandoned"], f"exit {proc.returncode}: " + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not list(tmp_path.glob("out/**/*.json"))


def test_a_worker_leaves_warm_the_kernel_its_next_submission_needs(tmp_path):
    """One worker, 01 then 02: the kernel it leaves warm after the last 01 is a 02 kernel, so only the first
    submission waits for a kernel (a 01 kernel left there would have been started for nothing)."""
    sub = tmp_path / "submitted"
    for student, notebook in (("a", BLANK01), ("b", BLANK01), ("c", BLANK02), ("d", BLANK02)):
        label = notebook.stem
        (sub / student / label).mkdir(parents=True)
        (sub / student / label / f"{label}.ipynb").write_bytes(notebook.read_bytes())
    run_grade(str(sub), "--out", str(tmp_path / "out"), "--workers", "1", "--brief")
    warm = {r.student: r.timings.get("warm_kernel") for r in store.load_results(tmp_path / "out")}
    assert warm == {"a": False, "b": True, "c": True, "d": True}


def test_the_likely_next_submission_of_a_worker():
    subs = [batch.Submission(path=Path(f"/c/{n}.ipynb"), student=n, label=label, known=known, sha256=n)
            for n, label, known in (("a", "01-sklearn", True), ("b", "02-graphs", True), ("c", "02-graphs", True),
                                    ("d", "nb", False))]
    o = batch.BatchOptions(timeouts={"02-graphs": 99})
    assert batch._likely_next(subs[1:], 2, o) == {"assignment": "02-graphs", "timeout": 99}   # c, after b
    assert batch._likely_next(subs[:1], 1, o) == {"assignment": "01-sklearn", "timeout": None}
    assert batch._likely_next(subs[2:3], 2, o) is None   # the other worker takes c: this one has nothing next
    assert batch._likely_next(subs[3:], 1, o) is None    # not a known assignment: no kernel


def test_regrade_one_student_and_a_changed_resubmission(klass, clean, tmp_path):
    out = tmp_path / "regrade"
    out.mkdir()
    import shutil

    shutil.copytree(clean[0] / store.RESULTS, out / store.RESULTS)
    before = {p.name: p.stat().st_mtime_ns for p in (out / store.RESULTS).glob("*.json")}
    run_grade(str(klass), "--out", str(out), *GRADE, "--student", "grace", "--regrade")
    after = {p.name: p.stat().st_mtime_ns for p in (out / store.RESULTS).glob("*.json")}
    assert [n for n in after if after[n] != before[n]] == ["grace__02-graphs.json"]

    changed = tmp_path / "class2"
    shutil.copytree(klass.parent, changed)
    (changed / "submitted" / "kate" / "02-graphs" / "02-graphs.ipynb").write_text("[]")  # kate resubmits
    proc = run_grade(str(changed / "submitted"), "--out", str(out), *GRADE)
    assert "1 graded now" in proc.stdout
    kate = store.read_result(out / store.RESULTS / "kate__02-graphs.json")
    assert kate.status == "invalid" and kate.sha256 == batch.identify(changed / "submitted" / "kate" / "02-graphs"
                                                                      / "02-graphs.ipynb").sha256
    assert len(list((out / store.RESULTS).glob("*.json"))) == len(EXPECTED)


def test_shards_merge_into_the_same_exports(tmp_path):
    """Cheap submissions only: shards graded separately, then merged, equal one unsharded run."""
    sub = tmp_path / "submitted"
    for i in range(7):
        p = sub / f"s{i}" / "02-graphs" / "02-graphs.ipynb"
        p.parent.mkdir(parents=True)
        p.write_text("{broken" if i % 2 else json.dumps({"cells": i}))
    whole = tmp_path / "whole"
    run_grade(str(sub), "--out", str(whole), "--workers", "2", "--no-progress")
    parts = []
    for i in (1, 2, 3):
        parts.append(tmp_path / f"shard{i}")
        run_grade(str(sub), "--out", str(parts[-1]), "--shard", f"{i}/3", "--no-export", "--workers", "1")
    counts = [len(list((p / store.RESULTS).glob("*.json"))) for p in parts]
    assert sum(counts) == 7 and max(counts) - min(counts) <= 1
    merged = tmp_path / "merged"
    proc = subprocess.run([sys.executable, "-m", "autograder", "merge", *map(str, parts), "--out", str(merged)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_exports(snapshot(merged), snapshot(whole))


# -- autograder ci ---------------------------------------------------------------------------------------------

def test_ci_judges_keys_blanks_and_mutants():
    from autograder.ci import judge
    from autograder.results import CheckResult, SubmissionResult

    def result(*statuses):
        return SubmissionResult("02-graphs", "x", "graded", student="s", checks=[
            CheckResult(f"c{i}", "02.q", 1, st) for i, st in enumerate(statuses)])

    assert judge(result("passed", "passed"), "full") is None
    assert "expected full marks" in judge(result("passed", "failed"), "full")
    assert judge(result("failed", "error"), "zero") is None
    assert "expected 0" in judge(result("passed", "failed"), "zero")
    assert judge(result("passed", "failed"), {"c1"}) is None
    assert "not caught" in judge(result("passed", "passed"), {"c1"})
    assert "expected exactly" in judge(result("failed", "failed"), {"c1"})
    assert judge(result("skipped", "failed"), {"c1"}) is None   # a check not graded here is not a lost one
    timeout = SubmissionResult("02-graphs", "x", "timeout", student="s", reason="slow")
    assert judge(timeout, "full").startswith("the machine was too slow")   # not a verdict on the submission
    assert judge(timeout, {"c1"}).startswith("the machine was too slow")   # nor a mutant that was not caught
    error = SubmissionResult("02-graphs", "x", "error", student="s", reason="boom")
    assert "not graded" in judge(error, "full")


def test_ci_regrades_a_timeout_alone_with_a_larger_budget_and_calls_a_slow_machine_inconclusive(monkeypatch,
                                                                                                   capsys):
    """A notebook that runs out of time is graded once more with 3x its budget; if that is still too little, the
    gate says the machine was slow (exit 3), never that the submission or a mutant is wrong."""
    from autograder import ci
    from autograder.grade import grade_notebook

    class Args:
        assignments, root, workers, out, skip = ["01-sklearn"], None, 1, None, ["stale", "mutants"]

    # half the CPU time 01's answer key and blank use is too little, 3x that is enough (measured: a kernel
    # forked from the factory uses about 2.4 s, a launched one about 5 s)
    a = practicals.get("01-sklearn")
    used = min(grade_notebook(p).timings["cpu_s"] for p in (a.solution_notebook(), a.release_notebook()))
    problems = ci.run_ci(["01-sklearn"], workers=1, skip={"stale", "mutants"}, progress=False,
                         timeouts={"01-sklearn": used / 2})
    err = capsys.readouterr().err
    assert "ran out of time; grading them again alone with 3x the budget" in err, err
    assert problems == [], problems
    # far too little even with 3x: inconclusive, reported as the machine's slowness, and exit 3, not 1
    problems = ci.run_ci(["01-sklearn"], workers=1, skip={"stale", "mutants"}, progress=False,
                         timeouts={"01-sklearn": 0.1})
    assert len(problems) == 2 and all(p.startswith(ci.SLOW) for p in problems), problems
    monkeypatch.setattr(ci, "run_ci", lambda *a, **k: problems)
    assert ci.main_cli(Args) == 3
    assert "ci: INCONCLUSIVE" in capsys.readouterr().err
    monkeypatch.setattr(ci, "run_ci", lambda *a, **k: problems + ["01-sklearn: mutant-x is not caught: full marks"])
    assert ci.main_cli(Args) == 1

def test_ci_reports_each_practicals_kill_rate():
    from autograder.ci import kill_rates

    lines = kill_rates({"02-graphs": [(True, True), (True, False), (False, False), (True, True)]})
    assert lines == ["mutants 02-graphs: 3/4 caught (75 % kill rate), 2/4 exactly at their named checks"]


def test_ci_finds_a_stale_release(tmp_path):
    import shutil

    from autograder.ci import stale

    root = tmp_path / "course"
    for folder in ("source", "release", "solutions"):
        shutil.copytree(REPO / folder / "02-graphs", root / folder / "02-graphs")
    shutil.copy(REPO / "nbgrader_config.py", root)
    assert stale(["02-graphs"], root) == []
    nb = nbformat.read(root / "source" / "02-graphs" / "02-graphs.ipynb", as_version=4)
    nb.cells[0].source += "\nA new sentence."
    nbformat.write(nb, root / "source" / "02-graphs" / "02-graphs.ipynb")
    problems = stale(["02-graphs"], root)
    assert len(problems) == 2 and all("stale" in p for p in problems)


def test_the_queue_starts_with_the_longest_expected_and_ends_with_the_blanks(tmp_path):
    """A mix: full notebooks of the longest assignments first, one assignment after another, blank ones last (a
    blank release grades in seconds), so that the workers end together."""
    key04, key01 = (practicals.get(n).solution_notebook(REPO) for n in ("04-convnet", "01-sklearn"))
    blank04 = practicals.get("04-convnet").release_notebook(REPO)
    half = nbformat.read(key04, as_version=4)
    answers = [c for c in half.cells if c.metadata.get("nbgrader", {}).get("solution")]
    for c in answers[: len(answers) // 2]:
        c.source = "# YOUR CODE HERE\nraise NotImplementedError()"
    nbformat.write(half, tmp_path / "half.ipynb")
    subs = [batch.identify(p, student=s) for p, s in ((BLANK02, "a"), (key01, "b"), (blank04, "c"), (key04, "d"),
                                                       (tmp_path / "half.ipynb", "e"), (KEY02, "f"), (key04, "g"))]
    subs[4] = batch.Submission(**{**subs[4].__dict__, "label": "04-convnet", "known": True})  # named half.ipynb
    assert [s.answered for s in subs] == [0.0, 1.0, 0.0, 1.0, 1 - (len(answers) // 2) / len(answers), 1.0, 1.0]
    order = [s.student for s in batch.queue_order(subs)]
    assert order == ["d", "g", "e", "b", "f", "a", "c"], order


def test_a_notebook_without_nbgrader_marks_counts_as_answered():
    assert batch.answered_share({"cells": [{"cell_type": "code", "source": "raise NotImplementedError()"}]}) == 1.0
    assert batch.answered_share({"cells": "not a list"}) == batch.answered_share({"cells": [1]}) == 1.0
    assert batch.answered_share(None) == 1.0
