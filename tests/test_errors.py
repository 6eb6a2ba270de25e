"""One error tree: every error class soar defines lives in ``engine.errors`` under ``SoarError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import engine
from engine import errors
from engine.emulator import start_emulator
from engine.emulator.scenarios import generate
from engine.errors import ConfigError, EmulatorError, SoarError

# exceptions used as control flow inside one module, never shown to an operator
SIGNALS = {"engine.emulator.params.Reply", "engine.run.approval.AwaitingApproval"}


def _engine_modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(engine.__path__, "engine.")
        if m.name != "engine.__main__"  # importing it runs the command line
    ]


def test_every_error_class_is_in_the_one_tree() -> None:
    outside = []
    for name in _engine_modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, BaseException) or cls.__module__ != name:
                continue
            if cls_name.startswith("_") or f"{name}.{cls_name}" in SIGNALS:
                continue
            if name != "engine.errors" or not issubclass(cls, SoarError):
                outside.append(f"{name}.{cls_name}")
    assert outside == []


def test_the_docstring_draws_every_error_of_the_tree() -> None:
    doc = errors.__doc__ or ""
    names = [n for n, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, SoarError)]
    drawn = set(re.findall(r"(?:── |^    )(\w+)", doc, re.M))
    assert "SoarError" in names and set(names) <= drawn


@pytest.mark.parametrize(
    "settings",
    [
        {"scenario": "nope"},
        {"events": 0},
        {"rate_limit": (0, 1.0)},
        {"fail_rate": 1.5},
        {"latency_ms": -1.0},
        {"token_ttl": 0.0},
    ],
)
def test_the_emulator_refuses_bad_settings_with_a_soar_error(settings: dict[str, object]) -> None:
    with pytest.raises(EmulatorError) as info:
        start_emulator(port=0, **settings)  # type: ignore[arg-type]
    assert isinstance(info.value, ConfigError)


def test_scenario_errors_name_the_choices() -> None:
    with pytest.raises(EmulatorError, match="credential-stuffing"):
        generate("nope")
