"""Exports checked against samples of their documented formats (synthetic results: no notebook runs)."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path


from autograder.report import store
from autograder.report import export_all
from autograder.report.student_view import HIDDEN_MESSAGES, student_message
from autograder.report.grades_csv import render_csv
from autograder.report.gradescope import results_json
from autograder.results import CheckResult, SubmissionResult


def check(name, question, points, status, message="", hidden=False):
    return CheckResult(name, question, points, status, message, hidden)


def sample_results():
    full = SubmissionResult("02-graphs", "/s/alice/02-graphs/02-graphs.ipynb", "graded", student="alice", checks=[
        check("shape", "02.numpy", 1, "passed"),
        check("values", "02.numpy", 2, "passed"),
        check("other_inputs", "02.numpy", 1, "passed", hidden=True),
        check("err", "02.total_error", 2, "passed")])
    partial = SubmissionResult("02-graphs", "/s/bob/02-graphs/02-graphs.ipynb", "graded", student="bob", checks=[
        check("shape", "02.numpy", 1, "passed"),
        check("values", "02.numpy", 2, "failed", "ypred_np: got 1, expected 2"),
        check("other_inputs", "02.numpy", 1, "failed",
              "predict_np on other inputs: got array [1 2], expected array [3 4] (largest difference 2)", hidden=True),
        check("err", "02.total_error", 2, "passed")])
    timeout = SubmissionResult("02-graphs", "/s/carol/02-graphs/02-graphs.ipynb", "timeout", student="carol",
                               reason="the notebook ran longer than 5 s and was stopped", checks=[
        check("shape", "02.numpy", 1, "error", "stopped"), check("values", "02.numpy", 2, "error", "stopped"),
        check("other_inputs", "02.numpy", 1, "error", "stopped", hidden=True),
        check("err", "02.total_error", 2, "error", "stopped")])
    other = SubmissionResult("01-sklearn", "/s/alice/01-sklearn/01-sklearn.ipynb", "graded", student="alice",
                             checks=[check("accuracy", "01.fit", 3, "passed")])
    invalid = SubmissionResult("", "/s/dave/99-x/99-x.ipynb", "invalid", student="dave",
                               reason="99-x.ipynb: not a notebook of a known assignment")
    return [full, partial, timeout, other, invalid]


EXPECTED_CSV = """\
student,assignment,status,score,max_score,01.fit/accuracy,02.numpy/shape,02.numpy/values,02.numpy/other_inputs,02.total_error/err,reason
alice,01-sklearn,graded,3,3,3,,,,,
alice,02-graphs,graded,6,6,,1,2,1,2,
bob,02-graphs,graded,3,6,,1,0,0,2,
carol,02-graphs,timeout,0,6,,0,0,0,0,the notebook ran longer than 5 s and was stopped
dave,99-x,invalid,0,0,,,,,,99-x.ipynb: not a notebook of a known assignment
"""


def test_grades_csv_matches_the_documented_sample():
    assert render_csv(sample_results()) == EXPECTED_CSV
    rows = list(csv.DictReader(io.StringIO(EXPECTED_CSV)))
    assert len({(r["student"], r["assignment"]) for r in rows}) == len(rows)


def test_hidden_messages_are_replaced_by_a_generic_line():
    bob = sample_results()[1]
    hidden = bob.checks[2]
    msg = student_message(hidden)
    assert msg.startswith("failed on the grader's hidden inputs")
    assert "[1 2]" not in msg and "[3 4]" not in msg and "predict_np" not in msg  # not even the student's outputs
    assert student_message(bob.checks[1]) == "ypred_np: got 1, expected 2"  # public checks keep everything
    assert "hidden inputs" in student_message(sample_results()[2].checks[2])       # an error too
    assert student_message(sample_results()[0].checks[2]) == ""                    # passed: nothing to say
    skipped = CheckResult("imagenet_top1", "05.imagenet", 2, "skipped",
                          message="ImageNet weights not available (missing: /root/.keras/models/x.h5)")
    assert student_message(skipped) == HIDDEN_MESSAGES["skipped"]   # a skip's reason names the grader's files


def test_gradescope_results_json_follows_the_spec():
    out = results_json(sample_results()[1])
    assert out["score"] == 3 and out["visibility"] == "visible"
    assert [t["name"] for t in out["tests"]] == ["02.numpy: shape", "02.numpy: values", "02.numpy: other_inputs",
                                                 "02.total_error: err"]
    for t in out["tests"]:
        assert set(t) >= {"name", "score", "max_score", "output", "visibility", "status"}
        assert t["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
    assert [t["score"] for t in out["tests"]] == [1, 0, 0, 2]
    assert "[3 4]" not in json.dumps(out)
    assert sum(t["score"] for t in out["tests"]) == out["score"]
    timeout = results_json(sample_results()[2])
    assert timeout["score"] == 0 and "longer than 5 s" in timeout["output"]
    json.dumps(timeout)  # serialisable


def nbgrader_export(db: Path, tmp_path: Path) -> list[dict]:
    """Scores as `nbgrader export` (nbgrader's own CLI) reads them from ``db``."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    dest = tmp_path / "nbgrader-grades.csv"
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--db=sqlite:///{db}", f"--to={dest}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(csv.DictReader(dest.open()))


def test_gradebook_is_read_by_nbgrader_itself(tmp_path):
    from nbgrader.api import Gradebook

    written = export_all(sample_results(), tmp_path, feedback=False)
    db = written["gradebook"]
    rows = {(r["student_id"], r["assignment"]): r for r in nbgrader_export(db, tmp_path)}
    # nbgrader lists every student x assignment; a missing submission scores 0
    assert set(rows) == {(s, a) for s in ("alice", "bob", "carol") for a in ("01-sklearn", "02-graphs")}
    assert float(rows["bob", "01-sklearn"]["score"]) == 0 and float(rows["alice", "01-sklearn"]["score"]) == 3
    assert float(rows["alice", "02-graphs"]["score"]) == 6 and float(rows["alice", "02-graphs"]["max_score"]) == 6
    assert float(rows["bob", "02-graphs"]["score"]) == 3
    assert float(rows["carol", "02-graphs"]["score"]) == 0
    with Gradebook(f"sqlite:///{db}") as gb:  # one grade cell per question, as in the source notebook
        cells = {c.name: c.max_score for c in gb.find_notebook("02-graphs", "02-graphs").grade_cells}
        assert cells == {"02_numpy": 4, "02_total_error": 2}
        assert gb.find_grade("02_numpy", "02-graphs", "02-graphs", "bob").score == 1
    # exporting again (e.g. after a re-grade) rewrites the kit's own gradebook: no doubled rows
    export_all(sample_results(), tmp_path, feedback=False)
    with Gradebook(f"sqlite:///{db}") as gb:
        assert len(gb.assignment_submissions("02-graphs")) == 3 and gb.find_submission("02-graphs", "bob").score == 3


def test_existing_course_gradebook_is_updated_in_place(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.report.gradebook import write_gradebook

    db = tmp_path / "course" / "gradebook.db"
    write_gradebook(sample_results()[:1], db)
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.update_or_create_student("zoe", first_name="Zoe")  # the instructor's own roster stays
    write_gradebook(sample_results(), db, fresh=False)
    with Gradebook(f"sqlite:///{db}") as gb:
        assert {s.id for s in gb.students} == {"alice", "bob", "carol", "zoe"}
        assert gb.find_submission("02-graphs", "bob").score == 3


def test_classroom_workflow_reports_every_check():
    from autograder.engine.check_runner import list_checks
    from autograder.report.classroom import workflow

    text = workflow("02-graphs")
    checks = list_checks("autograder.practicals.p02_graphs.checks")
    assert text.count("run: python -m autograder.report.classroom check grades ") == len(checks)
    runners = text.split("runners: ")[1].strip().split(",")
    assert len(runners) == len(checks) and len(set(runners)) == len(runners)
    for r in runners:
        assert f"{r.upper()}_RESULTS: \"${{{{steps.{r}.outputs.result}}}}\"" in text

def test_classroom_check_command(tmp_path):
    from autograder.report.store import write_result
    from autograder.report.classroom import main

    write_result(sample_results()[1], tmp_path / "results" / "bob__02-graphs.json")
    assert main(["check", str(tmp_path), "shape"]) == 0
    assert main(["check", str(tmp_path), "values"]) == 1
    assert main(["check", str(tmp_path), "no_such_check"]) == 1


# -- what the grader prints and publishes (issue 15, class 5) -------------------------------------------------

ESC_MESSAGE = "\x1b[2J\x1b[31mFAKE"
FORGED_ROW = "ok\n02-graphs      graded          6/6  /s/mallory/02-graphs/02-graphs.ipynb"
HIDDEN_MESSAGE = "got 41.5, expected 123.25 on x=[7, 11, 13]"
HIDDEN_VALUES = ("41.5", "123.25", "x=[7, 11, 13]")


def hostile_result(student="eve"):
    return SubmissionResult("02-graphs", f"/s/{student}/02-graphs/02-graphs.ipynb", "graded", student=student,
                            reason="", checks=[
        check("shape", "02.numpy", 1, "passed"),
        check("values", "02.numpy", 2, "failed", ESC_MESSAGE + "\x07\x9b31m\x7f\u202eevil"),
        check("forged", "02.numpy", 1, "failed", FORGED_ROW),
        check("other_inputs", "02.numpy", 2, "failed", HIDDEN_MESSAGE, hidden=True),
        check("err", "02.total_error", 2, "error", "raised ValueError: bad\r\x1b]0;pwned\x07")],
        notes=["cell 2 raised ValueError: \x1b[1Aover\nwritten ✓ café"])


def assert_terminal_safe(text: str):
    controls = [c for c in text if c != "\n" and (ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0)]
    assert not controls, controls
    assert "\u202e" not in text


def test_printable_escapes_controls_and_keeps_ordinary_unicode():
    from autograder.textsafe import printable

    assert printable(ESC_MESSAGE) == "\\x1b[2J\\x1b[31mFAKE"
    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable("\x00\x07\x7f\x85\x9b") == "\\x00\\x07\\x7f\\x85\\x9b"       # C0, DEL, C1 (NEL, CSI)
    assert printable("\u202e\u2066\u2028\ud800") == "\\u202e\\u2066\\u2028\\ud800"   # bidi, line sep, surrogate
    plain = "✓ ✗ – café Ünïcödé 中文 🙂 x=[1, 2] \\ back"
    assert printable(plain) == plain
    assert printable(3.5) == "3.5"


def test_console_table_escapes_student_text_and_cannot_be_given_forged_rows():
    from autograder.report.console import table

    results = [hostile_result(), hostile_result("mallory\x1b[2K")]
    results[1].reason = "stopped\n02-graphs      graded          6/6  fake"
    text = table(results, details=True)
    assert_terminal_safe(text)
    assert "\\x1b[2J\\x1b[31mFAKE" in text and "\\x07\\x9b31m\\x7f\\u202eevil" in text
    assert "ok\\n02-graphs" in text                          # the forged row stays inside its message's line
    assert "mallory\\x1b[2K" in text and "stopped\\n02-graphs" in text
    assert "✓" in text and "✗" in text and "café" in text
    # exactly the rows the results make: per result a head, a reason if any, its checks and notes; the summary
    expected = sum(1 + bool(r.reason) + len(r.checks) + len(r.notes) for r in results) + 2 + len(results)
    assert len(text.split("\n")) == expected
    assert sum(line.lstrip().startswith("02-graphs") for line in text.split("\n")) == 2 * len(results)
    assert HIDDEN_MESSAGE in text                            # the instructor's console keeps hidden messages


def test_cli_grade_output_is_terminal_safe(tmp_path, monkeypatch, capsys):
    from collections import Counter

    from autograder import batch, cli

    student = "eve\x1b]0;owned\x07\x1b[2J"
    folder = tmp_path / "submitted" / student / "02-graphs"
    folder.mkdir(parents=True)
    (folder / "02-graphs.ipynb").write_text("{}")
    (folder / "copy\x1b[31m.ipynb").write_text("{}")          # a duplicate: a warning that names its path

    def fake_batch(subs, out, options=None):                 # no notebook runs: the results are given
        for s in subs:
            r = hostile_result(s.student)
            r.submission = str(s.path)
            store.write_result(r, store.result_path(out, s))
        return batch.BatchRun(graded=list(subs), skipped=[], statuses=Counter(), wall_s=0.0)

    monkeypatch.setattr(batch, "run_batch", fake_batch)
    assert cli.main(["grade", str(tmp_path / "submitted"), "--out", str(tmp_path / "grades"), "--no-export",
                     "--details", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert_terminal_safe(out)
    assert_terminal_safe(err)
    assert "\\x1b[2J\\x1b[31mFAKE" in out and "ok\\n02-graphs" in out
    assert "eve\\x1b]0;owned\\x07" in out and "copy\\x1b[31m.ipynb" in err


def test_hidden_values_reach_instructors_never_students(tmp_path, capsys):
    from autograder.report import feedback
    from autograder.report.store import write_result
    from autograder.report.classroom import main as classroom_main, workflow
    from autograder.report.console import table
    from autograder.report.store import write_named as write_json

    r = hostile_result()
    r.notes.append("the grader's snapshot cell raised Leak: x=[7, 11, 13]")
    student_views = {"feedback": feedback.render(r), "gradescope": json.dumps(results_json(r))}
    write_result(r, tmp_path / "grades" / "results" / "eve__02-graphs.json")
    assert classroom_main(["check", str(tmp_path / "grades"), "other_inputs"]) == 1
    student_views["classroom"] = capsys.readouterr().out
    assert "--brief" in workflow("02-graphs") and "--details" not in workflow("02-graphs")  # the Actions log
    for name, text in student_views.items():
        for value in HIDDEN_VALUES:
            assert value not in text, (name, value)
        assert "hidden inputs" in text, name
    assert "other_inputs" in student_views["classroom"] and "failed" in student_views["classroom"]
    assert_terminal_safe(student_views["classroom"])
    # the instructor's views keep the full message: the results JSON, the console table
    assert HIDDEN_MESSAGE in json.loads(write_json(r, tmp_path / "json").read_text())["checks"][3]["message"]
    assert HIDDEN_MESSAGE in (tmp_path / "grades" / "results" / "eve__02-graphs.json").read_text()
    assert HIDDEN_MESSAGE in table([r])
    assert "x=[7, 11, 13]" in table([r])                     # the note too
    # grades.csv and the gradebook carry points only: the hidden check's 0 is there, no message at all
    assert "\neve,02-graphs,graded,1,8,1,0,0,0,0,\n" in render_csv([r])
