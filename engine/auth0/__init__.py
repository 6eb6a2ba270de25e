"""The Auth0 connector: settings, client, complete log search."""

from __future__ import annotations

from engine.auth0.client import Auth0Client, ClientStats, client_from_env, quote_id
from engine.auth0.settings import Auth0Settings

__all__ = ["Auth0Client", "Auth0Settings", "ClientStats", "client_from_env", "quote_id"]
