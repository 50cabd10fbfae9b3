"""release/ and solutions/ are generated from source/ by the real nbgrader; a stale copy fails here."""

import filecmp
import shutil

import nbformat
import pytest

from autograder import practicals
from autograder.paths import REPO
from autograder.release import release

FINISHED = [a for a in practicals.REGISTRY if (REPO / "source" / a / f"{a}.ipynb").exists()]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(REPO / "source", root / "source")
    shutil.copy(REPO / "nbgrader_config.py", root)
    release(FINISHED, root)
    return root


@pytest.mark.parametrize("name", FINISHED)
@pytest.mark.parametrize("folder", ["release", "solutions"])
def test_committed_copy_is_fresh(regenerated, name, folder):
    fresh, committed = regenerated / folder / name, REPO / folder / name
    cmp = filecmp.dircmp(fresh, committed)
    assert not (cmp.left_only or cmp.right_only or cmp.diff_files), (
        f"{folder}/{name} is stale: run `autograder release {name}` "
        f"(missing {cmp.left_only}, extra {cmp.right_only}, differing {cmp.diff_files})")


@pytest.mark.parametrize("name", FINISHED)
def test_release_hides_solutions_and_keeps_checks(name):
    nb = nbformat.read(REPO / "release" / name / f"{name}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "### BEGIN SOLUTION" not in text
    assert "raise NotImplementedError()" in text
    assert 'check("' in text
    assert any(c.metadata.get("nbgrader", {}).get("solution") for c in nb.cells)
    locked = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")]
    assert locked and all("checksum" in c.metadata["nbgrader"] for c in locked)
