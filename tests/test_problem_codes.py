"""Problem codes: unique, each one emitted somewhere in the engine, each one documented."""

from __future__ import annotations

import re
from pathlib import Path

from engine.issues import Code

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "errors.md"


def _documented() -> list[str]:
    return re.findall(r"^\| (SOAR\d{3}) \|", DOC.read_text(encoding="utf-8"), re.M)


def _emitted() -> set[str]:
    """The codes the engine's source puts on an issue (``Code.NAME`` outside its catalog)."""
    names: set[str] = set()
    for path in (ROOT / "engine").rglob("*.py"):
        if path != ROOT / "engine" / "issues.py":
            names |= set(re.findall(r"\bCode\.([A-Z][A-Z0-9_]+)", path.read_text("utf-8")))
    return {Code[name].value for name in names}


def test_codes_are_unique_and_well_formed() -> None:
    values = [c.value for c in Code]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"SOAR[1-8]\d\d", v) for v in values)


def test_every_code_is_emitted_and_documented_once() -> None:
    documented = _documented()
    assert len(documented) == len(set(documented)), "a code documented twice"
    catalog = {c.value for c in Code}
    assert _emitted() == catalog, "a code in the catalog that the engine never emits"
    assert set(documented) == catalog, (
        f"undocumented: {sorted(catalog - set(documented))}; "
        f"documented but unknown: {sorted(set(documented) - catalog)}"
    )
