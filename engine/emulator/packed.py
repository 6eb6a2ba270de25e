"""The emulated tenant's texts, packed: a million events in a fraction of their size.

The log store (``engine.emulator.logstore``) keeps every event's JSON text and,
for searching and paging, its log id and date. Held as a ``list`` of ``bytes``
and two of ``str``, a 1,000,000-event tenant took 1.6 GiB; the texts are most of
it, and each small object costs its header and pointer again. Here each kind is
one buffer with the end of every item in an ``array``:

- ``Packed``: event texts, each compressed on its own (zlib, against one
  dictionary made of the first events), so any one is read back alone;
- ``Texts``: strings (log ids, dates), read back as a new ``str`` each time.

Both grow at their end only, and an item is readable once ``len`` counts it:
the store's handler threads may read while it appends an event.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload


class Packed:
    """Event texts, each compressed on its own by zlib against one dictionary: the text
    of the first ``PRIMING`` events (its last ``DICTIONARY`` bytes). A tenant's events
    repeat their keys, clients, agents and messages, so one of about 1 KB keeps about
    110 bytes, and is read back (``self[pos]``: the same bytes) in a few microseconds.

    The first texts are held as they are until the dictionary is made (``PRIMING``
    of them, or ``seal``): a drill's tenant of 3,000 events stays as it is, where
    compressing would save 3 MB and cost 50 ms to build. Measured on 100,000 events
    of the bench's export (991 bytes each): 113 bytes kept at level 2, in 16-18 us
    to compress and about 3 us to read back; level 6 keeps 100 in 22-24 us, level 1
    123 in 17-18 us, and with no dictionary an event keeps 522.
    """

    PRIMING = 4096
    DICTIONARY = 32 << 10  # zlib's window: a dictionary is used up to this size
    LEVEL = 2

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("Q")  # where each text ends in ``_data``
        self._primer: list[bytes] | None = []  # the first texts, until the dictionary is made
        self._zdict = b""
        self._compress: Any = None  # a compressor primed with the dictionary, copied per text

    def __len__(self) -> int:
        return len(self._ends) if self._primer is None else len(self._primer)

    def add(self, text: bytes) -> None:
        if self._primer is None:
            self._put(text)
            return
        self._primer.append(text)
        if len(self._primer) >= self.PRIMING:
            self.seal()

    def seal(self) -> None:
        """Make the dictionary of the texts held so far, and compress them with it."""
        if self._primer is None:
            return
        held = self._primer
        self._zdict = b"".join(held)[-self.DICTIONARY :]
        self._compress = zlib.compressobj(
            self.LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY, self._zdict
        )
        for text in held:
            self._put(text)
        self._primer = None  # only now: a reader sees the held texts until they are packed

    def _put(self, text: bytes) -> None:
        packer = self._compress.copy()
        self._data += packer.compress(text)
        self._data += packer.flush()
        self._ends.append(len(self._data))

    def __getitem__(self, pos: int) -> bytes:
        held = self._primer
        if held is not None:
            return held[pos]
        start, end = _span(self._ends, pos)
        text: bytes = zlib.decompressobj(-zlib.MAX_WBITS, self._zdict).decompress(
            self._data[start:end]
        )
        return text

    def reordered(self, order: Iterable[int]) -> Packed:
        """The texts at the positions ``order`` lists, in that order (the same dictionary)."""
        out = Packed()
        if self._primer is not None:
            out._primer = [self._primer[i] for i in order]
            return out
        out._primer, out._zdict, out._compress = None, self._zdict, self._compress
        out._data, out._ends = _gathered(self._data, self._ends, order)
        return out


class Texts(Sequence[str]):
    """Strings one after the other in one buffer (UTF-8), each read back as a new ``str``:
    a million log ids of 56 digits take 64 MB here, 108 MB as a ``list`` of ``str``."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        self._data = bytearray()
        self._ends = array("Q")
        for item in items:
            self.append(item)

    def append(self, item: str) -> None:
        self._data += item.encode("utf-8", "surrogatepass")  # a lone surrogate, from a file
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, pos: int) -> str: ...

    @overload
    def __getitem__(self, pos: slice) -> list[str]: ...

    def __getitem__(self, pos: int | slice) -> str | list[str]:
        if isinstance(pos, slice):
            return [self[i] for i in range(*pos.indices(len(self)))]
        start, end = _span(self._ends, pos)
        return self._data[start:end].decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        data, start = self._data, 0
        for end in self._ends[:]:  # those there now: one appended meanwhile is not half read
            yield data[start:end].decode("utf-8", "surrogatepass")
            start = end

    def reordered(self, order: Iterable[int]) -> Texts:
        """The strings at the positions ``order`` lists, in that order."""
        out = Texts()
        out._data, out._ends = _gathered(self._data, self._ends, order)
        return out


def _span(ends: array[int], pos: int) -> tuple[int, int]:
    """Where item ``pos`` (negative: from the end) lies in a buffer whose items end at ``ends``."""
    if pos < 0:
        pos += len(ends)
    if not 0 <= pos < len(ends):
        raise IndexError("position out of range")
    return (ends[pos - 1] if pos else 0), ends[pos]


def _gathered(
    data: bytearray, ends: array[int], order: Iterable[int]
) -> tuple[bytearray, array[int]]:
    """The items at the positions ``order`` lists, in that order: a new buffer and its ends."""
    out, out_ends = bytearray(), array("Q")
    for i in order:
        start, end = _span(ends, i)
        out += data[start:end]
        out_ends.append(len(out))
    return out, out_ends
