"""The list of CLI command modules, in help order. Each has ``register(app)``."""

from __future__ import annotations

from types import ModuleType

from engine.cli import (
    cmd_detections,
    cmd_drill,
    cmd_emulator,
    cmd_incidents,
    cmd_keys,
    cmd_logs,
    cmd_run,
    cmd_serve,
    cmd_sigma,
    cmd_temporal,
    cmd_validate,
    cmd_verify,
)

MODULES: list[ModuleType] = [
    cmd_validate,
    cmd_run,
    cmd_temporal,
    cmd_verify,
    cmd_keys,
    cmd_emulator,
    cmd_drill,
    cmd_logs,
    cmd_detections,
    cmd_serve,
    cmd_incidents,
    cmd_sigma,
]
