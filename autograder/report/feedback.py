"""Feedback for students: one self-contained HTML page per student and assignment.

The page is the Jinja2 template ``templates/feedback.html.j2`` (autoescape on: every string from a submission is
HTML-escaped); its plots are matplotlib figures embedded as inline SVG (Agg backend, text drawn as paths, so what
matplotlib measured is what the browser shows). It lists each check with its points and message, the points per
question, and where the checks measured values (accuracies, losses: ``SubmissionResult.measurements``) the student's
value against the calibrated threshold and the answer key's observed range. Nothing is fetched: the page reads
offline.

Students never see the grader's internals: hidden checks show a generic line (``student_view.student_message``),
skipped checks say "not graded here" (their message is for instructors), notes pass through
``student_view.student_notes``, and absolute paths are hidden. Skipped checks leave the maximum: the total and every
per-question line add up to ``SubmissionResult.score`` / ``max_score``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jinja2
import matplotlib
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from autograder.report.gradescope import STATUS_TEXT
from autograder.report.store import safe
from autograder.report.student_view import HIDDEN_MESSAGES, label, student_message, student_notes
from autograder.results import CheckResult, SubmissionResult

MARK = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "–"}
NOT_GRADED = "not graded here"
# Reproducible SVG (no date, fixed ids); text as glyph paths so its drawn size is the size matplotlib laid out.
SVG_STYLE = {"svg.fonttype": "path", "svg.hashsalt": "autograder-feedback", "font.size": 9}
COLOURS = {"full": "#2e7d32", "part": "#f0a020", "none": "#c62828", "grey": "#e8e8e8", "key": "#90caf9",
           "you": "#222222", "threshold": "#c62828"}
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                               autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                               lstrip_blocks=True)

# An absolute path (the grader's job folders, caches, the submission's own path on the grader): never for students.
_PATH = re.compile(r"(?<![\w.~/-])/(?:[^\s/'\"`<>]+/)+[^\s/'\"`<>,;:()]*")
# A fault of the grader itself: the exception after the colon is the grader's, for instructors.
_GRADER_FAULT = re.compile(r"^(the grader failed on this submission|the check step failed): .*", re.DOTALL)


def for_students(text: str) -> str:
    """Text a student may read: grader faults without their exception, absolute paths hidden."""
    text = _GRADER_FAULT.sub(r"\1 (a fault of the grader, not of your notebook; your instructor has the details)",
                             text)
    return _PATH.sub("[a path on the grader]", text)


def check_message(check: CheckResult) -> str:
    if check.status == "passed":
        return ""
    if check.status == "skipped":   # its message says why the grader could not run it: for instructors
        return HIDDEN_MESSAGES["skipped"]
    return for_students(student_message(check))


def questions(result: SubmissionResult) -> list[tuple[str, float, float | None]]:
    """(question, points earned, max points) in the checks' order; max is None where every check was skipped.

    Skipped checks leave the maximum, as ``SubmissionResult.max_score`` does: the lines add up to its total."""
    order: dict[str, list] = {}
    for c in result.checks:
        q = order.setdefault(c.question, [0.0, None])
        q[0] += c.points
        if c.status != "skipped":
            q[1] = (q[1] or 0.0) + c.max_points
    return [(q, round(e, 6), None if m is None else round(m, 6)) for q, (e, m) in order.items()]


def points_text(earned: float, maximum: float | None) -> str:
    return NOT_GRADED if maximum is None else f"{earned:g} / {maximum:g}"


def _figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)   # drawn and measured with Agg; no pyplot, no global backend
    return fig


def svg(fig: Figure, label_text: str) -> Markup:
    """The figure as an inline ``<svg>`` element (matplotlib's XML prologue dropped)."""
    buf = io.StringIO()
    with matplotlib.rc_context(SVG_STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # matplotlib's own output (no submission text: labels are glyph paths); the label is escaped here
    return Markup(text.replace("<svg ", Markup('<svg role="img" aria-label="{}" ').format(label_text), 1))


def questions_figure(result: SubmissionResult) -> Figure | None:
    """One horizontal bar per question: earned points (colour) over the question's maximum (grey); questions on
    the left, their points on the right, as tick labels that the layout keeps apart."""
    rows = questions(result)
    if not rows:
        return None
    with matplotlib.rc_context(SVG_STYLE):
        fig = _figure(6.4, 0.32 * len(rows) + 0.5)
        ax = fig.add_subplot()
        y = list(range(len(rows)))[::-1]
        top = max((m or 0.0) for _, _, m in rows) or 1.0
        for yi, (_, earned, mx) in zip(y, rows):
            if mx is None:
                continue
            colour = COLOURS["full"] if earned >= mx else COLOURS["part"] if earned > 0 else COLOURS["none"]
            ax.barh(yi, mx, height=0.6, color=COLOURS["grey"])
            ax.barh(yi, earned, height=0.6, color=colour)
        ax.set_xlim(0, top)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_yticks(y, [q for q, _, _ in rows], parse_math=False)   # a "$" in a name is not TeX
        right = ax.secondary_yaxis("right")
        right.set_yticks(y, [points_text(e, m) for _, e, m in rows], parse_math=False)
        for axis in (ax, right):
            axis.tick_params(length=0)
        ax.set_xticks([])
        for spine in (*ax.spines.values(), *right.spines.values()):
            spine.set_visible(False)
    return fig


def measurement_figure(value: float, entry: dict) -> Figure:
    """The student's value on an axis with the threshold and the answer key's observed range; the labels are in a
    legend beside the axis, so values close to each other never draw their labels over each other."""
    observed = [float(v) for v in entry.get("observed", []) if isinstance(v, (int, float))]
    limit = entry.get("threshold")
    limit = float(limit) if isinstance(limit, (int, float)) else None
    points = [value, *observed] + ([limit] if limit is not None else [])
    lo, hi = min(points), max(points)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 1.0
    with matplotlib.rc_context(SVG_STYLE):
        fig = _figure(6.4, 1.3)
        ax = fig.add_subplot()
        if observed:
            ax.axvspan(min(observed), max(observed), ymin=0.3, ymax=0.7, color=COLOURS["key"],
                       label=f"answer key: {key_range(observed)}")
            ax.plot(observed, [0.0] * len(observed), "|", color="#1565c0", markersize=14)
        if limit is not None:
            ax.axvline(limit, ymin=0.15, ymax=0.85, color=COLOURS["threshold"], linestyle="--",
                       label=f"threshold: {limit_text(limit, entry)}")
        ax.plot([value], [0.0], "o", color=COLOURS["you"], markersize=8, zorder=3, label=f"you: {value:.4g}")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        fig.legend(loc="outside right center", frameon=False)
    return fig


def key_range(observed: list[float]) -> str:
    lo, hi = min(observed), max(observed)
    span = f"{lo:.4g}" if lo == hi else f"{lo:.4g}–{hi:.4g}"
    return f"{span} over {len(observed)} seed{'s' if len(observed) > 1 else ''}"


def limit_text(limit: float, entry: dict) -> str:
    return {"min": "at least ", "max": "at most "}.get(entry.get("kind"), "") + f"{limit:.4g}"


def _thresholds(assignment: str) -> dict:
    from autograder import practicals

    try:
        return json.loads(practicals.get(assignment).thresholds.read_text())
    except (OSError, ValueError, LookupError):
        return {}


def _measurements(result: SubmissionResult) -> list[dict]:
    entries = _thresholds(result.assignment) if result.measurements else {}
    out = []
    for key, value in sorted(result.measurements.items()):
        if not isinstance(value, (int, float)):
            continue
        value, entry = float(value), entries.get(key)
        if not isinstance(entry, dict):
            out.append(dict(key=key, chart=None, caption=f"{value:.4g}"))
            continue
        caption = [f"your value {value:.4g}"]
        if isinstance(entry.get("threshold"), (int, float)):
            caption.append(f"threshold {limit_text(float(entry['threshold']), entry)}")
        observed = [v for v in entry.get("observed", []) if isinstance(v, (int, float))]
        if observed:
            caption.append(f"answer key {key_range(observed)}")
        out.append(dict(key=key, chart=svg(measurement_figure(value, entry), key), caption="; ".join(caption)))
    return out


def render(result: SubmissionResult) -> str:
    chart = questions_figure(result)
    return TEMPLATES.get_template("feedback.html.j2").render(
        name=label(result), student=result.student, status=result.status,
        score=f"{result.score:g} / {result.max_score:g}",
        status_text=STATUS_TEXT.get(result.status, ""), reason=for_students(result.reason),
        questions=[dict(question=q, points=points_text(e, m)) for q, e, m in questions(result)],
        questions_chart=svg(chart, "points per question") if chart is not None else "",
        checks=[dict(name=c.name, question=c.question, status=c.status, hidden=c.hidden,
                     mark=MARK.get(c.status, "?"), message=check_message(c),
                     points=NOT_GRADED if c.status == "skipped" else f"{c.points:g} / {c.max_points:g}")
                for c in result.checks],
        any_hidden=any(c.hidden for c in result.checks),
        any_skipped=any(c.status == "skipped" for c in result.checks),
        measurements=_measurements(result),
        notes=[for_students(n) for n in student_notes(result)])


def write_feedback(result: SubmissionResult, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result), encoding="utf-8")
    return path


def write_all(results: list[SubmissionResult], folder: Path) -> Path:
    """``<folder>/<student>/<assignment>.html`` for every result."""
    for r in results:
        write_feedback(r, Path(folder) / safe(r.student or "_") / f"{safe(label(r))}.html")
    return Path(folder)
