"""`soar validate` compiles fixed log queries: refusals are errors, doubts are warnings."""

from __future__ import annotations

from pathlib import Path

from soarcli import soar

from engine.actions import default_registry
from engine.playbook.loader import check_playbook_text
from engine.playbook.queries import checkable_text

HEAD = """\
playbook: 1
name: q
inputs:
  ip: {type: string, default: 203.0.113.7}
  host: {type: string, default: acme.us.auth0.com}
steps:
"""


def issues_for(*queries: str) -> list[tuple[str, int, str]]:
    steps = "".join(
        f"  - id: s{n}\n    uses: auth0.search_logs\n    with:\n      query: {q}\n"
        for n, q in enumerate(queries)
    )
    found = check_playbook_text(HEAD + steps, default_registry(), "q.yaml")
    return [(i.severity, i.location.line, i.message) for i in found]


def test_type_values_are_checked_against_auth0_event_codes() -> None:
    # auth0/auth0-customer-detections detections/use_of_auth0_tenant_name_url.yml: its
    # Sigma list has "w", its tenant_logs query "f u" (a typo this check catches)
    got = issues_for(
        "'type: (s f fs ss f u fp scoa fcoa sepft fepft) AND hostname: {{ inputs.host | lucene }}'",
        "'type: (seacft sertft)'",
        'type:s* OR type:"pwd_leak" OR type:gd_*',
        "type:zz* OR type:seacf",
        "'type:{{ inputs.ip | lucene }}'",
    )
    assert got == [
        ("warning", 10, "log query in step 's0': type 'u' is not a known Auth0 event code"),
        ("warning", 22, "log query in step 's3': type zz* matches no known Auth0 event code"),
        ("warning", 22, "log query in step 's3': type 'seacf' is not a known Auth0 event code"),
    ]
    found = check_playbook_text(HEAD + _one("type:seacf"), default_registry(), "q.yaml")
    assert found[0].hint is not None and "'seacft'" in found[0].hint


def _one(query: str) -> str:
    return f"  - id: s\n    uses: auth0.search_logs\n    with:\n      query: {query}\n"


def test_templated_queries_are_compiled_when_every_value_is_lucene_quoted() -> None:
    got = issues_for(
        "'ip:{{ inputs.ip | lucene }} AND user_name:*ad'",
        "'ip:{{ inputs.ip }} AND user_name:*ad'",  # unknowable text: only the quoting warning
        "'{% if inputs.ip %}ip:{{ inputs.ip | lucene }}{% endif %} AND foo:bar'",
        "'date:[{{ inputs.host | lucene }} TO *] AND ip:{{ inputs.ip | lucene }}'",
    )
    assert [(s, line, m.split(":")[0]) for s, line, m in got] == [
        ("error", 10, "log query in step 's0' would be refused"),
        ("warning", 14, "a value is put into the log query in step 's1' without '| lucene'"),
    ]
    assert "at least 3 literal characters" in got[0][2]


def test_operator_mixes_without_parentheses_are_warned() -> None:
    got = issues_for(
        'type:"s" AND ip:"10.0.0.1" user_id:"auth0|1"', '(type:"s" AND ip:"x") OR type:f'
    )
    assert got == [
        (
            "warning",
            10,
            'log query in step \'s0\': \'type:"s" AND ip:"10.0.0.1" user_id:"auth0|1"\' mixes '
            "AND and side-by-side terms without parentheses",
        )
    ]


def test_placeholder_text() -> None:
    assert (
        checkable_text('type:"s" AND ip:{{ inputs.ip | lucene }}') == 'type:"s" AND ip:"2000-01-01"'
    )
    assert checkable_text("ip:{{ inputs.ip | upper | lucene }}") == 'ip:"2000-01-01"'
    assert checkable_text("ip:{{ inputs.ip | lucene | upper }}") is None


def test_validate_prints_query_problems_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(HEAD + _one("'type: (f fu fpp) AND details.ip:x'"))
    done = soar("validate", str(path))
    assert done.returncode == 1
    assert (
        f"{path}:10:14: error SOAR401: log query in step 's' would be refused: "
        in done.stderr + done.stdout
    )
