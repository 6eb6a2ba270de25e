"""The standard playbooks and drills are found by name from any folder (a checkout here;
``test_wheel.py`` runs ``soar drill NAME`` from an installed wheel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundled import bundled_dir, resolve, standard_playbook

ROOT = Path(__file__).resolve().parent.parent


def test_a_checkout_uses_its_own_folders() -> None:
    assert bundled_dir("drills") == ROOT / "drills"
    assert (
        standard_playbook("auth0-attack-triage.yaml")
        == ROOT / "playbooks" / "auth0-attack-triage.yaml"
    )


def test_standard_names_resolve_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    drill = ROOT / "drills" / "quiet.yaml"
    for given in ("drills/quiet.yaml", "quiet.yaml", "quiet"):
        assert resolve(Path(given), "drills") == drill
    assert (
        resolve(Path("auth0-suspicious-ip"), "playbooks")
        == ROOT / "playbooks" / "auth0-suspicious-ip.yaml"
    )
    # a file that exists here wins; an unknown name and other folders are left as given
    (tmp_path / "quiet.yaml").write_text("drill: 1\n", encoding="utf-8")
    assert resolve(Path("quiet.yaml"), "drills") == Path("quiet.yaml")
    assert resolve(Path("nope"), "drills") == Path("nope")
    assert resolve(Path("elsewhere/quiet.yaml"), "drills") == Path("elsewhere/quiet.yaml")
