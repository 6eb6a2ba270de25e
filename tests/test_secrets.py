"""``engine.secrets``: finding a secret anywhere in a value (one search, for replay and lookups)."""

from __future__ import annotations

from typing import Any

from engine.depth import SINK_DEPTH
from engine.secrets import Secret, holds_secret


def test_a_secret_is_found_at_any_depth() -> None:
    deep: Any = Secret("s", "a-long-enough-secret-value")
    for i in range(SINK_DEPTH * 3):  # deeper than any sink keeps: still found
        deep = [deep] if i % 2 else {"k": deep}
    assert holds_secret(deep) and holds_secret(("x", {"y": [deep]}))
    assert not holds_secret({"a": [1, "***", {"b": None}]})
