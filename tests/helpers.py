"""Helpers the kit's tests share: wrong submissions from the answer key, in-process grading, Keras file edits.

Fixtures live in conftest.py; test modules import these with ``from helpers import ...``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder import practicals
from autograder.grade import grade_notebook
from autograder.paths import REPO

def mutate(source: Path, dest_dir: Path, edits: list[tuple[str, str]], name: str | None = None) -> Path:
    """Copy the notebook ``source`` into ``dest_dir`` with each ``(old, new)`` edit applied to its code.

    Every ``old`` must occur exactly once in the notebook, so a test breaks loudly when the notebook changes.
    """
    nb = nbformat.read(source, as_version=4)
    for old, new in edits:
        hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        count = sum(c.source.count(old) for c in hits)
        assert count == 1, f"{old!r} occurs {count} times in {source.name}, expected once"
        hits[0].source = hits[0].source.replace(old, new)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / (name or source.name)
    nbformat.write(nb, out)
    return out


def assert_caught(key: Path, tmp_path: Path, edits, expected: set[str]):
    """Grade a wrong submission made from ``key``: exactly the ``expected`` checks lose their points."""
    result = grade_notebook(mutate(key, tmp_path, edits))
    assert result.status == "graded", result.reason
    assert not_passed(result) == expected, {c.name: c.message for c in result.checks if c.status != "passed"}
    assert 0 < result.score < result.max_score
    return result


def outcome(result) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


def not_passed(result) -> set[str]:
    return {c.name for c in result.checks if c.status != "passed"}


def grade_in_process(name: str, tmp_path: Path, edits=(), keep: Path | None = None, hidden=None) -> list:
    """Run the (edited) answer key of ``name`` in this process, cell by cell as a kernel would, snapshot each
    question at its check cell with the real exporter, and run the checks on the snapshots (no kernel, fast)."""
    import importlib
    import linecache

    import matplotlib

    from autograder.check_api import Artifacts
    from autograder.engine.check_runner import run_checks
    from autograder.engine.assemble import check_cell_question
    from autograder.engine.in_kernel import Exporter

    matplotlib.use("Agg")
    a = practicals.get(name)
    exporter = importlib.import_module(a.in_kernel_module)
    nb = nbformat.read(mutate(a.solution_notebook(REPO), tmp_path / "nb", list(edits)), as_version=4)
    ns: dict = {"__name__": "__main__"}
    snapshots = {}
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        q = check_cell_question(cell)   # where the engine snapshots a question
        if q:
            out = (keep or tmp_path) / q
            ex = Exporter(ns, str(out), hidden, fresh=True, only=[q])
            exporter.export(ex)
            ex.finish()
            snapshots[q] = Artifacts(out, hidden)
            continue
        cell_name = f"<cell-{i}>"  # registered as IPython does, so that AutoGraph can read the functions' source
        linecache.cache[cell_name] = (len(cell.source), None, cell.source.splitlines(True), cell_name)
        try:
            exec(compile(cell.source, cell_name, "exec"), ns)
        except BaseException as e:  # a student's error: the kernel goes on (allow_errors)
            if isinstance(e, KeyboardInterrupt):
                raise
    import matplotlib.pyplot as plt

    plt.close("all")
    return run_checks(a.checks_module, snapshots)


def edit_keras(path, config=None, iterations=None, weights=None) -> None:
    """Rewrite a saved .keras file as another training would have left it.

    ``config(cfg)`` edits its config.json in place (or returns the new one); ``iterations`` sets the optimizer's
    update steps; ``weights`` is a function of the open weights file, or a number every weight is set to.
    """
    import io
    import json
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    if config is not None:
        cfg = json.loads(files["config.json"])
        edited = config(cfg)
        files["config.json"] = json.dumps(cfg if edited is None else edited).encode()
    if iterations is not None or weights is not None:
        buffer = io.BytesIO(files["model.weights.h5"])
        with h5py.File(buffer, "r+") as f:
            if iterations is not None:
                f["optimizer/vars/0"][()] = iterations
            if callable(weights):
                weights(f)
            elif weights is not None:
                for layer in list(f["layers"]):
                    for v in list(f[f"layers/{layer}/vars"]):
                        f[f"layers/{layer}/vars/{v}"][...] = weights
        files["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)


def notebook_constants(name: str) -> dict:
    """UPPER_CASE names bound to literals at the top level of the answer key's code cells (``N, D = 1000, 3`` too)."""
    import ast

    found = {}
    nb = nbformat.read(practicals.get(name).solution_notebook(), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
                continue
            target, value = node.targets[0], node.value
            pairs = [(target, value)]
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
                pairs = list(zip(target.elts, value.elts))
            for t, v in pairs:
                if isinstance(t, ast.Name) and t.id.isupper():
                    try:
                        found[t.id] = ast.literal_eval(v)
                    except ValueError:
                        pass
    return found


def failing_bwrap(folder: Path, said: str) -> Path:
    """A ``bwrap`` in ``folder`` that fails as one whose namespaces a host forbids (put ``folder`` first on PATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bwrap").write_text(f"#!/bin/sh\necho '{said}' >&2\nexit 1\n")
    (folder / "bwrap").chmod(0o755)
    return folder
