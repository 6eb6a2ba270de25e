"""Generated documentation stays in step with the code."""

from __future__ import annotations

from pathlib import Path

from engine.actions import default_registry
from engine.actions.docs import render

ROOT = Path(__file__).parent.parent


def test_action_reference_is_current() -> None:
    committed = (ROOT / "docs" / "actions.md").read_text(encoding="utf-8")
    assert committed == render(default_registry()), (
        "run: python -m engine.actions.docs > docs/actions.md"
    )


def test_every_action_and_argument_is_documented() -> None:
    text = render(default_registry())
    for action in default_registry():
        assert f"## {action.name}" in text
        for name, prop in action.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{action.name}.{name} has no description"
            assert f"| `{name}` |" in text
