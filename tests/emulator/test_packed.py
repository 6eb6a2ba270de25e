"""The emulator's packed texts give back exactly what was put in, and take less room.

``Packed`` compresses each event's JSON on its own against a dictionary made of
the first events; ``Texts`` keeps strings in one buffer. Both are read by
position while the store appends, and reordered once when a file is not in
log id order.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.emulator.packed import Packed, Texts
from engine.logs.files import iter_events

DATA = Path(__file__).parent.parent / "data" / "auth0"


def real_texts() -> list[bytes]:
    """Every real-shaped event of the fixtures (tests/data/auth0/SOURCES.md says where each
    shape was seen), as the store serialises them."""
    texts = []
    for name in ("export.jsonl", "stream.jsonl", "siem-rows.jsonl", "eventbridge.jsonl"):
        for event in iter_events(DATA / name):
            texts.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
    return texts


def packed(texts: list[bytes]) -> Packed:
    store = Packed()
    for text in texts:
        store.add(text)
    return store


@pytest.mark.parametrize(
    "n", [0, 1, Packed.PRIMING - 1, Packed.PRIMING, Packed.PRIMING + 1, Packed.PRIMING + 300]
)
def test_every_text_comes_back_the_same_before_and_after_the_dictionary(n: int) -> None:
    real = real_texts()
    texts = [real[i % len(real)] + b" " * (i % 3) for i in range(n)]
    store = packed(texts)
    assert len(store) == n and [store[i] for i in range(n)] == texts  # held or packed
    store.seal()
    assert len(store) == n and [store[i] for i in range(n)] == texts
    if n:
        assert store[-1] == texts[-1]
    with pytest.raises(IndexError):
        store[n]
    store.add(b'{"appended":"\xc3\xa9"}')  # after the seal: compressed with the same dictionary
    assert store[n] == b'{"appended":"\xc3\xa9"}' and store[0 if n else -1] == (
        texts[0] if n else b'{"appended":"\xc3\xa9"}'
    )


def test_events_keep_a_fraction_of_their_size() -> None:
    real = real_texts()
    texts = [real[i % len(real)] for i in range(Packed.PRIMING + 2000)]
    store = packed(texts)
    store.seal()
    size = sum(map(len, texts))
    assert len(store._data) < size / 3, (len(store._data), size)


def test_a_text_unlike_the_dictionary_and_a_large_one_come_back() -> None:
    store = packed(real_texts())
    odd = bytes(range(256)) * 4
    large = json.dumps({"details": {"body": "x" * 3_000_000}}).encode()
    store.add(odd)
    store.add(large)
    store.add(b"")
    assert store[-3] == odd and store[-2] == large and store[-1] == b""


@pytest.mark.parametrize("n", [5, Packed.PRIMING + 100])
def test_a_reordered_store_reads_in_the_new_order(n: int) -> None:
    texts = [f'{{"log_id":"{i:05d}","n":{i}}}'.encode() for i in range(n)]
    store = packed(texts)
    if n > Packed.PRIMING:  # a small one reorders while its texts are still held
        store.seal()
    order = [i for i in reversed(range(n)) if i % 7]  # some left out, as redeliveries are
    again = store.reordered(order)
    assert len(again) == len(order) and [again[i] for i in range(len(order))] == [
        texts[i] for i in order
    ]
    again.add(b'{"new":1}')
    assert again[len(order)] == b'{"new":1}'


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=300))
def test_any_bytes_come_back(texts: list[bytes]) -> None:
    store = packed(texts)
    store.seal()
    assert [store[i] for i in range(len(texts))] == texts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=60))
def test_texts_give_back_every_string_by_position_slice_and_iteration(items: list[str]) -> None:
    texts = Texts(items)
    assert len(texts) == len(items) and list(texts) == items
    assert [texts[i] for i in range(-len(items), len(items))] == items + items
    assert texts[1:-1] == items[1:-1] and texts[::-2] == items[::-2]
    assert list(texts.reordered(range(len(items) - 1, -1, -1))) == items[::-1]
    with pytest.raises(IndexError):
        texts[len(items)]


def test_texts_keep_a_lone_surrogate_and_sort_for_bisection() -> None:
    ids = sorted(["900" + "1" * 53, "900" + "2" * 53, "", "8\ud800", "é"])
    texts = Texts(ids)
    assert list(texts) == ids
    for probe in ["", "900", "900" + "2" * 53, "\uffff"]:
        assert bisect.bisect_left(texts, probe) == bisect.bisect_left(ids, probe)
        assert bisect.bisect_right(texts, probe) == bisect.bisect_right(ids, probe)
