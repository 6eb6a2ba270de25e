"""Build hook: the wheel carries the standard playbooks, drills and detections inside the package.

They live once, at ``playbooks/``, ``drills/`` and ``detections/`` in the repository
(where the tests, the docs and a checkout use them). Building copies them into the
wheel as ``engine/data/playbooks/``, ``engine/data/drills/`` and
``engine/data/detections/`` (so a drill's ``../playbooks/...`` still resolves), where ``engine.bundled`` finds them
through ``importlib.resources`` when soar is installed. Everything else is in
``pyproject.toml``.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("playbooks", "drills", "detections")


class BuildWithBundled(build_py):
    """``build_py`` plus the bundled folders (an editable install reads the repository's)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        for folder in BUNDLED:
            target = Path(self.build_lib) / "engine" / "data" / folder
            self.mkpath(str(target))
            for source in sorted((root / folder).glob("*.yaml")):
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildWithBundled})
