"""Text shown to a person (a file name, a title, a reason): characters that could disguise it are made visible.

A key is an identifier and stays exactly as uploaded; only what is *shown* changes. Control
characters (Cc: NUL, ESC, CR, LF, tab...), format characters (Cf: the bidirectional overrides
and embeddings U+202A–U+202E, the isolates U+2066–U+2069, the marks U+200E/U+200F, zero-width
spaces, the BOM...) and the line and paragraph separators (Zl U+2028, Zp U+2029) are replaced
by a visible `<U+XXXX>`. "clip\u202Egnp.mp4" would read as "clipmp4.png"; shown here it reads
"clip<U+202E>gnp.mp4". The zero-width joiner and non-joiner (U+200C, U+200D) stay: they only
shape glyphs (Persian and Indic names, emoji sequences) and never reorder text or break a line.

The web page (videoflow/web/display.js) applies the same rule; tests/unit/test_display_names.py
checks the two agree on every code point.
"""

from __future__ import annotations

import unicodedata

NEUTRALIZED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
KEPT = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner and joiner: shaping only


def is_disguising(char: str) -> bool:
    """True for a character that `shown` replaces."""
    return char not in KEPT and unicodedata.category(char) in NEUTRALIZED_CATEGORIES


def shown(text: object) -> str:
    """`text` as it may be displayed: every disguising character as `<U+XXXX>`, the rest unchanged."""
    value = "" if text is None else str(text)
    if all(char.isprintable() or char in KEPT for char in value):  # the common case: nothing to replace
        return value
    return "".join(f"<U+{ord(char):04X}>" if is_disguising(char) else char for char in value)
