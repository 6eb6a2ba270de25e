"""Sandboxed expressions: the template environment, its bounds, budget and secrets."""
