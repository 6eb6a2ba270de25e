"""Running a playbook: the executor, step plans and outcomes, gates, state, resume."""
