"""``safe`` on a terminal, and ``ascii_json``: the ``--json`` line made from JSON text as it is."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.audit.redact import Redactor
from engine.audit.runlog import jsonable
from engine.cli.cmd_run import _json_out
from engine.textsafe import _RANGES, ascii_json, json_text, safe

# every kind of character json escapes differently with and without ensure_ascii
_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('\x7f\x00\n"\\é\u2028😀'))
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=30,
)


@given(_VALUES)
def test_ascii_json_is_what_decoding_and_encoding_ascii_gives(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert ascii_json(text) == json_text(json.loads(text)) == json.dumps(value)


def old_json_out(doc: dict[str, Any], redactor: Redactor) -> str:
    """What ``soar run --json`` printed before: decoded, redacted, encoded."""
    return redactor.text(json_text(redactor.json_value(jsonable(doc))))


def test_the_json_line_is_the_one_decoding_gave_secrets_and_odd_text_included() -> None:
    secret = "Sup3r-Secret-Value-0042"
    redactor = Redactor([secret])
    for doc in (
        {"outputs": {"names": ["José", "😀", "\x7f", "a\u2028b"], "n": [1, 2.5, -0.0]}},
        {"outputs": {"user_agent": f"curl {secret}", "key": {secret: 1}}},  # masked in values
        {"outputs": {"escaped": json.dumps({"inner": secret})}},  # the secret JSON-escaped
        {"outputs": {"lone": "\ud800 surrogate"}},  # not UTF-8: jsonable keeps it visible
        {"outputs": {"nan": math.nan, "inf": [math.inf]}},  # not standard JSON: as text
    ):
        line = _json_out(doc, redactor)
        assert line == old_json_out(doc, redactor)
        assert secret not in line and line.isascii()
        json.loads(line)


def test_safe_escapes_every_control_range_to_its_ends_and_nothing_beside() -> None:
    inside = {c for a, b in _RANGES for c in range(a, b + 1)}
    for a, b in _RANGES:
        for code in (a, b):
            assert safe(chr(code)).startswith("\\") and chr(code) not in safe(chr(code))
        for code in (a - 1, b + 1):
            if code >= 0 and code not in inside and chr(code) not in "\n\t":
                assert safe(chr(code)) == chr(code)
    assert safe("a\nb") == "a\\nb" and safe("a\nb", keep_newlines=True) == "a\nb"
    assert safe("\x1b[31m") == "\\x1b[31m" and safe("\U000e0041") == "\\U000e0041"
