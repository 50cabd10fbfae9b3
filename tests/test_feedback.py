"""HTML feedback: content per check, hidden checks without expected values, offline, opened in a real browser."""

import re
import shutil
import subprocess

import pytest

from autograder.report.feedback import render, write_all
from autograder.results import CheckResult, SubmissionResult


def result():
    return SubmissionResult("02-graphs", "/s/bob/02-graphs/02-graphs.ipynb", "graded", student="bob", checks=[
        CheckResult("ypred_np_shape", "02.numpy", 1, "passed"),
        CheckResult("ypred_np_values", "02.numpy", 1, "failed", "ypred_np: got 1.5, expected 2.5"),
        CheckResult("predict_np_other_inputs", "02.numpy", 1, "failed",
                    "predict_np on other inputs (37 points): got array [1], expected array [31337] "
                    "(largest difference 3e+04)", hidden=True),
        CheckResult("total_error_value", "02.total_error", 2, "error",
                    "computing `err` failed: ValueError: <script>alert('x')</script>")],
        notes=["cell 4 raised ValueError: <b>bad</b>"],
        measurements={"02-graphs/accuracy": 0.5})


def test_page_lists_every_check_with_points_and_messages():
    html = render(result())
    assert 'id="score">1 / 5<' in html
    for name in ("ypred_np_shape", "ypred_np_values", "predict_np_other_inputs", "total_error_value"):
        assert f'data-check="{name}"' in html
    assert "ypred_np: got 1.5, expected 2.5" in html            # public: expected vs got
    assert "1 / 3" in html and "0 / 2" in html                  # per-question bars
    assert html.count('class="earned"') == 2                    # one bar per question


def test_hidden_checks_show_name_points_and_a_generic_line_never_their_message():
    html = render(result())
    row = re.search(r'<tr class="failed" data-check="predict_np_other_inputs">.*?</tr>', html).group(0)
    assert "0 / 1" in row and "hidden check" in row
    assert "failed on the grader&#x27;s hidden inputs" in row
    assert "predict_np on other inputs" not in html and "37 points" not in html   # the message, even its start
    assert "31337" not in html and "largest difference" not in html and "got array [1]" not in html
    assert "def test_" not in html and "art.hidden" not in html  # never the check's code


HIDDEN_VALUES = ("41.5", "123.25", "x=[7, 11, 13]")


def leaky_result():
    """Hidden checks whose messages (and a note from the grader's snapshot cell) carry the hidden inputs."""
    return SubmissionResult("02-graphs", "/s/eve/02-graphs/02-graphs.ipynb", "graded", student="eve", checks=[
        CheckResult("values", "02.numpy", 1, "failed", "ypred_np: got 1, expected 2"),
        CheckResult("other_inputs", "02.numpy", 2, "failed", "got 41.5, expected 123.25 on x=[7, 11, 13]",
                    hidden=True),
        CheckResult("other_sizes", "02.numpy", 1, "error", "predict_np raised ValueError: x=[7, 11, 13]",
                    hidden=True),
        CheckResult("other_err", "02.total_error", 1, "passed", "", hidden=True)],
        notes=["the grader's snapshot cell raised Leak: x=[7, 11, 13] got 41.5",
               "'x=[7, 11, 13]' is not a plain artifact file and was ignored",
               "cell 3 raised NameError: name 'foo' is not defined"])


def test_hidden_values_never_reach_the_feedback_page():
    html = render(leaky_result())
    for value in HIDDEN_VALUES:
        assert value not in html, value
    assert "ypred_np: got 1, expected 2" in html                        # public checks keep their message
    assert html.count("hidden inputs") >= 2                              # each failed hidden check says why
    assert "the grader&#x27;s snapshot cell was stopped by an exception from your code" in html
    assert "cell 3 raised NameError" in html                             # the student's own cells stay explained


def test_every_submission_string_is_html_escaped():
    evil = "<img src=x onerror=alert(1)>"
    r = SubmissionResult(evil, f"/s/{evil}/n.ipynb", "error", student=f"bob{evil}", reason=f"because {evil}",
                         checks=[CheckResult(f"c{evil}", f"q{evil}", 1, "failed", f"msg {evil}")],
                         notes=[f"note {evil}"], measurements={f"m{evil}": 0.5})
    html = render(r)
    assert "<img" not in html and "onerror=alert(1)>" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 6         # title, h1, student, reason, check, note


def test_page_is_self_contained_and_escapes_submission_text():
    html = render(result())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>bad</b>" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html), "no external assets"
    assert "<svg" in html


def test_a_submission_that_was_not_graded_says_why():
    r = SubmissionResult("", "/s/x/99.ipynb", "invalid", student="x", reason="not a notebook of a known assignment")
    html = render(r)
    assert 'id="status">invalid<' in html and "not a notebook of a known assignment" in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless browser: `apt-get install -y chromium` to run this test")
def test_page_renders_in_a_headless_browser(tmp_path):
    folder = write_all([result()], tmp_path / "feedback")
    page = folder / "bob" / "02-graphs.html"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
    assert 'id="score">1 / 5<' in dom and "<svg" in dom
    assert "ypred_np: got 1.5, expected 2.5" in dom
    assert "31337" not in dom
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1000,900",
                    page.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 5000
