"""Terminal-safe output: data never puts control characters on an operator's terminal.

``safe`` escapes, visibly, every character of Unicode's control (Cc), format
(Cf: zero-width spaces and joiners, bidi embeddings, overrides and isolates,
the BOM, invisible operators, tag characters), line/paragraph separator
(Zl, Zp) and surrogate (Cs) categories: the ones that can move the cursor,
reorder or hide text (a "Trojan Source" user name), or not print at all.
The ranges are those of Unicode 14 (Python 3.11), listed so that importing
this module costs nothing; a test checks them against ``unicodedata``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

_RANGES = (
    (0x00, 0x08),  # C0 controls, tab and newline excepted
    (0x0B, 0x1F),
    (0x7F, 0x9F),  # DEL and the C1 controls (CSI \x9b)
    (0xAD, 0xAD),  # soft hyphen
    (0x600, 0x605),
    (0x61C, 0x61C),  # Arabic letter mark
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200F),  # zero-width space, joiners, LRM, RLM
    (0x2028, 0x202E),  # line/paragraph separators, bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    (0xD800, 0xDFFF),  # lone surrogates (from JSON data) cannot be printed as UTF-8
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),  # language tag
    (0xE0020, 0xE007F),  # tag characters (invisible text)
)


@cache
def _control() -> re.Pattern[str]:
    """The characters ``safe`` escapes, compiled on first use: compiling these ranges takes
    7 ms, which every command would pay at import (``soar --help`` included)."""
    return re.compile(
        "["
        + "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in _RANGES)
        + "]"
    )


def safe(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every control / format / bidi character shown as a visible escape (``\\x1b``)."""
    s = str(text)

    def esc(m: re.Match[str]) -> str:
        code = ord(m.group(0))
        if code < 0x100:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

    if not keep_newlines:
        s = s.replace("\n", "\\n")
    return _control().sub(esc, s)


def json_text(doc: Any) -> str:
    """``doc`` as one line of JSON for stdout: every non-ASCII character escaped.

    ``json.dumps`` leaves C1 controls and bidi characters raw unless
    ``ensure_ascii``; with it, the output carries nothing a terminal acts on
    and any JSON reader gets the same text back.
    """
    return json.dumps(doc, ensure_ascii=True)


_NOT_ASCII = re.compile("[^\x00-\x7e]")  # what ensure_ascii escapes beyond json's own


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair, as json.dumps writes one
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def ascii_json(text: str) -> str:
    """``json_text(json.loads(text))`` for ``text`` that ``json.dumps(..., ensure_ascii=False)``
    wrote, without decoding it: outside strings such text is ASCII already, and inside
    them ``ensure_ascii`` differs only by escaping DEL and every non-ASCII character
    (``\\u00e9``; past U+FFFF as a surrogate pair)."""
    return text if text.isascii() and "\x7f" not in text else _NOT_ASCII.sub(_escaped, text)
