"""Run inputs against declared inputs."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.inputs import check_inputs
from engine.model import InputSpec

SPECS = {
    "ip": InputSpec("ip", "string", required=True, format="ip"),
    "since": InputSpec("since", "string", default="7d", format="duration"),
    "min_failures": InputSpec("min_failures", "integer", default=20),
    "block": InputSpec("block", "boolean", default=False),
    "users": InputSpec("users", "array", default=[]),
    "mode": InputSpec("mode", "string", enum=("fast", "slow"), default="fast"),
}


def test_defaults_and_cli_conversion() -> None:
    got = check_inputs(
        SPECS,
        {"ip": "2001:db8::1", "block": "true", "min_failures": "10", "users": '["a","b"]'},
        from_cli=True,
    )
    assert got == {
        "ip": "2001:db8::1",
        "since": "7d",
        "min_failures": 10,
        "block": True,
        "users": ["a", "b"],
        "mode": "fast",
    }


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InputError) as info:
        check_inputs(
            SPECS,
            {
                "ipp": "1.2.3.4",
                "block": "maybe",
                "min_failures": "ten",
                "mode": "medium",
                "since": "yesterday",
            },
            from_cli=True,
        )
    text = str(info.value)
    assert "unknown input 'ipp' (did you mean 'ip'?)" in text
    assert "input 'ip' is required" in text
    assert "'maybe' is not a boolean" in text
    assert "'ten' is not an integer" in text
    assert "'medium' is not one of 'fast', 'slow'" in text
    assert "'yesterday' is not a duration" in text


def test_typed_values_from_files_are_checked_not_converted() -> None:
    with pytest.raises(InputError, match="expected integer, got str"):
        check_inputs(SPECS, {"ip": "1.2.3.4", "min_failures": "10"})
    with pytest.raises(InputError, match="expected integer, got a boolean"):
        check_inputs(SPECS, {"ip": "1.2.3.4", "min_failures": True})
    with pytest.raises(InputError, match="not an IPv4 or IPv6 address"):
        check_inputs(SPECS, {"ip": "999.1.1.1"})
