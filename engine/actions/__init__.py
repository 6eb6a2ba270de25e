"""Built-in actions, grouped by provider. Each module exposes ``ACTIONS: list[Action]``.

Add a module to ``default_registry`` to register its actions; nothing is
discovered by scanning. The provider modules are imported when the registry is
built, not with this package, so a command that never runs an action stays fast
and ``engine.actions.registry`` (which every provider imports) has no cycle.
"""

from __future__ import annotations

from engine.actions.registry import ActionRegistry


def default_registry() -> ActionRegistry:
    """Every built-in action, listed module by module."""
    from engine.actions import auth0, auth0_containment, auth0_logins, auth0_network, data, http, ip

    registry = ActionRegistry()
    for module in (data, ip, http, auth0, auth0_logins, auth0_containment, auth0_network):
        for action in module.ACTIONS:
            registry.register(action)
    return registry
