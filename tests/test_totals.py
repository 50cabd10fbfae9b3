"""One result, one total: every export says the same score and maximum, skipped checks left out of both.

A 05 result whose ImageNet checks were skipped (the grader had no weights) and a real graded 02 notebook go
through the console table, grades.csv, nbgrader's gradebook (read back with nbgrader.api), Gradescope's
results.json and GitHub Classroom (the per-check step outputs, totalled as autograding-grading-reporter does).
"""

import base64
import csv
import io
import json
from dataclasses import replace

import yaml

from autograder.report.classroom import main as classroom_check, workflow
from autograder.report.console import table
from autograder.report.gradebook import write_gradebook
from autograder.report.grades_csv import render_csv
from autograder.report.gradescope import results_json
from autograder.report.store import write_named
from autograder.results import CheckResult, SubmissionResult


def skipped_05() -> SubmissionResult:
    c = CheckResult
    return SubmissionResult("05-pretrained", "/s/ana/05-pretrained/05-pretrained.ipynb", "graded", student="ana",
                            checks=[c("preprocess_shape", "05.preprocess", 1, "passed"),
                                    c("preprocess_values", "05.preprocess", 1, "failed", "values: got 2, expected 1"),
                                    c("preprocess_other_images", "05.preprocess", 1, "passed", hidden=True),
                                    c("imagenet_top5_photos", "05.imagenet", 2, "skipped", "needs the weights"),
                                    c("imagenet_features", "05.imagenet", 1, "skipped", "needs the weights"),
                                    c("cut_shapes", "05.cut", 1, "passed"),
                                    c("cut_frozen", "05.cut", 1, "skipped", "needs the weights")])


def console_totals(results):
    """(student, assignment) -> "score/max" from the console table's summary rows."""
    summary = table(results).split("\n\n")[-1].splitlines()[1:]
    return {(row.split()[1], row.split()[0]): row.split()[3] for row in summary}


def classroom_totals(result, tmp_path, monkeypatch):
    """Run each check's step of the workflow on ``result``; total its outputs as the reporter does (a runner
    whose max_score is 0 counts neither way); return (total, max, {check: exit code})."""
    folder = tmp_path / "classroom" / result.assignment
    write_named(result, folder / "results")
    steps = yaml.safe_load(workflow(result.assignment))["jobs"]["run-autograding-tests"]["steps"]
    runners = steps[-1]["with"]["runners"].split(",")
    total = maximum = 0
    codes = {}
    for step in steps:
        if step.get("id") not in runners:
            continue
        assert step["continue-on-error"] is True   # a failed check does not stop the other steps
        check = step["run"].split()[-1]
        out = tmp_path / f"github-output-{step['id']}"
        monkeypatch.setenv("GITHUB_OUTPUT", str(out))
        codes[check] = classroom_check(["check", str(folder), check])
        key, _, value = out.read_text().strip().partition("=")
        assert key == "result"
        runner = json.loads(base64.b64decode(value))
        if runner["max_score"]:
            maximum += runner["max_score"]
            total += sum(t["score"] for t in runner["tests"])
    return total, maximum, codes


def test_every_export_agrees_on_score_and_maximum(graded_key, tmp_path, monkeypatch, capsys):
    from nbgrader.api import Gradebook

    real = replace(graded_key("02-graphs"), student="ana")
    results = [skipped_05(), real]
    assert (results[0].score, results[0].max_score) == (3, 4)      # 4 of its 8 points were skipped
    assert real.status == "graded" and real.max_score == 20

    console = console_totals(results)
    rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(io.StringIO(render_csv(results)))}
    db = write_gradebook(results, tmp_path / "gradebook.db")
    for r in results:
        expected = (r.score, r.max_score)
        key = (r.student, r.assignment)
        assert console[key] == f"{r.score:g}/{r.max_score:g}", "console"
        assert (float(rows[key]["score"]), float(rows[key]["max_score"])) == expected, "grades.csv"
        with Gradebook(f"sqlite:///{db}") as gb:
            sub = gb.find_submission(r.assignment, r.student)
            assert (sub.score, sub.max_score) == expected, "nbgrader gradebook"
        gs = results_json(r)
        assert (gs["score"], sum(t["max_score"] for t in gs["tests"])) == expected, "gradescope"
        assert sum(t["score"] for t in gs["tests"]) == gs["score"]
        total, maximum, codes = classroom_totals(r, tmp_path, monkeypatch)
        assert (total, maximum) == expected, "github classroom"
        for c in r.checks:   # a skipped check's step does not fail
            assert codes[c.name] == (0 if c.status in ("passed", "skipped") else 1), c.name
    capsys.readouterr()

    with Gradebook(f"sqlite:///{db}") as gb:   # how nbgrader holds it: skipped points leave the cells' maximum
        cells = {c.name: c.max_score for c in gb.find_notebook("05-pretrained", "05-pretrained").grade_cells}
        assert cells == {"05_preprocess": 3, "05_imagenet": 0, "05_cut": 1}
        imagenet = gb.find_grade("05_imagenet", "05-pretrained", "05-pretrained", "ana")
        assert (imagenet.auto_score, imagenet.needs_manual_grade) == (0, False)


def test_a_check_skipped_by_one_grader_only_is_flagged_for_a_ta(tmp_path):
    """Results merged from graders with and without the weights: the check counts (it could be graded) and the
    submission that skipped it waits for a TA in formgrader."""
    from nbgrader.api import Gradebook

    ran = skipped_05()
    ran.student = "ben"
    ran.checks = [CheckResult(c.name, c.question, c.max_points, "passed" if c.status == "skipped" else c.status,
                              c.message, c.hidden) for c in ran.checks]
    db = write_gradebook([skipped_05(), ran], tmp_path / "gradebook.db")
    with Gradebook(f"sqlite:///{db}") as gb:
        assert gb.find_submission("05-pretrained", "ben").max_score == 8
        flagged = {(g.name, s) for s in ("ana", "ben") for g in gb.find_submission_notebook(
            "05-pretrained", "05-pretrained", s).grades if g.needs_manual_grade}
        assert flagged == {("05_imagenet", "ana"), ("05_cut", "ana")}
