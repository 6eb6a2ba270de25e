"""The textual forms of one IP address: how Auth0 logged it, and what a search must cover.

Auth0 logs an event's ``ip`` as it received it, and its log search matches a
field's whole text exactly: ``ip:"2601:140:9702:ee80:9049:1f55:0:e970"`` does
not find an event logged with ``…:1f55:0000:e970``. So an address is reported
in the form it was logged, its forms are grouped by ``address_key`` (one
address, one key), and a search for it covers every form seen plus the forms
other writers commonly produce (``variants``).

``address_key`` is the canonical text: RFC 5952 lower-case compressed IPv6,
dotted IPv4 for an IPv4-mapped IPv6 address (``::ffff:203.0.113.9`` is the
IPv4 client ``203.0.113.9`` on a dual-stack server), and an IPv6 zone id kept
(``fe80::1%eth0``: the zone is part of a link-local address).
"""

from __future__ import annotations

import bisect
import ipaddress
import re
import socket
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from engine.errors import TemplateError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_TEXT = 64  # the longest address text read (a zone id included)
_ZONE = re.compile(r"[0-9A-Za-z_.\-]{1,32}")  # interface names and numbers (eth0, 12, en0.1)
# dotted IPv4 as Python writes it: four decimal octets, no leading zero (ASCII digits only)
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_V4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@lru_cache(maxsize=65536)  # a log repeats few addresses many times
def parse_address(text: str) -> Address | None:
    """The address ``text`` writes (``[...]`` brackets allowed), or None.

    None for anything that is not one address, and for the unspecified
    addresses (``::``, ``0.0.0.0``), which no client has. IPv4 with leading
    zeros (``010.0.0.1``) is refused, as Python does: some readers take it as
    octal, so it names no address for sure.
    """
    raw = text.strip()
    if not raw or len(raw) > MAX_TEXT:
        return None
    plain = _plain_v4(raw)
    if plain is not None:
        return plain
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    try:
        addr: Address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if (
        isinstance(addr, ipaddress.IPv6Address)
        and addr.scope_id
        and not _ZONE.fullmatch(addr.scope_id)
    ):
        return None  # Python takes any text after "%" as a zone: "fe80::1%\" OR x" is none
    return None if _unmapped(addr).is_unspecified else addr


def _plain_v4(raw: str) -> ipaddress.IPv4Address | None:
    """``raw`` as an IPv4 address when it is dotted IPv4 as Python writes it (the common
    case, built from its four bytes rather than parsed octet by octet), else None."""
    if not _PLAIN_V4.fullmatch(raw):
        return None
    addr = ipaddress.IPv4Address(socket.inet_aton(raw))
    return None if addr.is_unspecified else addr


def plain_key(text: str) -> str | None:
    """The ``address_key`` of dotted IPv4 as Python writes it (``text`` itself, blanks cut),
    told by its pattern alone without making the address; None for any other text."""
    raw = text.strip()
    return raw if _PLAIN_V4.fullmatch(raw) and raw != "0.0.0.0" else None  # noqa: S104


def keyed(text: str) -> tuple[str, Address] | None:
    """``(address_key, address)`` of the address ``text`` writes, or None when it writes none.

    Dotted IPv4 as Python writes it is its own key, so the common case costs no
    formatting of the address back to text.
    """
    raw = text.strip()
    plain = _plain_v4(raw)
    if plain is not None:
        return raw, plain
    addr = parse_address(text)
    return None if addr is None else (key_of(addr), addr)


def order_key(addr: Address) -> tuple[int, int]:
    """IPv4 before IPv6, then by number (10.x after 9.x): an address as its key names it
    (an IPv4-mapped IPv6 address is its IPv4 address; a zone does not count)."""
    bare = _unmapped(_split_zone(addr)[0])
    return bare.version, int(bare)


def _split_zone(addr: Address) -> tuple[Address, str]:
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        return ipaddress.IPv6Address(int(addr)), f"%{addr.scope_id}"
    return addr, ""


def _unmapped(addr: Address) -> Address:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@lru_cache(maxsize=65536)
def key_of(addr: Address) -> str:
    """The canonical text of a parsed address (see the module docstring)."""
    bare, zone = _split_zone(addr)
    return str(_unmapped(bare)) + zone


def address_key(text: str) -> str | None:
    """The canonical text of the address ``text`` writes, or None when it writes none."""
    addr = parse_address(text)
    return None if addr is None else key_of(addr)


# Every block of the IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates,
# https://www.iana.org/assignments/iana-ipv4-special-registry), reachable or not, and
# shared address space: a superset of what any Python release treats as not global.
# Outside them an address is global; inside, ``ipaddress`` answers.
_SPECIAL_V4 = sorted(
    (int(n.network_address), int(n.broadcast_address))
    for n in map(
        ipaddress.IPv4Network,
        [
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
            "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24",
            "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24",
            "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
        ],
    )
)  # fmt: skip
_SPECIAL_STARTS = [start for start, _ in _SPECIAL_V4]


def is_public(addr: Address) -> bool:
    """Whether the address is globally reachable (``ipaddress``'s ``is_global``).

    An IPv4 address outside every special-purpose block is answered by a binary
    search, without ``ipaddress`` testing it against each of its networks in turn.
    """
    bare = _unmapped(_split_zone(addr)[0])
    if isinstance(bare, ipaddress.IPv4Address):
        number = int(bare)
        at = bisect.bisect_right(_SPECIAL_STARTS, number) - 1
        if at < 0 or number > _SPECIAL_V4[at][1]:
            return True
    return bool(bare.is_global)


def _v6_forms(addr: ipaddress.IPv6Address) -> list[str]:
    groups = [f"{(int(addr) >> (112 - 16 * i)) & 0xFFFF:x}" for i in range(8)]
    forms = [
        addr.compressed,  # RFC 5952: what most software writes
        addr.exploded,  # every group four digits
        ":".join(groups),  # no "::", groups unpadded
        ":".join(g if g != "0" else "0000" for g in groups),  # zero groups written out
    ]
    return forms + [f.upper() for f in forms]


def _v4_forms(addr: ipaddress.IPv4Address) -> list[str]:
    dotted = str(addr)
    mapped = ipaddress.IPv6Address(f"::ffff:{dotted}")
    hexed = mapped.compressed  # ::ffff:cb00:7109
    return [
        dotted,
        f"::ffff:{dotted}",
        f"::FFFF:{dotted}",
        f"0:0:0:0:0:ffff:{dotted}",
        f"0000:0000:0000:0000:0000:ffff:{dotted}",
        hexed,
        hexed.upper(),
    ]


def variants(text: str) -> list[str]:
    """Every form to search for the address ``text`` writes: ``text`` itself first.

    Then the forms writers commonly produce: compressed, exploded, without
    ``::``, with zero groups written out, each also in upper case; for an IPv4
    address (or an IPv4-mapped one) the dotted form and its IPv4-mapped IPv6
    forms. A zone id stays on every form. Text that writes no address is
    returned alone, unchanged (it is still what was asked for).
    """
    addr = parse_address(text)
    if addr is None:
        return [text]
    bare, zone = _split_zone(addr)
    plain = _unmapped(bare)
    forms = _v4_forms(plain) if isinstance(plain, ipaddress.IPv4Address) else _v6_forms(plain)
    return list(dict.fromkeys([text, *(f + zone for f in forms)]))


def all_variants(texts: Iterable[str]) -> list[str]:
    """The forms of every address in ``texts``, each form once, in order."""
    out: dict[str, None] = {}
    for text in texts:
        for form in variants(text):
            out.setdefault(form, None)
    return list(out)


def ip_forms(value: Any) -> list[str]:
    """The ``ip_forms`` expression filter: ``{{ inputs.ip | ip_forms | lucene }}``."""
    if not isinstance(value, str):
        raise TemplateError(f"ip_forms: expected an IP address as text, got {type(value).__name__}")
    return variants(value)


def parse_network(text: str) -> Network:
    """An address or CIDR as Auth0's ACL reads it: ``::ffff:1.2.3.4`` is 1.2.3.4, zones dropped.

    The ACL matches the connecting address, not its text: every textual form of
    one address (zero groups, leading zeros, upper case, IPv4-mapped) is one entry.
    """
    raw = text.strip()
    address, _, prefix = raw.partition("/")
    address = address.split("%", 1)[0]  # a zone id names an interface, not an address
    bad = ValueError(f"{text[:MAX_TEXT]!r} is not an IP address or CIDR")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise bad from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:0:0/96 is IPv4: a /120 of it is an IPv4 /24
        if prefix:
            if not prefix.isdigit() or int(prefix) < 96:
                raise bad
            prefix = str(int(prefix) - 96)
    try:
        return ipaddress.ip_network(f"{ip}/{prefix}" if prefix else str(ip), strict=False)
    except ValueError:
        raise bad from None


def entry(net: Network) -> str:
    """The ACL's text for a network: a bare address for a single host, else the CIDR."""
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def covered_by(net: Network, texts: Iterable[Any]) -> bool:
    """Whether ``net`` lies inside one of the networks ``texts`` write (unreadable ones skipped)."""
    for text in texts:
        try:
            have = parse_network(str(text))
        except ValueError:
            continue
        if have.version == net.version and net.subnet_of(have):  # type: ignore[arg-type]
            return True
    return False
