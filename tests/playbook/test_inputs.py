"""Run inputs against declared inputs."""

from __future__ import annotations

from datetime import date

import pytest

from engine.errors import InputError
from engine.playbook.inputs import check_inputs
from engine.playbook.model import InputSpec

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
    # the problems are data: where, code, message, hint
    got = {(str(i.location), i.code): (i.message, i.hint) for i in info.value.issues}
    assert got[("input 'ipp'", "SOAR501")][1] == "did you mean 'ip'?"
    assert got[("input 'ip'", "SOAR502")] == (
        "required input not given",
        "give it with -i ip=VALUE",
    )
    assert "'maybe' is not a boolean" in got[("input 'block'", "SOAR505")][0]
    assert "'ten' is not an integer" in got[("input 'min_failures'", "SOAR505")][0]
    assert "'medium' is not one of 'fast', 'slow'" in got[("input 'mode'", "SOAR504")][0]
    assert "'yesterday' is not a duration" in got[("input 'since'", "SOAR504")][0]
    assert len(got) == 6
    text = str(info.value)  # the message lists them as validate does
    assert "input 'ipp': error SOAR501: unknown input; the playbook declares: " in text


def test_typed_values_from_files_are_checked_not_converted() -> None:
    with pytest.raises(InputError, match="expected integer, got str"):
        check_inputs(SPECS, {"ip": "1.2.3.4", "min_failures": "10"})
    with pytest.raises(InputError, match="expected integer, got a boolean"):
        check_inputs(SPECS, {"ip": "1.2.3.4", "min_failures": True})
    with pytest.raises(InputError, match="not an IPv4 or IPv6 address"):
        check_inputs(SPECS, {"ip": "999.1.1.1"})


def test_conversions_of_every_type() -> None:
    specs = {
        "flag": InputSpec("flag", "boolean"),
        "ratio": InputSpec("ratio", "number"),
        "count": InputSpec("count", "number"),
        "opts": InputSpec("opts", "object"),
        "at": InputSpec("at", "string", format="date-time"),
        "note": InputSpec("note", "string"),
    }
    given = {"flag": "No", "ratio": "0.5", "count": "3", "opts": '{"a": 1}', "at": "24h"}
    got = check_inputs(specs, given, from_cli=True)
    assert got == {
        "flag": False,
        "ratio": 0.5,
        "count": 3,
        "opts": {"a": 1},
        "at": "24h",
        "note": None,
    }
    for flag, expected in (("yes", True), ("1", True), ("off", False), ("0", False)):
        assert check_inputs(specs, {"flag": flag}, from_cli=True)["flag"] is expected


def test_conversion_errors_are_clear() -> None:
    specs = {
        "opts": InputSpec("opts", "object"),
        "ratio": InputSpec("ratio", "number"),
        "at": InputSpec("at", "string", format="date-time"),
    }
    with pytest.raises(InputError) as info:
        check_inputs(specs, {"opts": "[1]", "ratio": "1e999", "at": "someday"}, from_cli=True)
    text = str(info.value)
    assert "input 'opts': error SOAR504: expected object, got list" in text
    assert "'1e999' is not a finite number" in text
    assert "'someday' is not a date-time" in text
    with pytest.raises(InputError, match="object inputs are given as JSON"):
        check_inputs(specs, {"opts": "{a: 1"}, from_cli=True)


def test_non_finite_numbers_are_refused_everywhere() -> None:
    specs = {"ratio": InputSpec("ratio", "number"), "opts": InputSpec("opts", "array")}
    with pytest.raises(InputError, match="'ratio': error SOAR504: nan is not a finite number"):
        check_inputs(specs, {"ratio": float("nan")})
    with pytest.raises(InputError, match="'opts': error SOAR505: Infinity is not a finite number"):
        check_inputs(specs, {"opts": "[1, Infinity]"}, from_cli=True)
    assert check_inputs(specs, {"ratio": 1.5, "opts": "[1]"}, from_cli=True) == {
        "ratio": 1.5,
        "opts": [1],
    }


def test_defaults_are_copied_per_run() -> None:
    first = check_inputs(SPECS, {"ip": "1.2.3.4"})
    first["users"].append("mutated")
    assert check_inputs(SPECS, {"ip": "1.2.3.4"})["users"] == []
    assert SPECS["users"].default == []


def test_dates_from_an_inputs_file_and_null_required_inputs() -> None:
    specs = {
        "since": InputSpec("since", "string", format="date-time"),
        "ip": InputSpec("ip", "string", required=True),
    }
    got = check_inputs(specs, {"since": date(2026, 11, 1), "ip": "1.2.3.4"})
    assert got["since"] == "2026-11-01"
    with pytest.raises(InputError, match="'ip': error SOAR503: required input given as null"):
        check_inputs(specs, {"ip": None})
