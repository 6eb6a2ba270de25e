"""The built wheel works on its own: ``soar demo`` and every drill, from a folder outside the repo.

The wheel is built offline from a copy of the sources (``pip wheel
--no-build-isolation``; nothing is written into the checkout) and installed
without dependencies into a fresh venv. That venv sees the test environment's
third-party packages through a ``.pth`` line placed after its own
site-packages, so ``engine`` can only come from the wheel (the editable
install's finder is not loaded there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "LICENSE",
    "engine",
    "playbooks",
    "drills",
    "detections",
)
# what setuptools says about metadata of ours it will stop accepting (a license table or
# classifier instead of an SPDX expression, and any other deprecation)
DEPRECATIONS = (
    "SetuptoolsDeprecationWarning",
    "License classifiers are deprecated",
    "`project.license` as a TOML table is deprecated",
)


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "SOAR_"))}
    env["PIP_NO_INDEX"] = "1"  # never the network
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the venv's bin folder) with soar installed from the wheel alone."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = base / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-v", "-w", str(dist), str(src)],
        cwd=base,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    # -v shows the build backend's own output, where setuptools prints its deprecations
    said = built.stdout + built.stderr
    for warning in DEPRECATIONS:
        assert warning not in said, f"the build warns {warning!r}:\n{said[-3000:]}"
    wheel = next(dist.glob("soar-*.whl"))
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base)
    assert made.returncode == 0, made.stderr
    vpython = venv / "bin" / "python"
    put = _run(
        [sys.executable, "-m", "pip", "--python", str(vpython), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        cwd=base,
    )  # fmt: skip
    assert put.returncode == 0, put.stderr[-2000:]
    inner = _run(
        [str(vpython), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base
    )
    # "zz" sorts last: the wheel's own site-packages stays first on sys.path
    outer = sysconfig.get_paths()["purelib"]
    (Path(inner.stdout.strip()) / "zz-test-deps.pth").write_text(outer + "\n", encoding="utf-8")
    return wheel, venv / "bin"


def test_the_wheel_carries_the_repository_playbooks_drills_and_detections(
    installed: tuple[Path, Path],
) -> None:
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        for folder in ("playbooks", "drills", "detections"):
            packaged = {
                Path(n).name: zf.read(n)
                for n in zf.namelist()
                if n.startswith(f"engine/data/{folder}/") and n.endswith(".yaml")
            }
            repo = {p.name: p.read_bytes() for p in (ROOT / folder).glob("*.yaml")}
            assert packaged == repo, f"the wheel's {folder} differ from the repository's"
        # the license the metadata declares travels with it (PEP 639: License-File)
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
        assert "License-Expression: Apache-2.0" in text and "License-File: LICENSE" in text
        (licence,) = [n for n in zf.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert zf.read(licence) == (ROOT / "LICENSE").read_bytes()


def test_the_installed_engine_is_the_wheel(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = installed
    where = _run([str(bin_dir / "python"), "-c", "import engine; print(engine.__file__)"], tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent), where.stdout


def test_soar_demo_and_every_drill_run_from_the_wheel(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bin_dir = installed
    soar = str(bin_dir / "soar")
    elsewhere = tmp_path / "elsewhere"  # no playbooks/ or drills/ here
    elsewhere.mkdir()
    drills = sorted(p.name for p in (ROOT / "drills").glob("*.yaml"))
    jobs = {"demo": [soar, "demo", "--run-dir", "runs-demo"]}
    for n, name in enumerate(drills):
        # as the README writes it, and by bare name
        target = f"drills/{name}" if n % 2 == 0 else name.removesuffix(".yaml")
        jobs[name] = [soar, "drill", target, "--json", "--run-dir", f"runs-{n}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "SOAR_"))}
    procs = {
        name: subprocess.Popen(
            args, cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, args in jobs.items()
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {err[-1500:]}"
        if name == "demo":
            assert "Compromised accounts" in err and "writes sent: 0" in err
        else:
            assert '"passed": true' in out, f"{name}: {out[-500:]}"
