"""Run a practical's checks as pytest tests on an artifacts folder; return one CheckResult per check."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from autograder import i18n
from autograder.check_api import Artifacts, MissingAnswer
from autograder.results import CheckResult


class _Collector:
    """pytest plugin: provides the ``art`` fixture, selects checks, and records their outcomes."""

    def __init__(self, artifacts, include_hidden: bool, question: str | None, missing: str = ""):
        self.artifacts = artifacts    # one Artifacts for all questions, or question -> Artifacts (snapshots)
        self.missing = missing
        self.include_hidden = include_hidden
        self.question = question
        self.results: dict[str, CheckResult] = {}
        self.order: list[str] = []
        self.collect_errors: list[str] = []
        self.selected: list[CheckResult] = []

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "check(question, points, hidden): a graded check")
        # results take the exception's own message: pytest's traceback report of a failure (the terminal
        # plugin's --tb, off with it) parses the checks' source, ~50 ms a failed check
        config.option.tbstyle = "no"

    @pytest.fixture
    def art(self, request):
        if isinstance(self.artifacts, Artifacts):
            return self.artifacts
        question = request.node.get_closest_marker("check").kwargs["question"]
        found = self.artifacts.get(question)
        if found is None:
            raise MissingAnswer(self.missing or i18n._("no answers of {question} were captured").format(
                question=question), raised=True)
        return found

    def pytest_collection_modifyitems(self, items, config):
        keep = []
        for item in items:
            mark = item.get_closest_marker("check")
            if mark is None:
                continue
            if mark.kwargs.get("hidden") and not self.include_hidden:
                continue
            if self.question and mark.kwargs["question"] != self.question:
                continue
            keep.append(item)
            self.order.append(item.nodeid)
            self.selected.append(CheckResult(status="error", **_describe(item, mark)))
        items[:] = keep

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(str(report.longrepr)[-2000:])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        mark = item.get_closest_marker("check")
        if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
            self.results[item.nodeid] = _to_result(item, mark, report, call)

    def ordered(self) -> list[CheckResult]:
        return [self.results[n] for n in self.order if n in self.results]


def _describe(item, mark) -> dict:
    name = item.name[5:] if item.name.startswith("test_") else item.name
    return dict(name=name, question=mark.kwargs["question"], max_points=float(mark.kwargs["points"]),
                hidden=bool(mark.kwargs.get("hidden", False)))


def _to_result(item, mark, report, call) -> CheckResult:
    kw = _describe(item, mark)
    if report.skipped:
        reason = call.excinfo.value.msg if call.excinfo is not None and hasattr(call.excinfo.value, "msg") else ""
        return CheckResult(status="skipped", message=str(reason), **kw)
    if report.passed:
        return CheckResult(status="passed", **kw)
    exc = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exc, MissingAnswer):
        return CheckResult(status="error" if exc.raised else "failed", message=str(exc), **kw)
    if isinstance(exc, AssertionError):
        msg = str(exc).split("\nassert ")[0].strip() or "check failed"
        return CheckResult(status="failed", message=msg, **kw)
    return CheckResult(status="error", message=f"{type(exc).__name__}: {str(exc)[:300]}", **kw)


class OptimisedPython(RuntimeError):
    pass


def refuse_optimised() -> None:
    """Checks must not run under ``python -O``: it strips bare ``assert``, so a wrong answer could pass."""
    if sys.flags.optimize:
        raise OptimisedPython("refusing to grade under `python -O` (it strips assert statements, so wrong "
                              "answers could pass): run without -O and without PYTHONOPTIMIZE")


def _pytest(module: str, collector: _Collector, extra: list[str]) -> None:
    refuse_optimised()
    path = importlib.import_module(module).__file__
    args = [path, *extra, "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:stepwise",
            "-p", "no:unraisableexception",  # its gc.collect() x4 per run costs ~1 s with TensorFlow loaded
            "--capture=no", "-c", os.devnull, "--rootdir", os.path.dirname(path),
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    code = pytest.main(args, plugins=[collector])
    if collector.collect_errors or code not in (0, 1, 5):
        raise RuntimeError(f"checks module {module} could not run (pytest exit {code}): "
                           + "\n".join(collector.collect_errors))


def run_checks(module: str, artifacts, include_hidden: bool = True,
               question: str | None = None, missing: str = "", language: str = i18n.DEFAULT) -> list[CheckResult]:
    """Run ``module``'s checks (a dotted module name) on ``artifacts``; their messages in ``language``.

    ``artifacts``: one ``Artifacts`` for every question, or a dict question -> ``Artifacts`` (each question's
    snapshot, taken at its check cell); a question absent from the dict gets ``missing`` as its error.
    """
    collector = _Collector(artifacts, include_hidden, question, missing)
    with i18n.use(language):
        _pytest(module, collector, [])
    return collector.ordered()


def list_checks(module: str, include_hidden: bool = True, status: str = "error",
                message: str = "") -> list[CheckResult]:
    """Every check of ``module`` without running it, all with ``status`` (for submissions that never ran)."""
    collector = _Collector(Artifacts("/nonexistent"), include_hidden, None)
    _pytest(module, collector, ["--collect-only"])
    return [CheckResult(**{**c.__dict__, "status": status, "message": message}) for c in collector.selected]
