"""soar: incident-response playbooks for Auth0, validated, dry-runnable, auditable and drillable.

The public face, for code that drives soar as a library::

    from pathlib import Path

    from engine import default_registry, load_playbook, run_playbook, verify_log

    registry = default_registry()
    playbook = load_playbook("playbooks/auth0-attack-triage.yaml", registry)
    result = run_playbook(
        playbook, {"since": "2026-11-20"}, registry=registry,
        logs_file=Path("tests/data/auth0/triage-export.jsonl"),  # or auth0_factory=...
    )
    print(result.status, result.outputs["compromised_users"])
    assert verify_log(result.run_log).code == 0  # intact and complete

``validate(path, registry)`` lists every problem of a playbook (``Issue`` with its
``code``); ``resume_run(run_log, ...)`` continues a run that stopped for approval.
Every error soar raises is a ``SoarError`` (the tree is in ``engine.errors``).

Names are imported on first use (PEP 562), so ``import engine`` costs nothing
and the ``soar`` command starts fast. Everything else is internal: its layout
is docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_FACE: dict[str, tuple[str, str]] = {
    "load_playbook": ("engine.playbook.loader", "load_playbook"),
    "validate": ("engine.playbook.loader", "check_playbook"),
    "run_playbook": ("engine.run.executor", "run_playbook"),
    "resume_run": ("engine.run.resume", "resume_run"),
    "verify_log": ("engine.audit.verify", "verify"),
    "default_registry": ("engine.actions", "default_registry"),
    "Playbook": ("engine.playbook.model", "Playbook"),
    "Issue": ("engine.issues", "Issue"),
    "RunResult": ("engine.run.state", "RunResult"),
    "VerifyResult": ("engine.audit.verify", "VerifyResult"),
}
_ERRORS = (
    "SoarError",
    "ConfigError",
    "PlaybookError",
    "InputError",
    "TemplateError",
    "QueryError",
    "RunLogError",
    "ActionError",
    "GuardrailError",
    "DryRunViolation",
    "UpstreamError",
    "RateLimitError",
)
_FACE.update({name: ("engine.errors", name) for name in _ERRORS})

__all__ = [
    "ActionError",
    "ConfigError",
    "DryRunViolation",
    "GuardrailError",
    "InputError",
    "Issue",
    "Playbook",
    "PlaybookError",
    "QueryError",
    "RateLimitError",
    "RunLogError",
    "RunResult",
    "SoarError",
    "TemplateError",
    "UpstreamError",
    "VerifyResult",
    "__version__",
    "default_registry",
    "load_playbook",
    "resume_run",
    "run_playbook",
    "validate",
    "verify_log",
]

if TYPE_CHECKING:  # what a type checker sees; at run time __getattr__ imports on first use
    from engine.actions import default_registry as default_registry
    from engine.audit.verify import VerifyResult as VerifyResult
    from engine.audit.verify import verify as verify_log
    from engine.errors import ActionError as ActionError
    from engine.errors import ConfigError as ConfigError
    from engine.errors import DryRunViolation as DryRunViolation
    from engine.errors import GuardrailError as GuardrailError
    from engine.errors import InputError as InputError
    from engine.errors import PlaybookError as PlaybookError
    from engine.errors import QueryError as QueryError
    from engine.errors import RateLimitError as RateLimitError
    from engine.errors import RunLogError as RunLogError
    from engine.errors import SoarError as SoarError
    from engine.errors import TemplateError as TemplateError
    from engine.errors import UpstreamError as UpstreamError
    from engine.issues import Issue as Issue
    from engine.playbook.loader import check_playbook as validate
    from engine.playbook.loader import load_playbook as load_playbook
    from engine.playbook.model import Playbook as Playbook
    from engine.run.executor import run_playbook as run_playbook
    from engine.run.resume import resume_run as resume_run
    from engine.run.state import RunResult as RunResult


def __getattr__(name: str) -> Any:
    """The public name ``name``, imported from its module on first use."""
    try:
        module, attr = _FACE[name]
    except KeyError:
        raise AttributeError(f"module 'engine' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
