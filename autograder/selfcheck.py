"""Student self-checks: ``check("02.total_error")`` in a notebook runs the public checks of one question.

It uses the grader's own export -> check code on the live kernel's objects, so a ✓ here means the
public part of the grading will pass; hidden checks (other inputs, stricter structure) run only at grading.
Under ``nbgrader autograde`` (NBGRADER_EXECUTION set) a failed question raises, as nbgrader grade cells must.
Its lines and the checks' messages are in the notebook's language (its ``metadata.autograder.language``).
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path

from autograder import i18n
from autograder.i18n import _
from autograder.practicals import REGISTRY
from autograder.check_api import Artifacts
from autograder.engine.check_runner import list_checks, run_checks
from autograder.engine.in_kernel import Exporter
from autograder.report.console import MARK


def _assignment_of(question: str):
    prefix = question.split(".")[0]
    for a in REGISTRY.values():
        if a.name.split("-")[0] == prefix:
            return a
    raise ValueError(f"no assignment has a question {question!r}")


def _language(assignment) -> str:
    """The language of the running notebook: the file Jupyter names (JPY_SESSION_NAME, VS Code's
    __vsc_ipynb_file__), else the notebook of this assignment in the kernel's folder (Jupyter starts a kernel in its
    notebook's folder); English when none is found or several disagree."""
    named = [os.environ.get("JPY_SESSION_NAME", "")]
    try:
        from IPython import get_ipython

        named.append(str(get_ipython().user_ns.get("__vsc_ipynb_file__", "")))
    except Exception:  # no IPython: a plain Python process
        pass
    for candidates in ([Path(n) for n in named if n.endswith(".ipynb")], sorted(Path.cwd().glob("*.ipynb"))):
        found = set()
        for path in candidates:
            try:
                nb = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if nb.get("metadata", {}).get("autograder", {}).get("assignment") == assignment.name:
                found.add(i18n.notebook_language(nb))
        if found:
            return found.pop() if len(found) == 1 else i18n.DEFAULT
    return i18n.DEFAULT


def check(question: str, namespace: dict | None = None) -> None:
    """Run the public checks of ``question`` on the notebook's variables and print ✓/✗ lines.

    Returns None, so a check cell shows no ``Out:`` and ``nbgrader validate`` finds no output to warn about."""
    if namespace is None:
        from IPython import get_ipython

        namespace = get_ipython().user_ns
    assignment = _assignment_of(question)
    with i18n.use(_language(assignment)):
        _check(question, namespace, assignment)


def _check(question: str, namespace: dict, assignment) -> None:
    exporter = importlib.import_module(assignment.in_kernel_module)
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as folder:
        ex = Exporter(namespace, folder, lazy=True, only=[question])  # what grading snapshots here, computed on demand
        exporter.export(ex)
        results = run_checks(assignment.checks_module, Artifacts(folder, exporter=ex), include_hidden=False,
                             question=question, language=i18n.current())
    if not results:
        print(_("no public checks for {question}").format(question=question))
        return None
    for r in results:
        line = f"{MARK[r.status]} {r.name} ({r.points:g}/{r.max_points:g})"
        print(line + (f": {r.message}" if r.status != "passed" and r.message else ""))
    count, points = _hidden_count(assignment.checks_module, question)
    if count:
        print(_("  + {count} hidden check(s) worth {points:g} point(s) at grading").format(count=count, points=points))
    ok = all(r.status == "passed" for r in results)
    if not ok and os.environ.get("NBGRADER_EXECUTION"):
        # under `nbgrader autograde` a grade cell scores by raising, so a failed question must raise there
        raise AssertionError(_("{question}: some public checks failed (see above)").format(question=question))
    return None


def _hidden_count(module: str, question: str) -> tuple[int, float]:
    """How many hidden checks ``question`` has, and their points: from the checks themselves (the grader's kit)
    or from the data the student kit ships instead of them."""
    import json
    from pathlib import Path

    counts = Path(__file__).parent / "practicals" / "hidden_counts.json"
    if counts.is_file():
        n, pts = json.loads(counts.read_text()).get(question, [0, 0])
        return int(n), float(pts)
    hidden = [c for c in list_checks(module) if c.hidden and c.question == question]
    return len(hidden), sum(c.max_points for c in hidden)
