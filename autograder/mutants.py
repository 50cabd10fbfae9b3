"""Declarative wrong submissions per practical: ``autograder.mutants.<module>.WRONG``.

Each practical's list is shared by its tests (tests/test_pNN_*.py) and ``autograder ci``, which applies the
edits to the answer key and fails when a mutant is not caught at its named checks.
"""

from __future__ import annotations

import importlib

from autograder import practicals


def load(name: str) -> list:
    """The WRONG list of assignment ``name`` ([] when the practical has none yet)."""
    try:
        module = importlib.import_module(practicals.get(name).module("mutants"))
    except ModuleNotFoundError:
        return []
    return list(getattr(module, "WRONG", []))


def apply_edits(source, dest, edits) -> None:
    """Write ``source`` (a notebook) to ``dest`` with each (old, new) edit applied to its code cells once.

    Raises ValueError when an ``old`` does not occur exactly once (the answer key changed under the mutant).
    """
    from pathlib import Path

    import nbformat

    nb = nbformat.read(source, as_version=4)
    for old, new in edits:
        hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        count = sum(c.source.count(old) for c in hits)
        if count != 1:
            raise ValueError(f"{old!r} occurs {count} times in {Path(source).name}, expected once")
        hits[0].source = hits[0].source.replace(old, new)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def by_id(name: str, mutant: str) -> tuple:
    """The mutant ``(id, edits, expected)`` of assignment ``name`` called ``mutant``."""
    found = [m for m in load(name) if m[0] == mutant]
    if not found:
        raise KeyError(f"{name} has no mutant {mutant!r}")
    return found[0]
