"""engine.ipforms: one address, its textual forms, and the forms a search must cover."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.ipforms import (
    address_key,
    all_variants,
    is_public,
    keyed,
    order_key,
    parse_address,
    variants,
)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2601:140:9702:ee80:9049:1f55:0000:e970", "2601:140:9702:ee80:9049:1f55:0:e970"),
        ("2001:0DB8::E970", "2001:db8::e970"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::ffff:cb00:7109", "203.0.113.9"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("203.0.113.9", "203.0.113.9"),
    ],
)
def test_one_key_per_address(text: str, key: str) -> None:
    assert address_key(text) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "::",
        "0.0.0.0",  # noqa: S104 (text to parse, not a bind address)
        "::ffff:0.0.0.0",
        "010.0.0.1",
        "1.2.3",
        "x" * 99,
        'fe80::1%" OR type:"s',  # Python would take the rest as a zone id
    ],
)
def test_what_names_no_address_for_sure_has_no_key(text: str) -> None:
    assert parse_address(text) is None and address_key(text) is None


_DOTTED = st.builds(
    lambda parts, pad, space: space + ".".join(pad(p) for p in parts) + space,
    st.lists(st.integers(0, 300), min_size=3, max_size=5),
    st.sampled_from([str, lambda p: f"{p:03d}", lambda p: f"{p:02d}"]),
    st.sampled_from(["", " ", "\t"]),
)


@given(
    st.one_of(
        _DOTTED, st.ip_addresses().map(str), st.text(alphabet="0123456789.:abf%[] ", max_size=20)
    )
)
def test_the_fast_dotted_path_reads_what_ipaddress_reads(text: str) -> None:
    """Dotted IPv4 built from its bytes, and its text taken as its key, give what parsing
    it with ipaddress gives, for every text: leading zeros, octets over 255, too few or too
    many parts, blanks around, Unicode digits (which \\d would take) and the unspecified
    address included."""
    try:
        expected: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(
            text.strip().removeprefix("[").removesuffix("]")
        )
    except ValueError:
        expected = None
    got = keyed(text)
    assert parse_address(text) == (None if got is None else got[1])
    if isinstance(expected, ipaddress.IPv4Address):
        assert got == (None if expected.is_unspecified else (str(expected), expected))
    if got is not None:
        assert got[0] == address_key(text)
        bare = ipaddress.ip_address(got[0].split("%")[0])
        assert order_key(got[1]) == (bare.version, int(bare))


@pytest.mark.parametrize("text", ["١.٢.٣.٤", "1.2.3.٤", "01.2.3.4", "1.2.3.256", "0.0.0.0"])  # noqa: S104
def test_what_looks_dotted_but_is_not_an_address_has_no_key(text: str) -> None:
    assert keyed(text) is None


@given(st.integers(0, 2**32 - 1))
def test_public_is_what_ipaddress_calls_global(number: int) -> None:
    addr = ipaddress.IPv4Address(number)
    assert is_public(addr) == addr.is_global
    mapped = ipaddress.IPv6Address(f"::ffff:{addr}")  # an IPv4 client on a dual-stack server
    assert is_public(mapped) == addr.is_global


_BLOCK_EDGES = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/31",
    "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",
    "240.0.0.0/4", "255.255.255.255/32",
]  # fmt: skip


@pytest.mark.parametrize("block", _BLOCK_EDGES)
def test_public_at_the_edges_of_every_special_block(block: str) -> None:
    """Each special-purpose block's first and last address and their neighbours, whatever this
    Python's own list of non-global networks holds (it changed between releases)."""
    net = ipaddress.IPv4Network(block)
    first, last = int(net.network_address), int(net.broadcast_address)
    for number in {
        min(max(n, 0), 2**32 - 1) for n in (first - 1, first, first + 1, last - 1, last, last + 1)
    }:
        addr = ipaddress.IPv4Address(number)
        assert is_public(addr) == addr.is_global, addr


def test_variants_cover_what_writers_produce_and_start_with_the_text() -> None:
    forms = variants("2601:140:9702:ee80:9049:1f55:0:e970")
    assert forms[0] == "2601:140:9702:ee80:9049:1f55:0:e970"
    assert "2601:140:9702:ee80:9049:1f55:0000:e970" in forms  # the pwd_leak event's form
    assert "2601:0140:9702:ee80:9049:1f55:0000:e970" in forms
    assert "2601:140:9702:EE80:9049:1F55:0:E970" in forms
    assert len(forms) == len(set(forms))
    v4 = variants("::FFFF:203.0.113.9")
    assert v4[0] == "::FFFF:203.0.113.9"
    assert {"203.0.113.9", "::ffff:203.0.113.9", "::ffff:cb00:7109"} <= set(v4)
    assert all(address_key(f) == "203.0.113.9" for f in v4)
    assert all(f.endswith("%eth0") for f in variants("fe80::1%eth0"))
    assert variants("not an ip") == ["not an ip"]
    assert all_variants(["203.0.113.9", "::ffff:203.0.113.9"]) == variants("203.0.113.9")


def test_lucene_quotes_a_list_of_forms_as_one_group_the_query_engine_matches() -> None:
    from engine.errors import TemplateError
    from engine.expr.sandbox import lucene
    from engine.expr.templates import compile_template
    from engine.logs.query import compile_query

    assert lucene(["a", 'b"']) == '("a" OR "b\\"")'
    with pytest.raises(TemplateError, match="empty list"):
        lucene([])
    q = compile_template('type:"s" AND ip:{{ inputs.ip | ip_forms | lucene }}').render(
        {"inputs": {"ip": "2601:140:9702:ee80:9049:1f55:0:e970"}}
    )
    match = compile_query(q)
    assert match({"type": "s", "ip": "2601:140:9702:ee80:9049:1f55:0000:e970"})
    assert match({"type": "s", "ip": "2601:140:9702:ee80:9049:1f55:0:e970"})
    assert not match({"type": "s", "ip": "2601:140:9702:ee80:9049:1f55:0:e971"})
    assert not match({"type": "fp", "ip": "2601:140:9702:ee80:9049:1f55:0:e970"})
    with pytest.raises(TemplateError, match="ip_forms"):
        compile_template("{{ 3 | ip_forms }}").render({})
