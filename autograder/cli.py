"""Command line (also ``python -m autograder``).

release · grade · merge · export · gradescope · ci · main · calibrate · data · student-kit · translations — ``autograder COMMAND
-h`` for each (``./kit COMMAND`` in the kit's folder).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.report import store
from autograder import practicals
from autograder.paths import course_dir
from autograder.results import SUBMISSION_STATUSES
from autograder.textsafe import printable


def cmd_release(args) -> int:
    from autograder.release import release

    for path in release(args.assignments or list(practicals.REGISTRY), args.root, args.lang):
        print(f"wrote {path}")
    _ensure_secret(args.root)
    return 0


def _languages() -> list[str]:
    from autograder.i18n import languages

    return languages()


def cmd_translations(args) -> int:
    from autograder import i18n

    for path in i18n.update_catalogs(root=args.root):
        print(f"updated {path}")
    for line in i18n.coverage_lines(args.root):
        print(line)
    return 0


def _ensure_secret(root) -> None:
    from autograder import secret

    if not secret.secret_path(root).exists() and not os.environ.get(secret.ENV):
        print(f"created the course secret {secret.ensure(root)} (it seeds the hidden inputs: keep it private, "
              "out of git, and the same for every grader of the course)")


def _need_secret(root=None) -> bool:
    """One line and False when the course has no secret (grading would use predictable hidden inputs)."""
    from autograder.secret import MissingSecret, course_secret

    try:
        course_secret(root)
        return True
    except MissingSecret as e:
        print(f"autograder: {e}", file=sys.stderr)
        return False


# -- argument types: bad input is refused by argparse (one line, exit code 2) before any work ------------

class Parser(argparse.ArgumentParser):
    """An error is one line on stderr (no usage block, never a traceback) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())} (see '{self.prog} -h')\n")


def _number(text: str, kind=float):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text!r}")
    return value


def workers(text: str) -> int:
    """``--workers N``: N processes; 0 means one per CPU core."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (one per CPU core) or more, got {text!r}")
    return value


def assignment(text: str) -> str:
    if text not in practicals.REGISTRY:
        raise argparse.ArgumentTypeError(f"unknown assignment {text!r} (known: {', '.join(practicals.REGISTRY)})")
    return text


def shard(text: str) -> tuple[int, int]:
    from autograder.batch import parse_shard

    try:
        return parse_shard(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--shard ")) from None


def timeout(text: str) -> tuple[str | None, float]:
    """``60`` (every notebook) or ``01-sklearn=20`` (one assignment)."""
    name, sec = text.split("=", 1) if "=" in text else (None, text)
    if name is not None:
        assignment(name)
    return name, positive(sec)


def seed_list(text: str) -> str:
    """``1,2,3``: checked here, split by ``calibrate``."""
    for part in text.split(","):
        _number(part.strip(), int)
    return text


def secret_file(text: str) -> str:
    """The secret itself, read from the file ``text``."""
    try:
        value = Path(text).read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise argparse.ArgumentTypeError(f"cannot read {text!r} ({e.strerror or type(e).__name__})") from None
    if not value:
        raise argparse.ArgumentTypeError(f"{text!r} is empty")
    return value


def _timeouts(values) -> tuple[float | None, dict]:
    """``--timeout 60`` (every notebook) and/or ``--timeout 01-sklearn=20`` (one assignment), parsed by ``timeout``."""
    default, per = None, {}
    for name, sec in values or []:
        if name is None:
            default = sec
        else:
            per[name] = sec
    return default, per


def cmd_grade(args) -> int:
    from collections import Counter

    from autograder import batch
    from autograder.report import export_all
    from autograder.report.console import table

    if not _need_secret(args.root):
        return 2
    out = Path(args.out)
    subs, warnings = batch.discover(args.paths)
    for w in warnings:
        print(f"warning: {printable(w)}", file=sys.stderr)
    if not subs:
        print(f"no notebooks found in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    where = " ".join(args.paths)
    for name in args.student or ():  # before sharding: a student graded in another shard is not unknown
        if not any(s.student == name for s in subs):
            print(f"no submission of student {printable(name)!r} in {printable(where)}", file=sys.stderr)
            return 2
    for name in args.assignment or ():
        if not any(s.label == name for s in subs):
            print(f"no submission of assignment {name!r} in {printable(where)}", file=sys.stderr)
            return 2
    if args.shard:
        subs = batch.shard(subs, *args.shard)
    subs = batch.select(subs, args.student or (), args.assignment or ())
    regrade = args.regrade
    if args.status:
        subs = [s for s in subs if (r := store.read_result(store.result_path(out, s))) and r.status in args.status]
        regrade = True
    timeout, per = _timeouts(args.timeout)
    options = batch.BatchOptions(workers=args.workers, seed=args.seed, device=args.device, timeout=timeout,
                                 timeouts=per, memory_mb=args.memory, regrade=regrade, progress=not args.no_progress)
    try:
        if args.scheduler and args.scheduler != "local":
            from autograder.cluster import run_cluster_batch

            run = run_cluster_batch(subs, out, args.scheduler, options)
        else:
            run = batch.run_batch(subs, out, options)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the results so far are in {out / store.RESULTS}/; run the same command again to "
              "grade the rest", file=sys.stderr)
        return 130
    results = [r for s in subs if (r := store.read_result(store.result_path(out, s))) is not None]
    print(table(results, details=args.details or (not args.brief and len(results) <= 10)))
    counts = Counter(r.status for r in results)
    states = f" ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})" if counts else ""
    now = f"{len(run.graded)} graded now in {run.wall_s:.1f} s"
    if run.graded:
        now += f" with {_plural(run.workers or options.workers or os.cpu_count() or 1, 'worker')}"
    print(f"\n{_plural(len(results), 'submission')}{states}; {now}, {len(run.skipped)} already graded")
    if not args.no_export:
        written = export_all(store.load_results(out), out, gradebook=args.gradebook, feedback=not args.no_feedback)
        print("exports: " + ", ".join(str(p) for p in written.values()))
    print(f"results in {out / store.RESULTS}/")
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def cmd_merge(args) -> int:
    from autograder import batch
    from autograder.report import export_all

    count, warnings = batch.merge(args.shards, args.out)
    for w in warnings:
        print(f"warning: {printable(w)}", file=sys.stderr)
    written = export_all(store.load_results(Path(args.out)), Path(args.out), gradebook=args.gradebook,
                         feedback=not args.no_feedback)
    print(f"merged {_plural(count, 'result')} from {_plural(len(args.shards), 'shard')} into {args.out}; exports: "
          + ", ".join(str(p) for p in written.values()))
    return 0 if count else 1


def cmd_export(args) -> int:
    from autograder.report import export_all

    if args.classroom:
        from autograder.report.classroom import workflow

        text = workflow(args.classroom)
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(text)
            print(f"wrote {args.output}")
        else:
            print(text, end="")
        return 0
    results = store.load_results(Path(args.folder))
    if not results:
        print(f"no results in {Path(args.folder) / store.RESULTS}", file=sys.stderr)
        return 2
    written = export_all(results, Path(args.folder), gradebook=args.gradebook, feedback=not args.no_feedback)
    print("exports: " + ", ".join(str(p) for p in written.values()))
    return 0


def cmd_gradescope(args) -> int:
    from autograder.report import gradescope_zip as gradescope

    if args.action == "build":
        from autograder.secret import course_secret

        if not args.secret_file and not _need_secret(args.root):
            return 2
        secret = args.secret_file or course_secret(args.root)  # secret_file: the file's text (see ``secret_file``)
        path = gradescope.build_zip(args.output, args.assignment, secret, args.root,
                                    allow_unsandboxed=args.allow_unsandboxed)
        print(f"wrote {path}")
        return 0
    r = gradescope.run(args.submission, args.results, args.assignment, args.metadata, args.timeout)
    print(f"{r.status} {r.score:g}/{r.max_score:g} -> {args.results or gradescope.gradescope_root() / 'results' / 'results.json'}")
    return 0


def cmd_ci(args) -> int:
    from autograder.ci import main_cli

    if not _need_secret(args.root):
        return 2
    return main_cli(args)


def cmd_main(args) -> int:
    """Grade every finished practical's answer key and blank release; fail if either is off."""
    from autograder.batch import clean_stale_jobs
    from autograder.engine.kernels import KernelPool
    from autograder.grade import grade_notebook
    from autograder.report.console import table
    from autograder.report.store import write_named

    root = course_dir(args.root)
    _ensure_secret(root)
    clean_stale_jobs()
    results, problems = [], []
    with KernelPool() as pool:   # the blank's kernel starts while the key's checks run
        for a in practicals.REGISTRY.values():
            for kind, path in (("answer key", a.solution_notebook(root)), ("blank release", a.release_notebook(root))):
                r = grade_notebook(path, device=args.device, student=kind.replace(" ", "-"), pool=pool)
                results.append(r)
                write_named(r, Path(args.out))
                print(f"{a.name} {kind}: {r.status} {r.score:g}/{r.max_score:g} "
                      f"({r.timings.get('total_s', 0):.1f} s)", file=sys.stderr)
                if kind == "answer key" and (r.status != "graded" or r.score != r.max_score):
                    problems.append(f"{a.name}: the answer key scores {r.score:g}/{r.max_score:g} ({r.status})")
                if kind == "blank release" and (r.status != "graded" or r.score != 0):
                    problems.append(f"{a.name}: the blank release scores {r.score:g} ({r.status}), expected 0")
    print(table(results))
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


def cmd_calibrate(args) -> int:
    from autograder.calibrate import main_cli

    if not _need_secret(args.root):
        return 2
    return main_cli(args)


def cmd_student_kit(args) -> int:
    from autograder.studentkit import build

    out = build(args.out)
    print(f"wrote {out}: students install it with `pip install {out}` (public checks only; hidden checks, "
          "their inputs' generators and the grading engine stay with you)")
    return 0


def cmd_data(args) -> int:
    from autograder.data import load_fashion_mnist
    from autograder.datasets import IMAGENET

    for split in ("train", "test"):
        x, y = load_fashion_mnist(split)
        print(f"Fashion-MNIST {split}: {x.shape[0]} images in Keras' cache")
    # optional: without them 05's ImageNet checks are skipped and leave every total
    where = IMAGENET.source()
    if where is not None:
        print(f"InceptionV3's ImageNet weights: in {where} (05's ImageNet checks run)")
    else:
        print("InceptionV3's ImageNet weights: missing, so 05's three ImageNet checks are skipped (they leave every "
              "total).\n" + IMAGENET.how_to_install())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="autograder", description=__doc__)
    p.add_argument("--root", default=None, help="course folder (default: the kit's own)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="generate release/ (nbgrader) and solutions/ from source/")
    r.add_argument("assignments", nargs="*", type=assignment, help="default: every practical")
    r.add_argument("--lang", default="en", choices=_languages(),
                   help="en: release/<a>/ and solutions/<a>/; another language: release/<lang>/<a>/ and "
                        "solutions/<lang>/<a>/, translated from autograder/locale/<lang>/ (default: en)")
    r.set_defaults(func=cmd_release)

    tr = sub.add_parser("translations", help="merge the course's current texts into each language's catalog "
                                             "(autograder/locale/) and print its coverage")
    tr.set_defaults(func=cmd_translations)

    g = sub.add_parser("grade", help="grade notebooks or a class (files or folders; nbgrader's submitted/ too)")
    g.add_argument("paths", nargs="+")
    g.add_argument("--out", default="grades", help="folder for results/ and the exports (default: grades/)")
    g.add_argument("--workers", type=workers, default=0,
                   help="notebooks graded in parallel (default 0: one per CPU core)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786; docs/cluster.md); "
                        "'local' or none: worker processes on this machine")
    g.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu")
    g.add_argument("--seed", type=int, default=1234)
    g.add_argument("--timeout", action="append", type=timeout, metavar="[ASSIGNMENT=]SECONDS",
                   help="seconds per notebook, for all or one assignment (default: per assignment; repeatable)")
    g.add_argument("--memory", type=positive, default=None, help="MB per notebook (default: per assignment)")
    g.add_argument("--shard", type=shard, default=None, metavar="I/N", help="grade only shard I of N (1-based)")
    g.add_argument("--student", action="append", help="only this student (repeatable)")
    g.add_argument("--assignment", action="append", type=assignment, help="only this assignment (repeatable)")
    g.add_argument("--status", action="append", choices=SUBMISSION_STATUSES,
                   help="re-grade the submissions recorded with this status")
    g.add_argument("--regrade", action="store_true", help="grade again even if a result for the same bytes exists")
    g.add_argument("--gradebook", default=None, help="update this nbgrader gradebook.db (default: OUT/gradebook.db)")
    g.add_argument("--no-export", action="store_true", help="record results only (e.g. a shard)")
    g.add_argument("--no-feedback", action="store_true", help="skip the HTML feedback pages")
    g.add_argument("--no-progress", action="store_true")
    g.add_argument("--brief", action="store_true", help="one line per submission")
    g.add_argument("--details", action="store_true", help="every check of every submission")
    g.set_defaults(func=cmd_grade)

    mg = sub.add_parser("merge", help="combine the results of shards (folders written by grade --shard) and export")
    mg.add_argument("shards", nargs="+")
    mg.add_argument("--out", required=True)
    mg.add_argument("--gradebook", default=None)
    mg.add_argument("--no-feedback", action="store_true")
    mg.set_defaults(func=cmd_merge)

    ex = sub.add_parser("export", help="write grades.csv, gradebook.db, Gradescope results.json, HTML feedback "
                                       "from a grade folder; or a GitHub Classroom workflow")
    ex.add_argument("folder", nargs="?", default="grades")
    ex.add_argument("--gradebook", default=None)
    ex.add_argument("--no-feedback", action="store_true")
    ex.add_argument("--classroom", type=assignment, metavar="ASSIGNMENT",
                    help="print the GitHub Classroom workflow of ASSIGNMENT")
    ex.add_argument("-o", "--output", default=None, help="with --classroom: write the workflow there")
    ex.set_defaults(func=cmd_export)

    gs = sub.add_parser("gradescope", help="build Gradescope's autograder zip, or grade inside its container")
    gs_sub = gs.add_subparsers(dest="action", required=True)
    gb = gs_sub.add_parser("build", help="write the autograder zip (setup.sh, run_autograder, the kit)")
    gb.add_argument("-o", "--output", default="autograder.zip")
    gb.add_argument("--assignment", type=assignment, default=None, help="grade every upload as this assignment")
    gb.add_argument("--allow-unsandboxed", action="store_true",
                    help="grade even where the sandbox (bubblewrap) cannot run: student code then runs as root, "
                         "unconfined")
    gb.add_argument("--secret-file", type=secret_file, default=None,
                    help="file with AUTOGRADER_SECRET (the hidden inputs' seed)")
    gb.set_defaults(func=cmd_gradescope)
    gr = gs_sub.add_parser("run", help="grade a submission folder, write results.json (run_autograder calls this)")
    gr.add_argument("submission", nargs="?", default=None, help="default: $AUTOGRADER_ROOT/submission")
    gr.add_argument("--results", default=None, help="default: $AUTOGRADER_ROOT/results/results.json")
    gr.add_argument("--metadata", default=None, help="Gradescope's submission_metadata.json")
    gr.add_argument("--assignment", type=assignment, default=None)
    gr.add_argument("--timeout", type=positive, default=None)
    gr.set_defaults(func=cmd_gradescope)

    ci = sub.add_parser("ci", help="fail unless answer keys score full marks, blanks 0, every mutant is caught "
                                   "and release/ is fresh")
    ci.add_argument("assignments", nargs="*", type=assignment,
                    help="default: every practical with a source notebook")
    ci.add_argument("--workers", type=workers, default=0,
                    help="notebooks graded in parallel (default 0: one per CPU core)")
    ci.add_argument("--out", default=None, help="keep the graded results there (default: a temporary folder)")
    ci.add_argument("--skip", action="append", choices=["keys", "mutants", "stale"], default=[])
    ci.set_defaults(func=cmd_ci)

    m = sub.add_parser("main", help="grade the answer keys and blank releases of every practical")
    m.add_argument("--out", default="grades/kit")
    m.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu")
    m.set_defaults(func=cmd_main)

    c = sub.add_parser("calibrate", help="grade an answer key under K seeds and write the practical's thresholds.json")
    c.add_argument("assignments", nargs="*", type=assignment,
                   help="default: every practical that has a thresholds file")
    c.add_argument("--k", type=positive_int, default=5, help="number of seeds (default 5, from the grading seed up)")
    c.add_argument("--seeds", type=seed_list, default=None, help="comma-separated seeds (overrides --k)")
    c.add_argument("--margin", type=float, default=0.02, help="margin for new keys (existing keys keep theirs)")
    c.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu")
    c.add_argument("--timeout", type=positive, default=None, help="seconds per notebook (default: per assignment)")
    c.add_argument("--workers", type=positive_int, default=1, help="seeds graded in parallel (default 1)")
    c.add_argument("--dry-run", action="store_true", help="print the derived thresholds, write nothing")
    c.add_argument("--wrong", action="append", metavar="KEY=VALUE",
                   help="record a known-wrong value of KEY (e.g. chance level); the threshold must reject it")
    c.set_defaults(func=cmd_calibrate)

    d = sub.add_parser("data", help="put Fashion-MNIST in Keras' cache (from Debian's package, else download); "
                                    "say whether 05's ImageNet weights are there")
    d.set_defaults(func=cmd_data)

    k = sub.add_parser("student-kit", help="write the students' package: self-checks with public checks only")
    k.add_argument("--out", default="dist/student-kit", help="folder to write (replaced; default dist/student-kit)")
    k.set_defaults(func=cmd_student_kit)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    root = next((a.split("=", 1)[1] for a in argv if a.startswith("--root=")), None)
    if root is None and "--root" in argv[:-1]:
        root = argv[argv.index("--root") + 1]
    if root:   # before parsing: a course's own practicals are names the parser must know
        practicals.use_course(root)
    args = build_parser().parse_args(argv)
    if sys.flags.optimize:
        from autograder.engine.check_runner import OptimisedPython, refuse_optimised

        try:
            refuse_optimised()
        except OptimisedPython as e:
            print(f"autograder: {e}", file=sys.stderr)
            return 2
    return args.func(args)
