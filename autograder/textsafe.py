"""Text from a submission made safe for a terminal: one function, used by every console printer of the kit.

Check messages, reasons, notes, student and submission names and file names can all carry text a student
chose. Printed raw, an escape sequence could clear the instructor's screen, recolour or rewrite earlier lines,
set the window title or hide text; a newline could fake extra rows of the results table; a right-to-left
override could reorder what is shown; a lone surrogate (from a file name of invalid UTF-8) would crash the
print. ``printable`` shows each such character as a visible escape (ESC -> ``\\x1b``, newline -> ``\\n``) and
keeps ordinary Unicode (✓ ✗, accented letters, CJK, emoji) as it is.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Unicode format characters that reorder or hide text (bidirectional overrides and isolates: "trojan source")
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNSAFE_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}   # C0, DEL, C1 controls; lone surrogates; line/paragraph separators


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value) -> str:
    """``value`` as one line of terminal-safe text: control characters, line breaks, bidirectional overrides
    and lone surrogates shown as visible escapes; everything else unchanged."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and text.isascii():   # the common case, fast
        return text
    return "".join(_escape(ch) if ch in _BIDI or unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch
                   for ch in text)
