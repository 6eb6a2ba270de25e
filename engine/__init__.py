"""soar: incident-response playbooks for Auth0, validated, dry-runnable, auditable and drillable."""

from __future__ import annotations

__version__ = "0.1.0"
