"""HTML feedback: content per check, hidden checks without expected values, offline, opened in a real browser."""

import re
import shutil
import subprocess

import pytest

from autograder.feedback import render, write_all
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


def test_hidden_checks_show_result_and_message_but_not_expected_values():
    html = render(result())
    assert "predict_np on other inputs (37 points): got array [1]" in html
    assert "31337" not in html and "largest difference" not in html
    assert "hidden check" in html
    assert "def test_" not in html and "art.hidden" not in html  # never the check's code


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
