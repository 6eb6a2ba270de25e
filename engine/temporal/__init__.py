"""Playbook runs as Temporal workflows: durable, on any number of workers, with the same run log.

``spec`` (what a run is, as Temporal carries it: small values only) and
``segments`` (the activity's work: the local engine, run or resumed on the
run's log) import nothing of Temporal's; ``workflow``, ``worker`` and
``client`` do, and are imported only by ``soar worker``, ``soar approve`` and
``soar run --engine temporal`` (the ``temporal`` extra).
"""
