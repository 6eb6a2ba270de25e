"""The emulator's settings as shell lines, and as a private file a script can source.

``soar emulator --env-file F`` writes ``export KEY='value'`` lines to ``F``
once the server listens, so a script can start it in the background, wait
for ``F`` to appear and source it. The file holds the client secret: it is
created mode 0600 (whatever the umask) and appears whole or not at all (a
temporary file in the same folder, fsynced, then renamed over ``F``), so a
script that sees it never reads half a line. ``EnvFile.remove`` deletes it
when the emulator stops, since the secret dies with it, unless another
process has replaced it meanwhile.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def quoted(value: str) -> str:
    """``value`` in single quotes for a POSIX shell (a ``'`` inside becomes ``'\\''``)."""
    return "'" + value.replace("'", "'\\''") + "'"


def export_lines(env: Mapping[str, str], *, always_quote: bool = False) -> list[str]:
    """``export KEY=value`` per setting: quoted where the shell needs it, or always."""
    quote = quoted if always_quote else shlex.quote
    return [f"export {key}={quote(value)}" for key, value in env.items()]


@dataclass(frozen=True)
class EnvFile:
    """A settings file this process wrote (its device and inode tell it from a newer one)."""

    path: Path
    device: int
    inode: int

    def remove(self) -> bool:
        """Delete the file if it is still the one written here; whether it was deleted."""
        try:
            now = self.path.stat()
        except OSError:  # already gone
            return False
        if (now.st_dev, now.st_ino) != (self.device, self.inode):
            return False  # another emulator wrote its own settings here since: keep them
        self.path.unlink(missing_ok=True)
        return True


def write_env_file(path: Path, env: Mapping[str, str]) -> EnvFile:
    """Write ``env`` to ``path`` atomically, mode 0600; replaces an older file there.

    Raises ``OSError`` (with the path) when the folder is missing or not writable,
    or ``path`` is a folder.
    """
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder, not a file", str(path))
    text = "".join(f"{line}\n" for line in export_lines(env, always_quote=True))
    # mkstemp creates the file 0600 and only for us; the rename makes it appear whole
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    st = path.stat()
    return EnvFile(path, st.st_dev, st.st_ino)
