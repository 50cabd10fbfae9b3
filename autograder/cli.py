"""Command line: ``autograder release | grade | main | data`` (also ``python -m autograder``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import assignments
from autograder.paths import course_dir


def find_notebooks(paths: list[str]) -> list[Path]:
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            found.append(p)
    return found


def cmd_release(args) -> int:
    from autograder.release import release

    for path in release(args.assignments or list(assignments.REGISTRY), args.root):
        print(f"wrote {path}")
    return 0


def cmd_grade(args) -> int:
    from autograder.grade import grade_notebook
    from autograder.report import table, write_json

    notebooks = find_notebooks(args.paths)
    if not notebooks:
        print(f"no notebooks found in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    results = []
    for nb in notebooks:
        r = grade_notebook(nb, device=args.device, seed=args.seed, timeout_s=args.timeout)
        results.append(r)
        write_json(r, Path(args.out))
        print(f"{r.status:<8} {r.score:g}/{r.max_score:g}  {nb}", file=sys.stderr)
    print(table(results, details=not args.brief))
    print(f"\nJSON results in {args.out}/")
    return 0


def cmd_main(args) -> int:
    """Grade every finished practical's answer key and blank release; fail if either is off."""
    from autograder.grade import grade_notebook
    from autograder.report import table, write_json

    root = course_dir(args.root)
    results, problems = [], []
    for a in assignments.REGISTRY.values():
        for kind, path in (("answer key", a.solution_notebook(root)), ("blank release", a.release_notebook(root))):
            r = grade_notebook(path, device=args.device, student=kind.replace(" ", "-"))
            results.append(r)
            write_json(r, Path(args.out))
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


def cmd_data(args) -> int:
    from autograder.data import load_fashion_mnist

    for split in ("train", "test"):
        x, y = load_fashion_mnist(split)
        print(f"Fashion-MNIST {split}: {x.shape[0]} images in Keras' cache")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autograder", description=__doc__)
    p.add_argument("--root", default=None, help="course folder (default: the kit's own)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="generate release/ (nbgrader) and solutions/ from source/")
    r.add_argument("assignments", nargs="*")
    r.set_defaults(func=cmd_release)

    g = sub.add_parser("grade", help="grade notebooks (files or folders)")
    g.add_argument("paths", nargs="+")
    g.add_argument("--out", default="grades", help="folder for the JSON results (default: grades/)")
    g.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu")
    g.add_argument("--seed", type=int, default=1234)
    g.add_argument("--timeout", type=float, default=None, help="seconds per notebook (default: per assignment)")
    g.add_argument("--brief", action="store_true", help="one line per submission")
    g.set_defaults(func=cmd_grade)

    m = sub.add_parser("main", help="grade the answer keys and blank releases of every practical")
    m.add_argument("--out", default="grades/kit")
    m.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu")
    m.set_defaults(func=cmd_main)

    d = sub.add_parser("data", help="put Fashion-MNIST in Keras' cache (from Debian's package, else download)")
    d.set_defaults(func=cmd_data)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
