"""Built-in actions, grouped by provider. Each module exposes ``ACTIONS: list[Action]``.

Add a module here to register its actions; nothing is discovered by scanning.
"""

from __future__ import annotations

from types import ModuleType

from engine.actions import auth0, auth0_containment, auth0_logins, auth0_network, data, http, ip

ACTION_MODULES: list[ModuleType] = [
    data,
    ip,
    http,
    auth0,
    auth0_logins,
    auth0_containment,
    auth0_network,
]
