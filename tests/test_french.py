"""The course in French from the same source: `release --lang fr` (real nbgrader on the translated source), graded
exactly like English (answer keys full marks, blanks 0, same checks and points), messages in French, the catalog's
coverage reported by `ci`."""

import io
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout

import nbformat
import numpy as np
import pytest
from babel.messages.pofile import read_po

from autograder import batch, i18n, practicals
from autograder.engine.check_runner import list_checks
from autograder.paths import REPO
from autograder.release import release
from autograder.report import store

FINISHED = [a for a in practicals.REGISTRY if (REPO / "source" / a / f"{a}.ipynb").exists()]
KEY_02 = "    return np.sum(w * x, axis=1) + b\n"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the course released in French."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(REPO / "source", root / "source")
    shutil.copy(REPO / "nbgrader_config.py", root)
    release(FINISHED, root, lang="fr")
    return root


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """One batch: every French answer key and blank, and a wrong French 02 (predict_np off by one)."""
    sub = tmp_path_factory.mktemp("submitted")
    for name in FINISHED:
        for student, folder in (("key-fr", "solutions"), ("blank-fr", "release")):
            (sub / student / name).mkdir(parents=True)
            shutil.copy(course / folder / "fr" / name / f"{name}.ipynb", sub / student / name)
    wrong = sub / "wrong-fr" / "02-graphs" / "02-graphs.ipynb"
    wrong.parent.mkdir(parents=True)
    text = (course / "solutions/fr/02-graphs/02-graphs.ipynb").read_text()
    assert text.count(KEY_02.replace("\n", "\\n")) == 1
    wrong.write_text(text.replace(KEY_02.replace("\n", "\\n"), KEY_02.replace("b\n", "b + 1\n").replace("\n", "\\n")))
    out = tmp_path_factory.mktemp("grades")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(sub), "--workers", "2", "--out", str(out),
                           "--no-export", "--no-progress", "--brief"], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    subs, _ = batch.discover([sub])
    return {(s.student, s.label): store.read_result(store.result_path(out, s)) for s in subs}


def test_release_fr_is_translated_and_keeps_the_code(course):
    for name in FINISHED:
        src = nbformat.read(REPO / "source" / name / f"{name}.ipynb", as_version=4)
        for folder in ("release", "solutions"):
            nb = nbformat.read(course / folder / "fr" / name / f"{name}.ipynb", as_version=4)
            assert nb.metadata["autograder"] == {"assignment": name, "language": "fr"}
            assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells] == \
                   [c.metadata.get("nbgrader", {}).get("grade_id") for c in src.cells]
        # every practical's text is in the catalog: its title shows in French
        blank = nbformat.read(course / "release" / "fr" / name / f"{name}.ipynb", as_version=4)
        assert blank.cells[0].source.startswith(f"# TP {name[:2]} — "), blank.cells[0].source[:80]
        assert "raise NotImplementedError()" in "".join(c.source for c in blank.cells)   # real nbgrader ran
    key = nbformat.read(course / "solutions/fr/02-graphs/02-graphs.ipynb", as_version=4)
    assert KEY_02 in "".join(c.source + "\n" for c in key.cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", FINISHED)
def test_french_key_full_marks_and_blank_zero(graded, name):
    key, blank = graded[("key-fr", name)], graded[("blank-fr", name)]
    english = list_checks(practicals.get(name).checks_module)
    assert key.status == "graded" and key.score == key.max_score, [(c.name, c.message) for c in key.checks
                                                                     if c.status != "passed"]
    skipped = sum(c.max_points for c in key.checks if c.status == "skipped")   # 05's ImageNet checks, without weights
    assert key.max_score == sum(c.max_points for c in english) - skipped > 0
    assert [(c.name, c.max_points) for c in key.checks] == [(c.name, c.max_points) for c in english]
    assert blank.status == "graded" and blank.score == 0 and blank.max_score == key.max_score
    # the blank's messages come in the notebook's language: unanswered questions say so in French
    messages = [c.message for c in blank.checks if c.status != "passed"]
    assert any(m.startswith("le calcul de `") for m in messages), messages
    assert not [m for m in messages if m.startswith(("computing `", "no answer for `"))], messages
    assert not [n for n in key.notes if "restored" in n], key.notes   # the French release is the reference


@pytest.mark.slow
def test_wrong_french_answer_gets_french_messages(graded):
    r = graded[("wrong-fr", "02-graphs")]
    lost = {c.name for c in r.checks if c.status != "passed"}
    assert {"ypred_np_values", "predict_np_other_inputs"} <= lost
    msg = next(c.message for c in r.checks if c.name == "ypred_np_values")
    assert msg.startswith("ypred_np : obtenu ") and "plus grand écart" in msg, msg


@pytest.mark.parametrize("lang, expected", [("fr", "ypred_np a la forme (3,), attendu (1000,)"),
                                            ("en", "ypred_np has shape (3,), expected (1000,)")])
def test_selfcheck_speaks_the_notebooks_language(course, monkeypatch, lang, expected):
    folder = course / "release" / "fr" / "02-graphs"
    if lang == "en":
        folder = course / "en"
        folder.mkdir(exist_ok=True)
        shutil.copy(REPO / "release/02-graphs/02-graphs.ipynb", folder)
    monkeypatch.chdir(folder)   # Jupyter starts the kernel in the notebook's folder
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    from autograder.selfcheck import check

    out = io.StringIO()
    with redirect_stdout(out):
        check("02.numpy", {"ypred_np": np.zeros(3)})
    assert expected in out.getvalue(), out.getvalue()


def test_ci_reports_the_real_catalogs_coverage():
    proc = subprocess.run([sys.executable, "-m", "autograder", "ci", "--skip", "keys", "--skip", "mutants",
                           "--skip", "stale"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r"translations fr: (\d+) % \((\d+)/(\d+) messages", proc.stderr)
    assert m, proc.stderr
    # recount independently: the current texts (notebooks and checks' messages) against the .po on disk
    ids = {msg.id for msg in i18n.template() if msg.id}
    assert "no answer for `{name}` was exported" in ids and "# Practical 02 — Frameworks and computation graphs" in ids
    with i18n.catalog_path("fr").open("rb") as f:
        done = {msg.id for msg in read_po(f) if msg.id in ids and msg.string and not msg.fuzzy}
    assert (int(m.group(2)), int(m.group(3))) == (len(done), len(ids))
    assert int(m.group(1)) == round(100 * len(done) / len(ids)) and 0 < len(done) <= len(ids)


def test_a_translation_that_changes_code_is_refused():
    source = 'n = 3  # the number of points\nprint(f"{n} points in all")'
    french = {"the number of points": "le nombre de points", "{n} points in all": "{n} points en tout"}
    assert i18n.translate_code(source, lambda s: french.get(s, s)) == \
        'n = 3  # le nombre de points\nprint(f"{n} points en tout")'
    with pytest.raises(i18n.TranslationError):
        i18n.translate_code(source, lambda s: "{n + 1} points en tout" if s == "{n} points in all" else s)


def test_a_message_written_as_adjacent_strings_is_translated_piece_by_piece():
    # print(f"..." "...") over two lines: each string is a text of its own, and the code keeps its line break
    source = 'print(f"{n} points in all, "\n      "each counted once")\n'
    assert [text for _s, _e, _p, text, _x in i18n.code_texts(source)] == ["{n} points in all, ", "each counted once"]
    french = {"{n} points in all, ": "{n} points en tout, ", "each counted once": "chacun compté une fois"}
    assert i18n.translate_code(source, lambda s: french.get(s, s)) == \
        'print(f"{n} points en tout, "\n      "chacun compté une fois")\n'
