"""``autograder ci``: the course's own health check, for instructors' CI.

Fails (exit 1) when, for a practical: its answer key scores below full marks, its blank release scores above 0,
a mutant (its ``mutants.py: WRONG``) is not caught at its named checks, or the committed ``release/`` /
``solutions/`` differ from what ``autograder release`` generates now from ``source/``.
Every notebook is graded through the batch runner (parallel workers).

A notebook that runs out of time says nothing about the checks: it is graded once more, alone, with
``RETRY_FACTOR`` times its budget; if it still runs out, the machine was too slow, and that is reported as such
(exit 3, "inconclusive"), not as a mutant that was not caught.
It also prints each language's translation coverage (``autograder/i18n.py``), for information.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from autograder.report import store
from autograder import practicals, batch, mutants
from autograder.i18n import coverage_lines
from autograder.paths import course_dir
from autograder.textsafe import printable


def finished(root: Path) -> list[str]:
    return [a for a in practicals.REGISTRY if (root / "source" / a / f"{a}.ipynb").exists()]


def stale(names: list[str], root: Path) -> list[str]:
    """Regenerate release/ and solutions/ into a temporary copy of the course; name what differs."""
    from autograder.release import release

    problems = []
    with tempfile.TemporaryDirectory(prefix="ag-ci-release-") as tmp:
        copy = Path(tmp)
        shutil.copytree(root / "source", copy / "source")
        if (root / "nbgrader_config.py").exists():
            shutil.copy(root / "nbgrader_config.py", copy)
        try:
            release(names, copy)
        except Exception as e:
            return [f"release failed: {e}"]
        for name in names:
            for folder in ("release", "solutions"):
                fresh, committed = copy / folder / name, root / folder / name
                if not committed.is_dir():
                    problems.append(f"{folder}/{name} is missing: run `autograder release {name}`")
                    continue
                cmp = filecmp.dircmp(fresh, committed)
                if cmp.left_only or cmp.right_only or cmp.diff_files:
                    problems.append(f"{folder}/{name} is stale: run `autograder release {name}` (missing "
                                    f"{cmp.left_only}, extra {cmp.right_only}, differing {cmp.diff_files})")
    return problems


def build_class(names: list[str], root: Path, folder: Path, keys: bool, with_mutants: bool):
    """An nbgrader-style ``submitted/`` tree: answer key, blank release and mutants as students.

    Returns ({(student, assignment): expected}, problems); expected is "full", "zero" or a set of check names.
    """
    expected, problems = {}, []
    for name in names:
        a = practicals.get(name)
        key, blank = a.solution_notebook(root), a.release_notebook(root)
        if keys:
            for student, src, want in (("answer-key", key, "full"), ("blank-release", blank, "zero")):
                if not src.exists():
                    problems.append(f"{name}: {src} is missing")
                    continue
                dest = folder / student / name / a.notebook
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dest)
                expected[(student, name)] = want
        if with_mutants:
            wrong = mutants.load(name)
            if not wrong:
                print(f"note: {name} has no mutants ({a.folder / 'mutants.py'})", file=sys.stderr)
            for mid, edits, lose in wrong:
                student = f"mutant-{mid}"
                try:
                    mutants.apply_edits(key, folder / student / name / a.notebook, edits)
                except ValueError as e:
                    problems.append(f"{name}: mutant {mid} no longer applies to the answer key: {e}")
                    continue
                expected[(student, name)] = set(lose)
    return expected, problems


RETRY_FACTOR = 3
SLOW = "the machine was too slow: "   # prefix of the problems that are not verdicts


def judge(result, want) -> str | None:
    """The problem with one result, if any."""
    who = f"{result.assignment}: {result.student}"
    if result.status == "timeout":
        cpu = result.timings.get("cpu_s")
        return (f"{SLOW}{who} ran out of its time budget twice ({result.reason}"
                + (f"; {cpu:g} s of CPU time" if cpu is not None else "") + "), so it was not judged")
    if result.status != "graded":
        return f"{who} was not graded ({result.status}: {result.reason})"
    lost = {c.name for c in result.checks if c.status in ("failed", "error")}  # skipped: not graded here
    if want == "full" and result.score != result.max_score:
        return f"{who} scores {result.score:g}/{result.max_score:g}, expected full marks (lost: {sorted(lost)})"
    if want == "zero" and result.score != 0:
        return f"{who} scores {result.score:g}, expected 0"
    if isinstance(want, set):
        if not lost:
            return f"{who} is not caught: full marks"
        if lost != want:
            return (f"{who} loses points at {sorted(lost)}, expected exactly {sorted(want)} "
                    f"(missing {sorted(want - lost)}, extra {sorted(lost - want)})")
    return None


def _retry_timeouts(subs, results_dir: Path, timeouts: dict, progress: bool) -> None:
    """Grade the submissions that ran out of time once more, one at a time, with a larger budget."""
    slow = [s for s in subs if (r := store.read_result(store.result_path(results_dir, s))) and r.status == "timeout"]
    if not slow:
        return
    budget = {s.label: RETRY_FACTOR * (timeouts.get(s.label) or practicals.get(s.label).timeout_s) for s in slow}
    print(f"note: {len(slow)} notebook(s) ran out of time; grading them again alone with {RETRY_FACTOR}x the budget: "
          + ", ".join(f"{s.label}: {s.student}" for s in slow), file=sys.stderr)
    batch.run_batch(slow, results_dir, batch.BatchOptions(workers=1, regrade=True, progress=progress,
                                                          timeouts=budget))


def run_ci(names=None, root=None, workers: int = 0, out=None, skip=(), progress: bool = True,
           timeouts: dict | None = None) -> list[str]:
    """The problems found (empty: the course is healthy). ``timeouts``: seconds per assignment (default: its own)."""
    timeouts = dict(timeouts or {})
    root = course_dir(root)
    names = list(names or finished(root))
    problems: list[str] = []
    if not names:
        return ["no practical has a source notebook"]
    if "stale" not in skip:
        problems += stale(names, root)
    keys, with_mutants = "keys" not in skip, "mutants" not in skip
    if not (keys or with_mutants):
        return problems
    with tempfile.TemporaryDirectory(prefix="ag-ci-") as tmp:
        folder = Path(tmp) / "submitted"
        expected, build_problems = build_class(names, root, folder, keys, with_mutants)
        problems += build_problems
        results_dir = Path(out) if out else Path(tmp) / "grades"
        subs, _ = batch.discover([folder])
        batch.run_batch(subs, results_dir, batch.BatchOptions(workers=workers, regrade=True, progress=progress,
                                                              timeouts=timeouts))
        _retry_timeouts(subs, results_dir, timeouts, progress)
        kills: dict[str, list[tuple[bool, bool]]] = {}   # practical -> (caught, caught exactly where named)
        for s in subs:
            r = store.read_result(store.result_path(results_dir, s))
            want = expected[(s.student, s.label)]
            if r is None:
                problems.append(f"{s.label}: {s.student} has no result")
                continue
            p = judge(r, want)
            if isinstance(want, set) and r.status != "timeout":   # a timeout is no verdict either way
                caught = r.status == "graded" and r.score < r.max_score
                kills.setdefault(s.label, []).append((caught, p is None))
            status = "ok" if p is None else "PROBLEM"
            print(f"{status:<8} {printable(s.label):<14} {printable(s.student):<34} {printable(r.status):<8} "
                  f"{r.score:g}/{r.max_score:g}",
                  file=sys.stderr)
            if p:
                problems.append(p)
        for line in kill_rates(kills):
            print(line, file=sys.stderr)
    return problems


def kill_rates(kills: dict[str, list[tuple[bool, bool]]]) -> list[str]:
    """One line per practical: how many of its mutants lost points, and how many exactly at their named checks."""
    lines = []
    for name in sorted(kills):
        k = kills[name]
        caught, exact = sum(c for c, _ in k), sum(e for _, e in k)
        lines.append(f"mutants {name}: {caught}/{len(k)} caught ({100 * caught / len(k):.0f} % kill rate), "
                     f"{exact}/{len(k)} exactly at their named checks")
    return lines


def main_cli(args) -> int:
    problems = run_ci(args.assignments, args.root, args.workers, args.out, set(args.skip))
    for line in coverage_lines(args.root):   # information, never a failure: untranslated text shows in English
        print(line, file=sys.stderr)
    for p in problems:
        print(f"{'SLOW' if p.startswith(SLOW) else 'PROBLEM'}: {printable(p)}", file=sys.stderr)
    verdicts = [p for p in problems if not p.startswith(SLOW)]
    if verdicts:
        print("ci: FAILED", file=sys.stderr)
        return 1
    if problems:
        print(f"ci: INCONCLUSIVE: {len(problems)} notebook(s) ran out of time even alone with {RETRY_FACTOR}x the "
              "budget; no check failed. Rerun on a less busy machine.", file=sys.stderr)
        return 3
    print("ci: ok", file=sys.stderr)
    return 0
