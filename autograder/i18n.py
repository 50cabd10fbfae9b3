"""Translations: one gettext catalog per language, for the notebooks' text and the checks' messages.

``autograder/locale/<lang>/LC_MESSAGES/dl4img.po`` holds every translatable English text of the course, keyed by the
text itself: the paragraphs of markdown cells, comments and ``print``/plot-title strings of code cells (from
``source/``), and the student-facing messages of the checks (``_("...")`` in the kit's Python files). A missing or
fuzzy translation falls back to English. ``autograder translations`` re-extracts the texts and merges them into
each catalog (Babel); the ``.po`` is compiled in memory when first used, so no ``.mo`` can go stale.

Messages are translated when they are made: ``_("expected {x}, got {y}").format(x=..., y=...)`` (``tr`` in the checks
modules, where ``_`` names unused values) in the language
that ``use(lang)`` set (the notebook's ``metadata.autograder.language``; English by default).
"""

from __future__ import annotations

import ast
import copy
import gettext as _gettext
import io
import re
import tokenize
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

DOMAIN = "dl4img"
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
KIT = Path(__file__).parent

_language = DEFAULT


class TranslationError(ValueError):
    """A translation would change a notebook's code, not only its strings and comments."""


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def languages() -> list[str]:
    """English (the source) and every language that has a catalog."""
    found = sorted(p.name for p in LOCALE_DIR.iterdir() if catalog_path(p.name).is_file()) if LOCALE_DIR.is_dir() else []
    return [DEFAULT, *[lang for lang in found if lang != DEFAULT]]


@lru_cache(maxsize=None)
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalog of ``lang``, compiled in memory (fuzzy entries left out: they fall back to English)."""
    if lang == DEFAULT or not catalog_path(lang).is_file():
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalog_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return _gettext.GNUTranslations(mo)


def _(message: str) -> str:
    """``message`` in the current language (English when it has no translation)."""
    return translations(_language).gettext(message)


tr = _   # the same, for checks modules, where ``_`` is the usual name of a value left unused


def current() -> str:
    return _language


@contextmanager
def use(lang: str | None):
    """Translate into ``lang`` inside the block (an unknown language means English)."""
    global _language
    previous = _language
    _language = lang if lang in languages() else DEFAULT
    try:
        yield _language
    finally:
        _language = previous


def notebook_language(nb) -> str:
    """The language recorded in a notebook's metadata (``autograder.language``), English by default."""
    meta = nb.get("metadata", {}).get("autograder", {}) if isinstance(nb, dict) else {}
    lang = meta.get("language") if isinstance(meta, dict) else None
    return lang if isinstance(lang, str) and lang in languages() else DEFAULT


# -- what is translatable in a notebook ------------------------------------------------------------------

PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n+)")
NBGRADER_MARKER = re.compile(r"#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)")
STRING_TOKEN = re.compile(r"^([rRbBuUfF]*)('''|\"\"\"|'|\")(.*)\2$", re.S)
SHOWN_CALLS = {"print", "title", "suptitle", "xlabel", "ylabel", "set_title", "set_xlabel", "set_ylabel"}


def _is_text(s: str) -> bool:
    """Prose worth translating: at least two words (not a lone name such as "x" or "ypred_np")."""
    return len(re.findall(r"[^\W\d_]{2,}", s)) >= 2 and " " in s.strip()


def _shown_strings(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) as (line, byte column) of the string literals passed to print() and plot titles/labels; a
    literal written as several adjacent strings ("..." "...") spans all of them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in SHOWN_CALLS:
                for arg in node.args:
                    if isinstance(arg, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(arg, "value", ""), str):
                        found.append(((arg.lineno, arg.col_offset), (arg.end_lineno, arg.end_col_offset)))
    return found


def code_texts(source: str) -> list[tuple[int, int, str, str, str]]:
    """The translatable pieces of a code cell: (start, end, prefix, text, suffix) as offsets into ``source``;
    ``text`` is the msgid, the piece is rewritten as prefix + translation + suffix. Each of the adjacent strings
    that make one literal is a piece of its own (the code keeps its line breaks)."""
    try:
        shown = _shown_strings(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return []   # not Python (a magic): left as it is
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(row, col):
        return starts[row - 1] + col

    pieces = []
    for tok in tokens:
        (row, col), (erow, ecol) = tok.start, tok.end
        if tok.type == tokenize.COMMENT:
            if NBGRADER_MARKER.match(tok.string):
                continue
            prefix = re.match(r"#+\s*", tok.string).group(0)
            text = tok.string[len(prefix):]
            if _is_text(text):
                pieces.append((offset(row, col), offset(erow, ecol), prefix, text, ""))
        elif tok.type == tokenize.STRING:
            byte_col = len(lines[row - 1][:col].encode())
            m = STRING_TOKEN.match(tok.string)
            inside = any(start <= (row, byte_col) < end for start, end in shown)
            if inside and m and "b" not in m.group(1).lower() and _is_text(m.group(3)):
                pieces.append((offset(row, col), offset(erow, ecol), m.group(1) + m.group(2), m.group(3), m.group(2)))
    return pieces


def markdown_texts(source: str) -> list[str]:
    return [p for p in PARAGRAPH_BREAK.split(source) if p.strip() and not PARAGRAPH_BREAK.fullmatch(p)]


def notebook_texts(nb) -> list[tuple[int, str]]:
    """(cell index, msgid) of every translatable text of a notebook, in order."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            out += [(i, p) for p in markdown_texts(cell.source)]
        elif cell.cell_type == "code":
            out += [(i, text) for _s, _e, _p, text, _x in code_texts(cell.source)]
    return out


class _Strings(ast.NodeTransformer):
    """Blanks every string constant and reduces an f-string to its sorted placeholders: what must not change."""

    def visit_Constant(self, node):
        return ast.Constant(value="") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node):
        held = sorted(ast.dump(v) for v in node.values if isinstance(v, ast.FormattedValue))
        return ast.Constant(value="\0".join(held))


def _code_shape(source: str) -> str:
    return ast.dump(_Strings().visit(ast.parse(source)))


def translate_code(source: str, gettext) -> str:
    out = source
    for start, end, prefix, text, suffix in reversed(code_texts(source)):
        translated = gettext(text)
        if translated != text:
            out = out[:start] + prefix + translated + suffix + out[end:]
    if out != source and _code_shape(out) != _code_shape(source):
        raise TranslationError(f"the translation of this cell changes its code, not only its text:\n{out}")
    return out


def translate_markdown(source: str, gettext) -> str:
    return "".join(gettext(p) if p.strip() and not PARAGRAPH_BREAK.fullmatch(p) else p
                   for p in PARAGRAPH_BREAK.split(source))


def translate_notebook(nb, lang: str):
    """A copy of ``nb`` in ``lang``: text translated (English where the catalog has none), code, cell metadata and
    grade ids unchanged, ``metadata.autograder.language`` set (nothing changes for English)."""
    if lang == DEFAULT:
        return nb
    if lang not in languages():
        raise TranslationError(f"no catalog for language {lang!r} ({catalog_path(lang)}); known: {languages()}")
    gettext = translations(lang).gettext
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = translate_markdown(cell.source, gettext)
        elif cell.cell_type == "code":
            cell.source = translate_code(cell.source, gettext)
    nb.metadata.setdefault("autograder", {})["language"] = lang
    return nb


# -- catalogs ------------------------------------------------------------------------------------------

def template(root=None):
    """A fresh template (Babel ``Catalog``) of every translatable text: the checks' ``_()`` messages in the kit's
    Python files and the texts of the course's source notebooks."""
    import nbformat
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    from autograder import practicals
    from autograder.paths import course_dir

    cat = Catalog(project="dl4img", domain=DOMAIN, fuzzy=False)
    for path in sorted(KIT.rglob("*.py")):
        if path.name == "i18n.py":
            continue
        for lineno, message, comments, _ctx in extract_from_file("python", path, keywords={"_": None, "tr": None}):
            if isinstance(message, str) and message:
                cat.add(message, locations=[(str(path.relative_to(KIT.parent)), lineno)], auto_comments=comments)
    root = course_dir(root)
    for name in practicals.REGISTRY:
        nb_path = root / "source" / name / f"{name}.ipynb"
        if nb_path.is_file():
            nb = nbformat.read(nb_path, as_version=4)
            for index, text in notebook_texts(nb):
                cat.add(text, locations=[(f"source/{name}/{name}.ipynb", index + 1)])
    return cat


def update_catalogs(langs=None, root=None) -> list[Path]:
    """Merge a fresh template into each catalog (new texts added, removed ones kept as obsolete), like
    ``pybabel update``; a new language gets an empty catalog."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    fresh = template(root)
    written = []
    for lang in langs or languages()[1:]:
        path = catalog_path(lang)
        if path.is_file():
            with path.open("rb") as f:
                cat = read_po(f, locale=lang, domain=DOMAIN)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            cat = Catalog(locale=lang, domain=DOMAIN, project="dl4img")
        cat.update(fresh, update_header_comment=False)
        with path.open("wb") as f:
            write_po(f, cat, width=120, sort_output=False, include_previous=True)
        written.append(path)
    translations.cache_clear()
    return written


def coverage(lang: str, root=None) -> tuple[int, int]:
    """(translated, total) msgids of the current texts in ``lang``'s catalog (fuzzy and empty: untranslated)."""
    from babel.messages.pofile import read_po

    ids = [m.id for m in template(root) if m.id]
    done = set()
    if catalog_path(lang).is_file():
        with catalog_path(lang).open("rb") as f:
            done = {m.id for m in read_po(f, locale=lang, domain=DOMAIN) if m.id and m.string and not m.fuzzy}
    return sum(i in done for i in ids), len(ids)


def coverage_lines(root=None) -> list[str]:
    lines = []
    for lang in languages()[1:]:
        n, total = coverage(lang, root)
        lines.append(f"translations {lang}: {100 * n / total if total else 100:.0f} % ({n}/{total} messages "
                     f"translated, the rest shows in English; {catalog_path(lang).relative_to(KIT.parent)})")
    return lines
