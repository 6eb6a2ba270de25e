"""The standard playbooks, drills and detections that ship with soar: in a checkout, or in the package.

In the repository they are ``playbooks/``, ``drills/`` and ``detections/`` beside
``engine/``; an installed wheel carries the same files as ``engine/data/playbooks/``,
``engine/data/drills/`` and ``engine/data/detections/`` (``setup.py`` copies them
at build time), found through
``importlib.resources``. ``resolve`` lets ``soar drill drills/x.yaml`` (or
``soar drill x``) work from any folder once soar is installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from engine.errors import ConfigError

FOLDERS = ("playbooks", "drills", "detections")


def bundled_dir(folder: str) -> Path:
    """``playbooks``, ``drills`` or ``detections``: the checkout's folder, else the package's copy."""
    here = Path(__file__).resolve().parent
    checkout = here.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / folder).is_dir():
        return checkout / folder
    packaged = resources.files("engine").joinpath("data", folder)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    raise ConfigError(
        f"soar's standard {folder} are not installed beside the engine package "
        "(reinstall soar from its wheel, or run from a checkout)"
    )


def standard_playbook(name: str) -> Path:
    """A standard playbook by file name (``auth0-attack-triage.yaml``)."""
    return bundled_dir("playbooks") / name


def resolve(target: Path, folder: str) -> Path:
    """``target`` if it exists; else the standard file it names, else ``target`` unchanged.

    ``drills/credential-stuffing.yaml``, ``credential-stuffing.yaml`` and
    ``credential-stuffing`` all name the standard drill when no such file is in
    the current folder (so the README's commands work wherever soar is installed).
    """
    if target.exists() or target.is_absolute() or target.parent not in (Path(), Path(folder)):
        return target
    name = target.name if target.suffix in (".yaml", ".yml") else f"{target.name}.yaml"
    try:
        candidate = bundled_dir(folder) / name
    except ConfigError:
        return target
    return candidate if candidate.is_file() else target
