"""Notebook hygiene: locked cells restored, moved/duplicated/deleted cells handled, wrong notebooks refused."""

import copy

import nbformat
import pytest

from autograder import practicals
from autograder.grade import grade_notebook, load_submission
from autograder.hygiene import normalise
from autograder.paths import REPO
from helpers import mutate

KEY = practicals.get("02-graphs").solution_notebook(REPO)
RELEASE = nbformat.read(practicals.get("02-graphs").release_notebook(REPO), as_version=4)


def key():
    return nbformat.read(KEY, as_version=4)


def gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def test_untouched_answer_key_needs_no_repair():
    fixed, notes = normalise(key(), RELEASE)
    assert notes == []
    assert [c.source for c in fixed.cells] == [c.source for c in key().cells]


def test_edited_locked_cell_is_restored():
    nb = key()
    data = next(c for c in nb.cells if "b_np = np.float32(0.5)" in c.source)
    data.source = data.source.replace("0.5", "0.0")
    fixed, notes = normalise(nb, RELEASE)
    assert any("was edited and has been restored" in n for n in notes)
    assert "b_np = np.float32(0.5)" in "\n".join(c.source for c in fixed.cells)


def test_edited_check_cell_is_restored():
    nb = key()
    cell = next(c for c in nb.cells if c.source == 'check("02.numpy")')
    cell.source = 'print("✓ all checks passed")'
    fixed, notes = normalise(nb, RELEASE)
    assert 'check("02.numpy")' in [c.source for c in fixed.cells]
    assert any("02_numpy" in n for n in notes)


def test_deleted_locked_cell_is_restored_in_place():
    nb = key()
    nb.cells = [c for c in nb.cells if "w = tf.Variable(w_np" not in c.source]
    fixed, notes = normalise(nb, RELEASE)
    assert any("was deleted and has been restored" in n for n in notes)
    assert [gid(c) for c in fixed.cells] == [gid(c) for c in key().cells]


def test_moved_and_duplicated_cells_run_in_released_order():
    nb = key()
    cells = nb.cells
    nb.cells = [cells[5], *cells[:5], *cells[6:], copy.deepcopy(cells[5])]
    fixed, notes = normalise(nb, RELEASE)
    assert any("moved" in n for n in notes) and any("more than once" in n for n in notes)
    assert [gid(c) for c in fixed.cells] == [gid(c) for c in key().cells]


def test_students_extra_cells_stay_after_their_predecessor():
    nb = key()
    i = next(i for i, c in enumerate(nb.cells) if gid(c) == "predict_np")
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell("helper = 1"))
    fixed, _ = normalise(nb, RELEASE)
    j = next(i for i, c in enumerate(fixed.cells) if gid(c) == "predict_np")
    assert fixed.cells[j + 1].source == "helper = 1"


def test_notebook_of_another_assignment_is_refused(tmp_path):
    other = [a for a in practicals.REGISTRY.values()
             if a.name != "02-graphs" and a.release_notebook(REPO).is_file()]
    if not other:
        pytest.skip("no other practical is released yet")
    path = tmp_path / "02-graphs.ipynb"
    path.write_bytes(other[0].release_notebook(REPO).read_bytes())
    with pytest.raises(ValueError, match=f"notebook of {other[0].name}"):
        load_submission(path)


def test_huge_notebook_is_refused(tmp_path):
    nb = key()
    nb.cells[0].attachments = {"big.png": {"image/png": "A" * (21 * 2**20)}}
    path = tmp_path / "02-graphs.ipynb"
    nbformat.write(nb, path)
    result = grade_notebook(path)
    assert result.status == "invalid" and "more than 20 MB" in result.reason


def test_tampered_data_cell_still_grades_full_marks(tmp_path):
    """End to end: a student who changes the given data gets it restored, and a note says so."""
    path = mutate(KEY, tmp_path, [("b_np = np.float32(0.5)", "b_np = np.float32(7.0)"),
                                  ('check("02.shapes")', 'print("✓ all passed")')])
    result = grade_notebook(path)
    assert result.status == "graded" and result.score == result.max_score
    assert sum("has been restored" in n for n in result.notes) == 2


def test_a_notebook_of_many_cells_is_refused_before_it_is_parsed(tmp_path):
    import json

    from autograder.grade import grade_notebook

    path = tmp_path / "02-graphs.ipynb"
    cells = [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None}]
    path.write_text(json.dumps({"cells": cells * 60_000, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = grade_notebook(path)   # the count comes from the bound, checked before nbformat's slow validation
    assert result.status == "invalid" and "60,000 cells, more than 2,000" in result.reason
