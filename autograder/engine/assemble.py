"""Notebook assembly: the notebook a kernel runs for one submission.

The preamble (seeds, numerics flags), the student's code cells, each locked ``check("NN.q")`` cell replaced by a
snapshot cell that exports that question's answers, and a final export cell for the questions whose check cell
did not run. The export code is the practical's ``in_kernel.py`` and ``engine/in_kernel.py``, inlined as source:
the kernel imports nothing of the grader's.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import io
import re
import secrets
from pathlib import Path

import nbformat
import numpy as np

from autograder.practicals import Practical

KERNEL_NAME = "autograder-python3"


def preamble_source(assignment: Practical, seed: int, device: str) -> str:
    """Determinism injected before the student's first cell."""
    lines = [
        "import random as _ag_random, numpy as _ag_np",
        f"_ag_random.seed({seed}); _ag_np.random.seed({seed})",
    ]
    if assignment.tensorflow:
        # inlined, as the exporters are (the kernel imports nothing of the kit): scikit-learn stays out of
        # TensorFlow's import; the notebook's own `import sklearn` still works (Keras' wrappers go without it)
        from autograder.engine.in_kernel import import_tensorflow, turn_off_tf_data_autotune

        if assignment.keras:
            load = ["_ag_tf = _ag_import_tensorflow()", f"_ag_tf.keras.utils.set_random_seed({seed})"]
        else:   # TensorFlow's import loads Keras (1 s of CPU): without it, seeded as Keras' set_random_seed does
            load = ['_ag_tf = _ag_import_tensorflow(leave_out=("sklearn", "keras"))',
                    f"_ag_random.seed({seed}); _ag_np.random.seed({seed}); _ag_tf.random.set_seed({seed})"]
        lines += [
            inspect.getsource(import_tensorflow).replace("def import_tensorflow", "def _ag_import_tensorflow"),
            *load,
            "_ag_tf.config.experimental.enable_op_determinism()",
            inspect.getsource(turn_off_tf_data_autotune).replace("def turn_off", "def _ag_turn_off"),
            "_ag_turn_off_tf_data_autotune(_ag_tf)",
            "del _ag_tf, _ag_import_tensorflow, _ag_turn_off_tf_data_autotune",
        ]
    lines.append("del _ag_random, _ag_np")
    return "\n".join(lines)

CHECK_CELL = re.compile(r"""^check\(\s*["']([\w.\-]+)["']\s*\)$""")
ONLY_PLACEHOLDER = "__AG_ONLY__"   # the worker fills in the questions the final export cell must take


def check_cell_question(cell) -> str | None:
    """The question of a locked ``check("NN.q")`` cell (as released), else None."""
    meta = cell.metadata.get("nbgrader")
    if cell.cell_type != "code" or not isinstance(meta, dict) or not (meta.get("locked") or meta.get("grade")):
        return None
    m = CHECK_CELL.match(cell.source.strip())
    return m.group(1) if m else None


def export_plan(assignment: Practical, hidden: dict | None = None) -> dict[str, tuple]:
    """Artifact name -> questions, as the practical's exporter declares them; hidden artifacts marked by a
    leading ``!`` (they need the hidden inputs)."""
    from autograder.engine.in_kernel import Exporter

    practical = importlib.import_module(assignment.in_kernel_module)
    public = Exporter({}, None)
    practical.export(public)
    plan = dict(public.tags)
    if hidden is not None:
        full = Exporter({}, None, hidden=hidden)
        practical.export(full)
        plan.update({"!" + k: v for k, v in full.tags.items() if k not in public.tags})
    return plan


def export_source(assignment: Practical, out_dir: str, hidden: dict | None, only) -> str:
    """An export cell: the kit's exporter modules, inlined, run on the student's namespace for ``only``.

    The random states of Python and numpy are restored afterwards, so that taking a snapshot between two
    student cells does not change what the next cell draws.
    """
    from autograder.engine import in_kernel as common

    practical = importlib.import_module(assignment.in_kernel_module)
    blob = ""
    if hidden:
        buf = io.BytesIO()
        np.savez(buf, **hidden)
        blob = base64.b64encode(buf.getvalue()).decode()
    only_src = ONLY_PLACEHOLDER if only is None else repr(sorted(only))
    return f'''def _ag_export():
    import base64, io, random, types
    import numpy as np
    states = random.getstate(), np.random.get_state()
    mods = []
    for name, src in (("common", {inspect.getsource(common)!r}), ("practical", {inspect.getsource(practical)!r})):
        mod = types.ModuleType("_ag_" + name)
        exec(compile(src, "<autograder " + name + ">", "exec"), mod.__dict__)
        mods.append(mod)
    hidden = None
    if {blob!r}:
        with np.load(io.BytesIO(base64.b64decode({blob!r})), allow_pickle=False) as z:
            hidden = {{k: z[k] for k in z.files}}
    ex = mods[0].Exporter(get_ipython().user_ns, {out_dir!r}, hidden, fresh=True, only={only_src})
    try:
        mods[1].export(ex)
        ex.finish()
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
_ag_export()
del _ag_export
'''


def build_run_notebook(nb, assignment: Practical, work: Path, hidden: dict | None, preamble: str):
    """Preamble (already run by the warm kernel), the student's code cells, then the final export cell.

    Each locked ``check("NN.q")`` cell is replaced by a snapshot cell that exports that question's answers
    (with the hidden inputs, if the question has hidden checks) into a fresh folder of an unguessable name;
    the worker moves it out of the kernel's reach before the next student cell runs. The final export cell
    takes the questions whose check cell did not run (the worker fills in which).
    """
    plan = export_plan(assignment, hidden)
    hidden_questions = {q for name, qs in plan.items() if name.startswith("!") for q in qs}
    questions = sorted({q for qs in plan.values() for q in qs})
    cells = [nbformat.v4.new_code_cell(preamble, metadata={"ag_role": "preamble"})]
    seen = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        q = check_cell_question(cell)
        if q in questions and q not in seen:
            seen.add(q)
            out = str(work / f"artifacts-{secrets.token_hex(8)}")
            source = export_source(assignment, out, hidden if q in hidden_questions else None, [q])
            cells.append(nbformat.v4.new_code_cell(source, metadata={
                "ag_index": i, "ag_role": "snapshot", "ag_question": q, "ag_out": out}))
        else:
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"ag_index": i}))
    out = str(work / f"artifacts-{secrets.token_hex(8)}")
    cells.append(nbformat.v4.new_code_cell(export_source(assignment, out, hidden, None), metadata={
        "ag_role": "export", "ag_out": out, "ag_questions": questions}))
    run = nbformat.v4.new_notebook(cells=cells)
    run.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3 (autograder)", "language": "python"}
    return run

