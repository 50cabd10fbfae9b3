"""HTML feedback: content per check, hidden checks without expected values, offline, opened in a real browser."""

import html as htmllib
import itertools
import json
import re
import shutil
import subprocess

import pytest

from autograder import practicals
from autograder.report.feedback import measurement_figure, questions_figure, render, write_all
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
    assert "1 / 3" in html and "0 / 2" in html                  # per-question lines
    assert html.count('class="question"') == 2                  # one line per question
    assert html.count("<svg") == 1                              # and one chart of them


def test_hidden_checks_show_name_points_and_a_generic_line_never_their_message():
    html = render(result())
    row = re.search(r'<tr class="failed" data-check="predict_np_other_inputs">.*?</tr>', html, re.S).group(0)
    assert "0 / 1" in row and "hidden check" in row
    assert "failed on the grader's hidden inputs" in htmllib.unescape(row)
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
    assert "the grader's snapshot cell was stopped by an exception from your code" in htmllib.unescape(html)
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


def imagenet_skip_message(monkeypatch) -> str:
    """The message 05's ImageNet checks give where the weights are missing: it names the grader's cache paths."""
    from autograder import datasets
    from autograder.practicals.p05_pretrained import checks

    monkeypatch.setattr(type(datasets.IMAGENET), "source", lambda self: None)
    with pytest.raises(pytest.skip.Exception) as skipped:
        checks.imagenet_reference(None)
    return skipped.value.msg


def skipped_result(message: str) -> SubmissionResult:
    return SubmissionResult("05-pretrained", "/s/ann/05-pretrained/05-pretrained.ipynb", "graded", student="ann",
                            checks=[CheckResult("features_shape", "05.features", 2, "passed"),
                                    CheckResult("top5_like_reference", "05.features", 3, "skipped", message),
                                    CheckResult("imagenet_classes", "05.imagenet", 2, "skipped", message),
                                    CheckResult("transfer_accuracy", "05.transfer", 3, "failed", "accuracy 0.41")],
                            measurements={"transfer_accuracy": 0.41})


def question_lines(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr class="question" data-question="([^"]*)"><td>[^<]*</td><td class="pts">([^<]*)</td>',
                           html))


def test_skipped_checks_leave_the_maximum_and_tell_students_only_not_graded_here(monkeypatch):
    from autograder.datasets import imagenet_missing

    message = imagenet_skip_message(monkeypatch)
    r = skipped_result(message)
    html = render(r)
    assert f'id="score">{r.score:g} / {r.max_score:g}<' in html and (r.score, r.max_score) == (2, 5)
    lines = question_lines(html)
    assert lines == {"05.features": "2 / 2", "05.imagenet": "not graded here", "05.transfer": "0 / 3"}
    graded = [tuple(map(float, v.split(" / "))) for v in lines.values() if v != "not graded here"]
    assert (sum(e for e, _ in graded), sum(m for _, m in graded)) == (r.score, r.max_score)  # the lines add up
    fig_labels = {t.get_text() for t in drawn_labels(questions_figure(r))}
    assert set(lines.values()) <= fig_labels and set(lines) <= fig_labels                     # so does the chart
    row = re.search(r'<tr class="skipped" data-check="imagenet_classes">.*?</tr>', html, re.S).group(0)
    assert "not graded here" in row and "counts neither for nor against you" in row
    page = htmllib.unescape(html)
    assert message not in page and "how_to_get_imagenet" not in page and "Keras' cache" not in page
    assert imagenet_missing() and not any(path in page for path in imagenet_missing())         # no grader path


def test_grader_faults_and_grader_paths_are_not_shown_to_students():
    r = SubmissionResult("02-graphs", "/s/bob/02-graphs/02-graphs.ipynb", "error", student="bob",
                         reason="the grader failed on this submission: KeyError: 'snapshots'",
                         checks=[CheckResult("model_loads", "02.keras", 1, "error",
                                             "`model` could not be loaded as a Keras model: ValueError: File not "
                                             "found: filepath=/tmp/ag-job-1a2b/export/model.keras")],
                         notes=["cell 3 raised FileNotFoundError: /srv/grader/cache/x.npz", "cell 4 raised NameError"])
    page = htmllib.unescape(render(r))
    assert "/tmp/ag-job" not in page and "/srv/grader" not in page and "/s/bob" not in page
    assert "KeyError" not in page and "snapshots" not in page
    assert "the grader failed on this submission" in page and "could not be loaded as a Keras model" in page
    assert "cell 4 raised NameError" in page


def drawn_labels(fig):
    """Every text matplotlib drew: tick labels of each axis (secondary ones too), axes texts, legend entries."""
    fig.canvas.draw()
    axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]
    texts = [t for a in axes for axis in (a.xaxis, a.yaxis) for t in axis.get_ticklabels() if in_view(axis, t)]
    texts += [t for a in axes for t in a.texts] + [t for legend in fig.legends for t in legend.get_texts()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def in_view(axis, label) -> bool:
    """A tick label is drawn only where its tick lies in the axis' view (matplotlib keeps the others unused)."""
    lo, hi = sorted(axis.get_view_interval())
    at = label.get_position()[0 if axis.axis_name == "x" else 1]
    return lo - 1e-9 * (hi - lo) <= at <= hi + 1e-9 * (hi - lo)


def assert_labels_apart(fig):
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_labels(fig)]
    for text, box in boxes:   # inside the figure: nothing cut off
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1, text
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"{a!r} is drawn over {b!r}"
    return [text for text, _ in boxes]


KEY = json.loads(practicals.get("03-mlp").thresholds.read_text())["test_accuracy_by_hand"]
LABEL_CASES = {   # the student's value on, or very close to, the answer key's values and the threshold
    "at the threshold": (KEY["threshold"], KEY),
    "a hair above the threshold": (KEY["threshold"] + 1e-4, KEY),
    "on the key's best seed": (max(KEY["observed"]), KEY),
    "inside the key's range": (sum(KEY["observed"]) / len(KEY["observed"]), KEY),
    "far below": (0.1, KEY),
    "all three equal": (0.9356, {"threshold": 0.9356, "kind": "min", "observed": [0.9356] * 3}),
    "key is one value": (0.9356, {"threshold": 0.9, "kind": "min", "observed": [0.9357]}),
    "a loss, no key range": (12345.678, {"threshold": 12345.7, "kind": "max"}),
}


@pytest.mark.parametrize("case", LABEL_CASES)
def test_measurement_labels_never_collide(case):
    value, entry = LABEL_CASES[case]
    labels = assert_labels_apart(measurement_figure(value, entry))
    assert f"you: {value:.4g}" in labels
    assert any(t.startswith("threshold: ") for t in labels)
    assert any(t.startswith("answer key: ") for t in labels) == bool(entry.get("observed"))


def test_the_label_check_catches_the_old_layout():
    """Labels placed at their values, as the hand-made SVG did, collide when the values are close."""
    fig = measurement_figure(0.9356, {"threshold": 0.9, "kind": "min", "observed": [0.9357]})
    ax = fig.axes[0]
    ax.text(0.9357, -0.8, "answer key", ha="center")
    ax.text(0.9356, -0.8, "you 0.9356", ha="center")
    with pytest.raises(AssertionError, match="drawn over"):
        assert_labels_apart(fig)


def test_points_per_question_labels_never_collide():
    r = SubmissionResult("05-pretrained", "s.ipynb", "graded", checks=[
        CheckResult(f"c{i}", q, p, s) for i, (q, p, s) in enumerate([
            ("05.a_rather_long_question_name_that_takes_room", 1, "passed"), ("05.b", 12.5, "failed"),
            ("05.c", 2, "skipped"), ("05.$x$ not TeX", 0.5, "passed"), ("05.d", 30, "passed")])])
    labels = assert_labels_apart(questions_figure(r))
    assert {"05.b", "0 / 12.5", "not graded here", "05.$x$ not TeX", "30 / 30"} <= set(labels)


def test_measurements_are_charted_against_the_calibrated_key():
    value = KEY["threshold"]
    r = SubmissionResult("03-mlp", "s.ipynb", "graded", student="zoe", measurements={"test_accuracy_by_hand": value,
                                                                                      "uncalibrated": 0.5})
    html = render(r)
    assert html.count("<svg") == 1 and 'aria-label="test_accuracy_by_hand"' in html
    figure = re.search(r'<figure data-measurement="test_accuracy_by_hand">.*?</figure>', html, re.S).group(0)
    assert f"your value {value:.4g}; threshold at least {value:.4g}; answer key " in figure
    assert f"over {len(KEY['observed'])} seeds" in figure
    assert "uncalibrated: 0.5" in html
    assert "<text" not in html   # glyphs drawn as paths: the browser shows the layout matplotlib measured


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", *args], capture_output=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless browser: `apt-get install -y chromium` to run this test")
def test_page_renders_in_a_headless_browser(tmp_path, monkeypatch):
    close = skipped_result(imagenet_skip_message(monkeypatch))   # skipped checks; values close to the key's
    close.assignment, close.measurements = "03-mlp", {"test_accuracy_by_hand": KEY["threshold"],
                                                      "test_accuracy_model_10": 0.8086}
    folder = write_all([result(), close], tmp_path / "feedback")
    page = folder / "bob" / "02-graphs.html"
    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = proc.stdout.decode()
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
    assert 'id="score">1 / 5<' in dom and "<svg" in dom
    assert "ypred_np: got 1.5, expected 2.5" in dom
    assert "31337" not in dom
    page = folder / "ann" / "03-mlp.html"
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout.decode()
    assert 'id="score">2 / 5<' in dom and dom.count("<svg") == 3 and "not graded here" in dom
    assert "/.keras/" not in dom
    for name, page in (("feedback", folder / "bob" / "02-graphs.html"), ("values", page)):
        shot = tmp_path / f"{name}.png"
        chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,1600", page.as_uri())
        assert shot.is_file() and shot.stat().st_size > 5000
    # the browser drew the charts: the answer key's band and a full question's green bar are on the screenshot
    from PIL import Image

    colours = {rgb for _, rgb in Image.open(tmp_path / "values.png").convert("RGB").getcolors(1 << 20)}
    assert {(0x90, 0xCA, 0xF9), (0x2E, 0x7D, 0x32)} <= colours


def test_a_really_graded_blank_adds_up(graded_blank):
    r = graded_blank("02-graphs")
    html = render(r)
    assert f'id="score">{r.score:g} / {r.max_score:g}<' in html and r.max_score > 0
    lines = question_lines(html)
    assert list(lines) == list(dict.fromkeys(c.question for c in r.checks))
    assert sum(float(v.split(" / ")[1]) for v in lines.values()) == r.max_score
    assert all(f'data-check="{c.name}"' in html for c in r.checks)
