"""Facts stated once: a constant of a notebook that a practical's checks or in-kernel code also define has one
value. The checks keep their own copy (they never read the student's notebook), so a test holds them together."""

from __future__ import annotations

import ast
import importlib

import nbformat
import pytest

from autograder import practicals


def notebook_constants(name: str) -> dict:
    """UPPER_CASE names bound to literals at the top level of the answer key's code cells (``N, D = 1000, 3`` too)."""
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


@pytest.mark.parametrize("name", list(practicals.REGISTRY))
def test_constants_shared_by_notebook_and_checks_agree(name):
    constants = notebook_constants(name)
    p = practicals.get(name)
    shared = 0
    for part in ("checks", "in_kernel"):
        module = importlib.import_module(p.module(part))
        for key, value in constants.items():
            if hasattr(module, key):
                shared += 1
                got = getattr(module, key)
                assert got == value or (isinstance(got, (tuple, list)) and list(got) == list(value)), \
                    f"{name}: {key} = {value!r} in the notebook but {got!r} in {part}.py"
    if name in ("01-sklearn", "03-mlp", "04-convnet"):
        assert shared, f"{name}: no shared constant found (the parser no longer sees the notebook's constants?)"
