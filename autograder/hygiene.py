"""Notebook hygiene: compare a submission with its released notebook, restore what students may not change.

Like nbgrader, locked cells (given code, check cells) are restored from the release when edited, deleted or
moved; answers stay as the student wrote them. Anything the kit changes or cannot use is reported as a note.
A notebook whose cells belong to another assignment is refused.
"""

from __future__ import annotations

import copy

import nbformat

MAX_NOTEBOOK_MB = 20
MAX_CELLS = 2000             # a released notebook has well under 100; students add some
MAX_SOURCE_MB = 2            # the code and text students write, all cells together


class WrongAssignment(ValueError):
    pass


def check_bounds(path) -> None:
    """Refuse a notebook with too many cells or too much source before parsing it with nbformat.

    JSON parsing is fast; nbformat's validation of tens of thousands of cells is not (14 s for 60,000).
    Raises ValueError with the reason.
    """
    import json

    try:
        data = json.loads(open(path, "rb").read())
    except (OSError, ValueError) as e:
        raise ValueError(f"not a valid notebook: {type(e).__name__}") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        return  # nbformat says what is wrong
    if len(cells) > MAX_CELLS:
        raise ValueError(f"the notebook has {len(cells):,} cells, more than {MAX_CELLS:,}")
    size = 0
    for cell in cells:
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        size += sum(len(s) for s in source) if isinstance(source, list) else len(str(source))
    if size > MAX_SOURCE_MB * 2**20:
        raise ValueError(f"the notebook's cells hold {size / 2**20:.1f} MB of source, more than {MAX_SOURCE_MB} MB")


def grade_ids(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.metadata.get("nbgrader"), dict) and "grade_id" in c.metadata["nbgrader"]]


def _signature(nb) -> set:
    """(grade id, source) of locked cells and grade id of answer cells: what identifies a released notebook."""
    sig = set()
    for c in nb.cells:
        meta = c.metadata.get("nbgrader")
        if isinstance(meta, dict) and "grade_id" in meta:
            sig.add((meta["grade_id"], None if meta.get("solution") else c.source))
    return sig


def overlap(nb, release) -> float:
    """Share of the release's identifying cells found unchanged in ``nb``."""
    ref = _signature(release)
    return len(ref & _signature(nb)) / len(ref) if ref else 1.0


def normalise(nb, release) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to run: the release's cell order, locked cells as released, the student's answers and extra cells.

    Returns the new notebook and notes for the student.
    """
    notes: list[str] = []
    released = {c.metadata["nbgrader"]["grade_id"]: c for c in release.cells
                if isinstance(c.metadata.get("nbgrader"), dict) and "grade_id" in c.metadata["nbgrader"]}
    order = list(released)
    seen: dict[str, object] = {}
    extras: dict[str | None, list] = {}   # student cells without a grade id, after the last known cell
    last = None
    sequence = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if gid is None or gid not in released:
            if gid is not None:
                notes.append(f"cell {gid!r} is not in the released notebook; it runs as your own code")
            extras.setdefault(last, []).append(cell)
            continue
        if gid in seen:
            notes.append(f"cell {gid!r} appears more than once; only its first copy is used")
            continue
        seen[gid] = cell
        sequence.append(gid)
        last = gid
    if [g for g in order if g in seen] != sequence:
        notes.append("cells were moved; the notebook is graded in the released order")

    out = []
    out += extras.get(None, [])
    for gid in order:
        ref = released[gid]
        locked = ref.metadata["nbgrader"].get("locked") and not ref.metadata["nbgrader"].get("solution")
        cell = seen.get(gid)
        if cell is None:
            if locked:
                notes.append(f"the locked cell {gid!r} was deleted and has been restored")
                cell = copy.deepcopy(ref)
            else:
                notes.append(f"the answer cell {gid!r} is missing")
                continue
        elif locked and (cell.source != ref.source or cell.cell_type != ref.cell_type):
            notes.append(f"the locked cell {gid!r} was edited and has been restored as released")
            cell = copy.deepcopy(ref)
        out.append(cell)
        out += extras.get(gid, [])
    new = nbformat.v4.new_notebook(cells=out, metadata=copy.deepcopy(nb.metadata))
    return new, notes
