"""Playbook runs as Temporal workflows: durable, on any number of workers, with the same run log.

``spec`` (what a run is, as Temporal carries it: small values only) and
``settings`` (the worker's settings, heartbeats) import nothing of
Temporal's; ``workflow`` (the step loop, deterministic), ``effects`` (its
activities: each one effect on the run's log, folder or tenant), ``worker``
and ``client`` do, and are imported only by ``soar worker``, ``soar approve``
and ``soar run --engine temporal`` (the ``temporal`` extra).
"""
