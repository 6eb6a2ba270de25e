"""Rehearsal: drills against the emulator, scoring against ground truth, the demo."""
