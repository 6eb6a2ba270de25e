"""The environment variables whose values are secrets, and the redactor that masks them.

``SOAR_SECRET_<NAME>`` becomes ``secrets.<name>`` in a playbook; with
``AUTH0_CLIENT_SECRET`` and ``AUTH0_TOKEN`` (``engine.run.state.ENV_SECRETS``),
``soar serve``'s ``SOAR_STREAM_TOKEN`` and ``SOAR_VIEWER_TOKEN`` (each of their
comma-separated tokens) and
``SOAR_NOTIFY_WEBHOOK``, they are what the operational log and the error boundary mask before a
command has built a redactor of its own. Importing this module costs nothing:
the ``soar`` command reads ``SECRET_PREFIX`` at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.audit.redact import Redactor

TOKEN_ENV = "SOAR_STREAM_TOKEN"  # noqa: S105 -- the variable's name: soar serve's stream token(s)
VIEWER_ENV = "SOAR_VIEWER_TOKEN"  # soar serve's page token(s): the variable's name
NOTIFY_ENV = "SOAR_NOTIFY_WEBHOOK"  # soar serve's notification webhook URL (a secret)
SECRET_PREFIX = "SOAR_SECRET_"  # noqa: S105 -- SOAR_SECRET_<NAME> is secrets.<name>: a prefix, not a secret


def env_redactor(environ: Mapping[str, str]) -> Redactor:
    """A redactor of the secrets ``environ`` holds (``SOAR_SECRET_*``, ``AUTH0_*`` ones).

    Not checked for strength here (``soar validate`` must not fail on a weak
    secret); the commands that use them check them (``cmd_run.make_redactor``).
    """
    from engine.audit.redact import Redactor
    from engine.run.state import ENV_SECRETS

    names = [k for k in environ if k.startswith(SECRET_PREFIX) or k in ENV_SECRETS]
    values = [environ[k] for k in names if environ[k]]
    values += [environ.get(NOTIFY_ENV, "").strip()]
    for name in (TOKEN_ENV, VIEWER_ENV):  # each rotated token
        values += [t.strip() for t in environ.get(name, "").split(",")]
    return Redactor(v for v in values if v)
