"""The Auth0 connector: settings, client, complete log search.

The names below are loaded on first use (PEP 562), so that a module of the
package that needs no client (an offline search of a file) does not pay for
``httpx``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.auth0.client import Auth0Client, ClientStats, client_from_env, quote_id
    from engine.auth0.settings import Auth0Settings

_HOME = {
    "Auth0Client": "engine.auth0.client",
    "ClientStats": "engine.auth0.client",
    "client_from_env": "engine.auth0.client",
    "quote_id": "engine.auth0.client",
    "Auth0Settings": "engine.auth0.settings",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = ["Auth0Client", "Auth0Settings", "ClientStats", "client_from_env", "quote_id"]
