"""``soar validate`` / ``soar actions`` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from soarcli import soar

ROOT = Path(__file__).parents[2]


def test_validate_exit_codes_and_format() -> None:
    ok = soar("validate", "examples")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = soar("validate", "tests/broken/01-unknown-action.yaml", "tests/broken/08-plain-if.yaml")
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0].startswith(
        "tests/broken/01-unknown-action.yaml:8:11: error SOAR201: unknown action"
    )
    assert lines[1].startswith("tests/broken/08-plain-if.yaml:8:9: error SOAR203: ")
    missing = soar("validate", "nope.yaml")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_validate_output_is_terminal_safe(tmp_path: Path) -> None:
    f = tmp_path / "evil.yaml"
    f.write_text('playbook: 1\nname: e\nsteps:\n  - id: a\n    uses: "x.\\e[31mred"\n')
    out = soar("validate", str(f))
    assert out.returncode == 1
    assert "\x1b" not in out.stdout and "\\x1b[31mred" in out.stdout


def test_actions_list_and_detail() -> None:
    listing = soar("actions")
    assert listing.returncode == 0 and "ip.extract" in listing.stdout
    one = soar("actions", "data.filter", "--json")
    assert one.returncode == 0 and '"x-template": "deferred"' in one.stdout
    unknown = soar("actions", "data.uniq")
    assert unknown.returncode == 2 and "data.unique" in unknown.stderr


def test_version() -> None:
    out = soar("--version")
    assert out.returncode == 0 and out.stdout.startswith("soar ")


def test_validate_walks_folders_but_not_hidden_ones(tmp_path: Path) -> None:
    good = (ROOT / "examples" / "conditions.yaml").read_text()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text(good)
    (tmp_path / "b.yaml").write_text(good.replace("uses: data.set", "uses: data.sett", 1))
    (tmp_path / "notes.txt").write_text("not yaml")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.yaml").write_text("broken: [")
    out = soar("validate", str(tmp_path))
    assert out.returncode == 1
    assert out.stdout.count(": error SOAR") == 1 and "b.yaml:" in out.stdout
    assert "2 playbook(s) checked: 1 error(s), 0 warning(s)" in out.stderr


def test_an_empty_folder_is_reported_but_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no playbooks here")
    out = soar("validate", str(tmp_path))
    assert out.returncode == 0 and out.stdout == ""
    assert "no *.yaml or *.yml files" in out.stderr
    assert "0 playbook(s) checked" in out.stderr
