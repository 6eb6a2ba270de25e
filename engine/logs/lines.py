"""The raw text of the n-th event of a JSON-lines file, without holding the file.

An event set keeps columns, not events: the event itself is read back from
the file when an expression, an output or the run log needs it. DuckDB's
JSON-lines reader numbers the values of a file in order, skipping blank and
whitespace-only lines; ``LineIndex`` numbers them the same way and records,
about every ``BLOCK`` bytes, where a block starts and how many values came before
it, so reading value ``n`` costs one block read, whatever the file's size.

A file whose every line is a value (no blank line: the exact case, an export
as Auth0 and soar write them) also gets where each line starts (``offsets``,
eight bytes a line), found in the same pass for the cost of reading the file:
reading value ``n`` then reads that line alone, and a few thousand events
scattered over a gigabyte cost a few megabytes of reads instead of the whole
file. The block index (two numbers per MiB) goes into the cache's
``meta.json``, the offsets beside it (``engine.logs.cache``).
"""

from __future__ import annotations

import bisect
import io
import os
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import LogFileError

BLOCK = 1 << 20  # bytes read at a time; an index entry each
_NEAR = 64 << 10  # spans to prefetch this close are asked for as one
_BOM = b"\xef\xbb\xbf"


def _nonblank_count(chunk: bytes) -> int:
    return sum(1 for line in chunk.split(b"\n") if line.strip())


@dataclass
class LineIndex:
    """Where each ``BLOCK`` of a JSON-lines file starts and how many values precede it."""

    path: Path
    size: int
    starts: list[int] = field(default_factory=list)  # byte offset of each block
    before: list[int] = field(default_factory=list)  # values before each block
    tail_newline: bool = True  # whether the file ends with a newline (or is empty)
    exact: bool = False  # every line is a value (no blank line): counted by newlines alone
    offsets: array[int] | None = None  # exact: where line n starts, and the end (values + 1)

    @classmethod
    def build(cls, path: Path, values: int | None = None, block: int = BLOCK) -> LineIndex:
        """The index of ``path``; ``values``: how many DuckDB read, when known.

        The fast pass counts newlines only, which is exact when no line is
        blank: then the file has as many newlines as values (one fewer when its
        last line has none). When ``values`` is not given or the counts differ,
        every line is looked at.
        """
        if values is not None:
            index = cls._newlines(path, block)
            if index.values == (values if index.tail_newline else values - 1):
                index.before[-1] = values  # a last line without a newline is a value too
                index.exact = True
                return index.with_offsets(index.offsets)
        return cls._scan(path, block)

    @classmethod
    def _newlines(cls, path: Path, block: int) -> LineIndex:
        """Lines counted by newlines alone: where every line starts (``offsets``), and an
        entry at the first line starting in each block.

        A block's lines are split by ``io.BytesIO`` and only their lengths kept,
        summed from the block's place in the file: no Python code runs per line
        (0.35 s a million lines, against 0.5 s finding each newline in turn), and
        a line longer than a block costs no more memory than the block, the sum
        of its pieces landing on the newline that ends it.
        """
        handle = _open(path)
        offsets = array("q", [0])  # each newline's next byte: len(offsets) - 1 lines so far
        offset = 0
        last = b"\n"
        with handle:
            while data := handle.read(block):
                ends = accumulate(map(len, io.BytesIO(data)), initial=offset)
                next(ends)  # the block's own start
                offsets.extend(ends)
                if data[-1:] != b"\n":  # the last piece runs on into the next block
                    offsets.pop()
                offset += len(data)
                last = data[-1:]
        newlines = len(offsets) - 1
        index = cls(path, offset, [0], [0])
        for start in range(block, offset, block):  # the first line starting in each later block
            n = bisect.bisect_left(offsets, start, 1, newlines + 1)
            if n <= newlines and offsets[n] < min(start + block, offset):
                index.starts.append(offsets[n])
                index.before.append(n)
        index.tail_newline = last == b"\n"
        index.starts.append(offset)
        index.before.append(newlines)
        if not index.tail_newline:  # the last line ends where the file does
            offsets.append(offset)
        index.offsets = offsets
        return index

    @classmethod
    def _scan(cls, path: Path, block: int) -> LineIndex:
        """Lines counted one by one, blank ones left out: an entry at each ``block``'s first."""
        handle = _open(path)
        index = cls(path, 0)
        values = offset = 0
        carry = b""
        with handle:
            while True:
                data = handle.read(block)
                if not data and not carry:
                    break
                chunk = carry + data
                if data:  # cut after the last newline: the rest starts the next block
                    cut = chunk.rfind(b"\n") + 1
                    if cut == 0:  # no newline yet: one long line, read on
                        carry = chunk
                        continue
                    chunk, carry = chunk[:cut], chunk[cut:]
                else:  # the last line, without a newline
                    carry = b""
                    index.tail_newline = False
                index.starts.append(offset)
                index.before.append(values)
                values += _nonblank_count(chunk.removeprefix(_BOM) if offset == 0 else chunk)
                offset += len(chunk)
        index.starts.append(offset)  # the end; ``before`` of it: the values of the whole file
        index.before.append(values)
        index.size = offset
        return index

    def with_offsets(self, offsets: array[int] | None) -> LineIndex:
        """This index with ``offsets`` when they fit it (a start per value, then the end), else without."""
        fits = offsets is not None and len(offsets) == self.values + 1 and offsets[-1] == self.size
        self.offsets = offsets if fits and self.exact else None
        return self

    @property
    def values(self) -> int:
        return self.before[-1] if self.before else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "starts": self.starts,
            "before": self.before,
            "exact": self.exact,
        }

    @classmethod
    def from_json(cls, path: Path, data: dict[str, Any]) -> LineIndex:
        index = cls(path, int(data["size"]), list(data["starts"]), list(data["before"]))
        index.exact = bool(data.get("exact"))
        return index

    def prefetch(self, rids: Iterable[int]) -> None:
        """Ask the kernel to start reading the lines numbered in ``rids`` (``_prefetch``), so
        that a reader going through them finds them read, or at least on their way."""
        wanted = sorted({r for r in rids if 0 <= r < self.values})
        if self.offsets is not None:
            spans = [(self.offsets[r], self.offsets[r + 1]) for r in wanted]
        else:  # the blocks that hold them
            blocks = sorted({bisect.bisect_right(self.before, r) - 1 for r in wanted})
            spans = [(self.starts[b], self.starts[b + 1]) for b in blocks]
        try:
            handle = self.path.open("rb")
        except OSError:  # read() says why, if it comes to that
            return
        with handle:
            _prefetch(handle, spans)

    def read(self, rids: Iterable[int]) -> dict[int, str]:
        """The text of each value numbered in ``rids`` (0-based, file order)."""
        wanted = sorted(set(rids))
        found: dict[int, str] = {}
        if not wanted:
            return found
        if wanted[0] < 0 or wanted[-1] >= self.values:
            raise LogFileError(
                f"{self.path}: has no event number {wanted[-1]} (changed since read?)"
            )
        handle = _open(self.path)
        with handle:
            if handle.seek(0, 2) != self.size:
                raise LogFileError(
                    f"{self.path}: changed while the run read it (its size is not the one indexed)"
                )
            if self.offsets is not None:
                return self._read_lines(handle, wanted, self.offsets)
            i = 0
            while i < len(wanted):
                block = bisect.bisect_right(self.before, wanted[i]) - 1
                lo, hi = self.starts[block], self.starts[block + 1]
                handle.seek(lo)
                chunk = handle.read(hi - lo)
                first = self.before[block]
                local: list[int] = []
                while i < len(wanted) and wanted[i] < self.before[block + 1]:
                    local.append(wanted[i] - first)
                    i += 1
                for k, text in zip(local, self._lines(chunk, local), strict=True):
                    found[first + k] = text
        return found

    def _read_lines(
        self, handle: BinaryIO, wanted: list[int], offsets: array[int]
    ) -> dict[int, str]:
        """Lines ``wanted`` (ascending) by their offsets: each run of neighbours one read,
        every read asked of the kernel at once first (``_prefetch``).

        Each line read must still be a whole line (a newline before it and at its
        end): a file edited since it was indexed is refused, not read in pieces.
        """
        runs: list[tuple[int, int]] = []  # [i, j) of wanted: neighbouring lines
        i = 0
        while i < len(wanted):
            j = i + 1
            while j < len(wanted) and wanted[j] == wanted[j - 1] + 1 and j - i < 4096:
                j += 1
            runs.append((i, j))
            i = j
        # each read from the newline before its first line, to check that it is one
        spans = [(max(offsets[wanted[i]] - 1, 0), offsets[wanted[j - 1] + 1]) for i, j in runs]
        _prefetch(handle, spans)
        found: dict[int, str] = {}
        for (i, j), (lo, hi) in zip(runs, spans, strict=True):
            handle.seek(lo)
            chunk = handle.read(hi - lo)
            if lo and chunk[:1] != b"\n":
                raise self._changed()
            for n in wanted[i:j]:
                line = chunk[offsets[n] - lo : offsets[n + 1] - lo]
                if line[-1:] == b"\n":
                    line = line[:-1]
                elif offsets[n + 1] != self.size or self.tail_newline:
                    raise self._changed()
                found[n] = _text(line)
        return found

    def _changed(self) -> LogFileError:
        return LogFileError(
            f"{self.path}: a line is not where it was (the file changed since it was read "
            "or cached): run again, or with --no-cache, or rebuild the cache with "
            "soar logs index FILE --rebuild"
        )

    def _lines(self, chunk: bytes, local: list[int]) -> list[str]:
        """Lines ``local`` (ascending, counted among non-blank lines) of a block."""
        if not self.exact:  # a BOM can only open the first block
            lines = [line for line in chunk.removeprefix(_BOM).split(b"\n") if line.strip()]
            return [_text(lines[k]) for k in local]
        out: list[str] = []
        pos = line = 0
        for k in local:  # hop from newline to newline: no line but the wanted is copied
            while line < k:
                pos = chunk.index(b"\n", pos) + 1
                line += 1
            end = chunk.find(b"\n", pos)
            out.append(_text(chunk[pos : end if end >= 0 else len(chunk)]))
        return out


def line_number(path: Path, value: int, block: int = BLOCK) -> int | None:
    """The line of ``path`` that holds its ``value``-th value (1-based, as DuckDB's reader
    counts them: blank and whitespace-only lines are no values), None past the last.

    Read a block at a time, keeping of a line only whether it holds more than blanks: a
    line of any length (DuckDB takes a value padded with megabytes of blanks) costs one
    block of memory.
    """
    seen = number = 0
    filled = False  # whether the line read so far holds more than blanks
    with _open(path) as handle:
        head = handle.read(max(block, len(_BOM)))
        data = head.removeprefix(_BOM)
        while head:
            *ended, rest = data.split(b"\n")
            for piece in ended:
                number += 1
                if filled or piece.strip():
                    seen += 1
                    if seen == value:
                        return number
                filled = False
            filled = filled or bool(rest.strip())
            head = data = handle.read(block)
    return number + 1 if filled and seen + 1 == value else None


def _prefetch(handle: BinaryIO, spans: list[tuple[int, int]]) -> None:
    """Ask the kernel to start reading every span (ascending) at once, spans less than
    ``_NEAR`` apart as one (``posix_fadvise`` WILLNEED, a hint: nothing changes where it is
    not heeded). Lines scattered over a file that is not in the page cache then arrive
    together instead of one seek at a time: 51,904 ``sapi`` events of the 10.6 GB bench
    export, cold, in 27 s instead of 106 s read at once, and in 15 s by a set's iteration,
    which asks ahead (``EventSet``)."""
    if not spans or not hasattr(os, "posix_fadvise"):
        return
    fd = handle.fileno()
    merged = [list(spans[0])]
    for lo, hi in spans[1:]:
        if lo - merged[-1][1] <= _NEAR:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    try:
        for lo, hi in merged:
            os.posix_fadvise(fd, lo, hi - lo, os.POSIX_FADV_WILLNEED)
    except OSError:  # a file system that takes no advice is read as it comes
        return


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise LogFileError(f"{path}: cannot open: {exc.strerror}") from None


def _text(line: bytes) -> str:
    return line.removeprefix(_BOM).decode("utf-8").rstrip("\r")
