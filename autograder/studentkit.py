"""The student kit: what students install to self-check, without what only the grader may hold.

``autograder student-kit --out DIR`` writes a small installable package (also named ``autograder``, so the
notebooks' ``from autograder.selfcheck import check`` works unchanged) holding the self-check client, the
exporters, the data and model helpers, the check runner and each practical's PUBLIC checks. Hidden checks, the
generators of hidden inputs (``make_hidden``) and every function only they use are cut out of the checks
modules; the number and points of each question's hidden checks ship as data, for the self-check's
"+ N hidden check(s)" line. The grading engine (execute, sandbox, batch, retrace, exports, calibration,
mutants) does not ship at all.

Public checks still compute their expected values on the public inputs, so the references they call ship:
they are what the self-check compares with, on inputs every student already has.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

from autograder import practicals

KIT = Path(__file__).resolve().parent
SHIPPED = ["__init__.py", "selfcheck.py", "paths.py", "datasets.py", "data.py", "results.py", "textsafe.py",
           "check_api.py", "engine/__init__.py", "engine/in_kernel.py", "engine/check_runner.py",
           "report/__init__.py", "report/console.py", "practicals/__init__.py", "practicals/*/__init__.py",
           "practicals/*/practical.toml", "practicals/*/in_kernel.py", "practicals/*/thresholds.json",
           "models/__init__.py", "models/*.keras", "i18n.py", "locale/*/LC_MESSAGES/*.po"]
HIDDEN_COUNTS = "practicals/hidden_counts.json"
NOT_FOR_STUDENTS = ("make_hidden",)
GRADER_DEPENDENCIES = ("nbgrader", "nbclient", "psutil", "pytest-xdist", "tqdm", "jupyter_client", "dask",
                       "distributed")


def _is_hidden_check(node: ast.AST) -> bool:
    for d in getattr(node, "decorator_list", []):
        if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "check":
            return any(k.arg == "hidden" and isinstance(k.value, ast.Constant) and k.value.value for k in d.keywords)
    return False


def _is_check(node: ast.AST) -> bool:
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "check"
               for d in getattr(node, "decorator_list", []))


def _defined(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
           {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)} | _requested(node)


def _requested(node: ast.AST) -> set[str]:
    """The fixtures a check or a fixture asks for by its parameters' names (pytest finds them by name)."""
    fixture = any("fixture" in ast.unparse(d) for d in getattr(node, "decorator_list", []))
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not (_is_check(node) or fixture):
        return set()
    a = node.args
    return {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}


def public_source(source: str) -> str:
    """A checks module without its hidden checks, ``make_hidden`` and the definitions only they need."""
    tree = ast.parse(source)
    body = [n for n in tree.body if not _is_hidden_check(n) and not (_defined(n) & set(NOT_FOR_STUDENTS))]
    roots = [n for n in body if _is_check(n) or not _defined(n)]   # public checks, imports, docstring, ...
    definitions = [n for n in body if n not in roots]
    kept, needed = set(), set().union(*(_used(n) for n in roots)) if roots else set()
    changed = True
    while changed:   # keep a definition when something kept uses its name
        changed = False
        for n in definitions:
            if id(n) not in kept and _defined(n) & needed:
                kept.add(id(n))
                needed |= _used(n)
                changed = True
    tree.body = [n for n in body if n in roots or id(n) in kept]
    return ast.unparse(tree) + "\n"


def hidden_counts() -> dict:
    """question -> [number of hidden checks, their points], for every practical."""
    from autograder.engine.check_runner import list_checks

    counts: dict[str, list] = {}
    for a in practicals.REGISTRY.values():
        for c in list_checks(a.checks_module):
            if c.hidden:
                n, pts = counts.get(c.question, [0, 0.0])
                counts[c.question] = [n + 1, pts + c.max_points]
    return counts


def _pyproject() -> str:
    import tomllib

    project = tomllib.loads((KIT.parent / "pyproject.toml").read_text())["project"]
    deps = [d for d in project["dependencies"] if not d.split("=")[0].split(";")[0].strip().startswith(GRADER_DEPENDENCIES)]
    lines = ["[build-system]", 'requires = ["setuptools>=68"]', 'build-backend = "setuptools.build_meta"', "",
             "[project]", 'name = "dl4img-student"', f'version = "{project["version"]}"',
             'description = "Self-checks for the deep-learning-for-images practicals (public checks only)"',
             f'requires-python = "{project["requires-python"]}"', "dependencies = ["]
    lines += [f"    {json.dumps(d)}," for d in deps] + ["]", "", "[tool.setuptools]", 'py-modules = ["dl4img"]', "",
                                                        "[tool.setuptools.packages.find]",
                                                        'include = ["autograder*"]', "",
                                                        "[tool.setuptools.package-data]",
                                                        'autograder = ["**/*.json", "**/*.keras", "practicals/*/practical.toml", "locale/*/LC_MESSAGES/*.po"]', ""]
    return "\n".join(lines)


def build(out: str | Path) -> Path:
    """Write the student kit to ``out`` (replaced if it exists); return it."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    pkg = out / "autograder"
    for pattern in SHIPPED:
        for src in sorted(KIT.glob(pattern)):
            dst = pkg / src.relative_to(KIT)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for a in practicals.REGISTRY.values():
        src = a.folder / "checks.py"
        (pkg / src.relative_to(KIT)).write_text(public_source(src.read_text()))
    (pkg / HIDDEN_COUNTS).write_text(json.dumps(hidden_counts(), indent=1))
    shutil.copy2(KIT.parent / "dl4img.py", out)   # the notebooks' helper module: autograder.data imports it
    (out / "pyproject.toml").write_text(_pyproject())
    (out / "README.md").write_text("Self-checks for the practicals: `pip install .` here, then run the notebooks; "
                                   "each `check(...)` cell runs that question's public checks.\n")
    return out
