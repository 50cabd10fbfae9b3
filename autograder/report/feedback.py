"""Feedback for students: one self-contained HTML page per student and assignment.

Each check with its points and message; a bar chart of points per question; where the checks measured values
(accuracies, losses: ``SubmissionResult.measurements``), the student's value against the calibrated threshold
and the answer key's observed range. Everything is inline (CSS, SVG): the page reads offline. Hidden checks show
their name, points and result with a generic line (``student_view.student_message``), never their message, code, inputs
or expected values; notes pass through ``student_view.student_note``. Every string from a submission is HTML-escaped.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from autograder.report.store import safe
from autograder.report.student_view import label, student_message, student_notes
from autograder.report.gradescope import STATUS_TEXT
from autograder.results import SubmissionResult

MARK = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "–"}
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#555;margin-top:0}
.score{font-size:2rem;font-weight:700} .status{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee}
.status.graded{background:#e3f4e3} .status.timeout,.status.memory,.status.error,.status.invalid{background:#fde2e1}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
td.pts{white-space:nowrap;text-align:right} tr.passed td.mark{color:#1a7f37} tr.failed td.mark,tr.error td.mark{color:#c62828}
.hidden-tag{font-size:.75rem;color:#555;border:1px solid #aaa;border-radius:.2rem;padding:0 .25rem;margin-left:.3rem}
.msg{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;white-space:pre-wrap}
.reason{background:#fff4e5;border-left:4px solid #f0a020;padding:.5rem .8rem}
figure{margin:1rem 0} figcaption{color:#555;font-size:.85rem}
"""


def questions(result: SubmissionResult) -> list[tuple[str, float, float]]:
    """(question, points earned, max points) in the checks' order."""
    order: dict[str, list[float]] = {}
    for c in result.checks:
        q = order.setdefault(c.question, [0.0, 0.0])
        q[0] += c.points
        q[1] += c.max_points
    return [(q, e, m) for q, (e, m) in order.items()]


def bar_chart(result: SubmissionResult) -> str:
    """Inline SVG: one horizontal bar per question, earned points over the maximum."""
    rows = questions(result)
    if not rows:
        return ""
    top = max(m for _, _, m in rows) or 1.0
    width, left, bar_w, row_h = 640, 150, 380, 26
    height = row_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="points per question" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="chart">']
    for i, (q, earned, mx) in enumerate(rows):
        y = 5 + i * row_h
        full, got = bar_w * mx / top, bar_w * earned / top
        colour = "#2e7d32" if earned >= mx else ("#f0a020" if earned > 0 else "#c62828")
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" font-size="13">{escape(q)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{full:.1f}" height="18" fill="#e8e8e8"/>')
        parts.append(f'<rect class="earned" data-question="{escape(q)}" x="{left}" y="{y + 3}" width="{got:.1f}" '
                     f'height="18" fill="{colour}"/>')
        parts.append(f'<text x="{left + full + 6:.1f}" y="{y + 16}" font-size="13">{earned:g} / {mx:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _thresholds(assignment: str) -> dict:
    from autograder import practicals

    try:
        return json.loads(practicals.get(assignment).thresholds.read_text())
    except (OSError, ValueError, LookupError):
        return {}


def measurement_chart(key: str, value: float, entry: dict) -> str:
    """Inline SVG: the student's value on an axis with the threshold and the answer key's observed range."""
    observed = [float(v) for v in entry.get("observed", []) if isinstance(v, (int, float))]
    limit = entry.get("threshold")
    points = [value, *observed] + ([float(limit)] if isinstance(limit, (int, float)) else [])
    lo, hi = min(points), max(points)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    width, left, right = 640, 20, 620

    def x(v):
        return left + (right - left) * (v - lo) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(key)}" width="{width}" '
             f'height="70" viewBox="0 0 {width} 70" class="measure">',
             f'<line x1="{left}" y1="40" x2="{right}" y2="40" stroke="#999"/>']
    if observed:
        parts.append(f'<rect x="{x(min(observed)):.1f}" y="32" width="{max(x(max(observed)) - x(min(observed)), 2):.1f}" '
                     f'height="16" fill="#bbdefb"><title>answer key</title></rect>')
        parts.append(f'<text x="{x(max(observed)):.1f}" y="64" font-size="11" text-anchor="middle">answer key</text>')
    if isinstance(limit, (int, float)):
        parts.append(f'<line x1="{x(limit):.1f}" y1="24" x2="{x(limit):.1f}" y2="56" stroke="#c62828" '
                     f'stroke-dasharray="4 2"/><text x="{x(limit):.1f}" y="18" font-size="11" text-anchor="middle">'
                     f'threshold {float(limit):.4g}</text>')
    parts.append(f'<circle cx="{x(value):.1f}" cy="40" r="6" fill="#222"><title>you: {value:.4g}</title></circle>'
                 f'<text x="{x(value):.1f}" y="64" font-size="11" text-anchor="middle">you {value:.4g}</text></svg>')
    return "".join(parts)


def render(result: SubmissionResult) -> str:
    name = label(result)
    title = f"{name} — feedback for {result.student or 'you'}"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{escape(name)}</h1>",
           f'<p class="sub">{escape(result.student or "")}</p>',
           f'<p><span class="score" id="score">{result.score:g} / {result.max_score:g}</span> '
           f'<span class="status {escape(result.status)}" id="status">{escape(result.status)}</span></p>',
           f"<p>{escape(STATUS_TEXT.get(result.status, ''))}</p>"]
    if result.reason:
        out.append(f'<p class="reason" id="reason">{escape(result.reason)}</p>')
    chart = bar_chart(result)
    if chart:
        out.append(f"<h2>Points per question</h2><figure>{chart}<figcaption>Points earned (colour) out of the "
                   f"question's points (grey).</figcaption></figure>")
    if result.checks:
        out.append('<h2>Checks</h2><table id="checks"><thead><tr><th></th><th>question</th><th>check</th>'
                   '<th>points</th><th>message</th></tr></thead><tbody>')
        for c in result.checks:
            tag = '<span class="hidden-tag">hidden check</span>' if c.hidden else ""
            msg = student_message(c) if c.status != "passed" else ""
            out.append(f'<tr class="{escape(c.status)}" data-check="{escape(c.name)}"><td class="mark">'
                       f'{MARK.get(c.status, "?")}</td><td>{escape(c.question)}</td><td>{escape(c.name)}{tag}</td>'
                       f'<td class="pts">{c.points:g} / {c.max_points:g}</td><td class="msg">{escape(msg)}</td></tr>')
        out.append("</tbody></table>")
        if any(c.hidden for c in result.checks):
            out.append("<p>Hidden checks run your code on other inputs at grading time; their inputs, expected "
                       "values and messages are not shown.</p>")
    if result.measurements:
        entries = _thresholds(result.assignment)
        figs = []
        for key, value in sorted(result.measurements.items()):
            entry = entries.get(key)
            if isinstance(entry, dict) and isinstance(value, (int, float)):
                figs.append(f"<figure>{measurement_chart(key, float(value), entry)}<figcaption>{escape(key)}: your "
                            f"value, the threshold and the answer key's range over seeds.</figcaption></figure>")
            elif isinstance(value, (int, float)):
                figs.append(f"<p>{escape(key)}: {float(value):.4g}</p>")
        if figs:
            out.append("<h2>Your values against the reference</h2>" + "".join(figs))
    if result.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f'<li class="msg">{escape(n)}</li>' for n in student_notes(result))
                   + "</ul>")
    out.append("</body></html>")
    return "\n".join(out)


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
