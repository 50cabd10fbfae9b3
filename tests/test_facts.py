"""Facts stated once: a constant of a notebook that a practical's checks or in-kernel code also define has one
value. The checks keep their own copy (they never read the student's notebook), so a test holds them together."""

from __future__ import annotations

import importlib

import pytest
from helpers import notebook_constants

from autograder import practicals


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
