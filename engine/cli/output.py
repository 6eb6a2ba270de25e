"""Terminal-safe output: data never puts control characters on an operator's terminal."""

from __future__ import annotations

import re

_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"
    r"\ud800-\udfff]"  # lone surrogates (from JSON data) cannot be printed as UTF-8
)


def safe(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every control / bidi character shown as a visible escape (``\\x1b``)."""
    s = str(text)

    def esc(m: re.Match[str]) -> str:
        ch = m.group(0)
        if keep_newlines and ch == "\n":
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    if not keep_newlines:
        s = s.replace("\n", "\\n")
    return _CONTROL.sub(esc, s)
