"""Legitimate background traffic of an emulated tenant, and the event shape all scenarios share.

``TrafficGenerator`` owns the seeded random source, the users and their home
IPs, the applications and connections, and the rows of events. Rows are compact
tuples; ``materialize`` builds each Auth0-shaped event (every field, in
Auth0's order, nulls where Auth0 has nulls) once, when the log store takes it.
Background traffic follows ``engine.emulator.background.MIX`` (two dozen of
Auth0's event codes, with their fields).

Log ids carry two prefixes, ``900`` and (one event in eight) ``800``, as a
tenant whose events come from two clusters: ids sort by prefix first, so
checkpoint paging walks all ``800`` ids, then all ``900`` ids (auth0-facts.md
section 1 records an EU tenant's ``800`` ids; how Auth0 assigns prefixes is
not documented, so the share is a choice).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from engine.emulator.background import MIX, Kind
from engine.emulator.catalog import (
    AGENTS,
    CITIES,
    CLIENTS,
    CONNECTIONS,
    FIRST,
    HOSTILE,
    LAST,
    PUBLIC_FIRST_OCTETS,
    SAPI,
)
from engine.emulator.tenant import user_record
from engine.timeutil import iso_ms


class TrafficGenerator:
    def __init__(self, scenario: str, seed: int, size: int, now: datetime) -> None:
        self.rng = random.Random(f"{scenario}:{seed}")
        self.scenario, self.seed, self.size, self.now = scenario, seed, size, now
        self.domain = "acme-emulated.auth0.com"
        self.clients = [(self.hex(32), name, kind) for name, kind in CLIENTS]
        self.connections = [
            (name, f"con_{self.hex(16)}", strat, stype) for name, strat, stype in CONNECTIONS
        ]
        self.rows: list[Any] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.home: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
        self.used_ips: set[str] = set()
        self.blocks: dict[str, list[dict[str, Any]]] = {}
        n_users = min(max(40, size // 40), 20000)
        for i in range(n_users):
            self.add_user(i)

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def ip(self, octets: list[int]) -> str:
        while True:
            ip = f"{self.rng.choice(octets)}.{self.rng.randint(1, 254)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
            if ip not in self.used_ips:
                self.used_ips.add(ip)
                return ip

    def add_user(self, i: int, admin: bool = False, username: str | None = None) -> str:
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        uid = f"auth0|{self.hex(24)}"
        email = f"{first}.{last}{i}@example.com"
        created = iso_ms(self.now - timedelta(days=self.rng.randint(30, 900)))
        self.users[uid] = user_record(
            uid,
            created,
            email=email,
            email_verified=True,
            username=username or f"{first}{last}{i}",
            identities=[
                {
                    "connection": CONNECTIONS[0][0],
                    "user_id": uid.split("|")[1],
                    "provider": "auth0",
                    "isSocial": False,
                }
            ],
            app_metadata={"roles": ["admin"]} if admin else {},
            name=f"{first.title()} {last.title()}",
            nickname=first,
            given_name=first.title(),
            family_name=last.title(),
        )
        self.home[uid] = [
            (self.ip(PUBLIC_FIRST_OCTETS), self.rng.choice(CITIES))
            for _ in range(self.rng.randint(1, 2))
        ]
        return uid

    def when(self, start_h: float, end_h: float) -> datetime:
        return self.now - timedelta(seconds=self.rng.uniform(end_h * 3600, start_h * 3600))

    def event(
        self,
        at: datetime,
        type_: str,
        description: str,
        *,
        uid: str | None = None,
        user_name: str | None = None,
        ip: str | None = None,
        city: tuple[Any, ...] | None = None,
        client: tuple[str, str, str] | None = None,
        agent: str | None = None,
        details: Mapping[str, Any] | None = None,
        connection: bool = True,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        user = self.users.get(uid or "")
        name = user_name if user_name is not None else (user["email"] if user else None)
        # Compact rows; the full Auth0-shaped dict is built once, when the store takes it.
        self.rows.append(
            (
                at,
                type_,
                description,
                uid or "",
                name,
                ip,
                city or self.rng.choice(CITIES),
                client or self.clients[0],
                agent or self.rng.choice(AGENTS),
                details or {},
                self.connections[0] if connection else None,
                fields,
            )
        )

    @staticmethod
    def prefix(seq: int) -> str:
        return "800" if seq % 8 == 3 else "900"

    def materialize(self, seq: int, row: tuple[Any, ...]) -> dict[str, Any]:
        at, type_, description, uid, name, ip, city, client, agent, details, conn, fields = row
        log_id = self.prefix(seq) + at.strftime("%Y%m%d%H%M%S") + f"{seq:039d}"
        event = {
            "_id": log_id,
            "log_id": log_id,
            "date": iso_ms(at),
            "type": type_,
            "description": description,
            "connection": conn[0] if conn else None,
            "connection_id": conn[1] if conn else "",
            "organization_id": None,
            "organization_name": None,
            "client_id": client[0],
            "client_name": client[1],
            "ip": ip,
            "hostname": self.domain,
            "details": details,
            "user_id": uid,
            "user_name": name,
            "user_agent": agent,
            # a machine token names the API it was granted (Auth0 sends audience and scope)
            "audience": f"https://{self.domain}/api/v2/" if type_ == "seccft" else None,
            "scope": None,
            "strategy": conn[2] if conn else None,
            "strategy_type": conn[3] if conn else None,
            "isMobile": agent.startswith(("Mobile ", "Chrome Mobile ")),
            "location_info": {
                "country_code": city[0],
                "country_code3": city[1],
                "country_name": city[2],
                "city_name": city[3],
                "latitude": city[4],
                "longitude": city[5],
                "time_zone": city[6],
                "continent_code": city[7],
            }
            if ip
            else None,
        }
        if fields:
            event.update(fields)  # only fields Auth0 has: the order stays Auth0's
        return event

    def stream(self) -> Iterator[dict[str, Any]]:
        """The events in log_id order, each built as it is taken (and its row dropped).

        Rows are in time order; ids sort by prefix first, so the ``800`` events
        come out in a first pass and the ``900`` events in a second.
        """
        rows = self.rows
        for wanted in ("800", "900"):
            for i in range(len(rows)):
                if rows[i] is not None and self.prefix(i + 1) == wanted:
                    row, rows[i] = rows[i], None
                    yield self.materialize(i + 1, row)
        rows.clear()

    # -- legitimate traffic ----------------------------------------------------
    def background(self, n: int) -> None:
        """``n`` events of a healthy tenant, drawn from ``MIX`` (see engine.emulator.background)."""
        uids = list(self.users)
        human = [c for c in self.clients if c[2] != "m2m"]
        admins = [u for u in uids if self.users[u]["app_metadata"].get("roles")]
        backend = self.ip(PUBLIC_FIRST_OCTETS)  # the web application's server
        kinds: list[tuple[float, Callable[[datetime, str], None]]] = [
            (k.weight, partial(self.emit, k, human=human, backend=backend)) for k in MIX
        ]
        if admins:
            kinds.append(
                (
                    0.005,
                    lambda at, u: self.sapi(at, admins[0], self.home[admins[0]][0][0], legit=True),
                )
            )
        weights = [k[0] for k in kinds]
        for _ in range(max(n, 0)):
            uid = self.rng.choice(uids)
            fn = self.rng.choices(kinds, weights)[0][1]
            fn(self.when(20, 0.05), uid)

    def emit(self, kind: Kind, at: datetime, uid: str, human: list[Any], backend: str) -> None:
        """One background event of ``kind`` for user ``uid``."""
        common: dict[str, Any] = {
            "details": kind.details,
            "connection": kind.connection,
            "fields": kind.fields or None,
        }
        if kind.source in ("machine", "backend"):  # a server's own address and agent
            machine = kind.source == "machine"
            self.event(
                at,
                kind.code,
                kind.description,
                uid=None if machine else uid,
                ip=backend,
                client=self.clients[5] if machine else self.clients[0],
                agent="Other 0.0.0 / Other 0.0.0",
                **common,
            )
        elif kind.source == "tenant":
            email = self.users[uid]["email"]
            self.event(at, kind.code, f"To: {email}", user_name=email, **common)
        elif kind.code == "fu":  # a typo in the name: no account, so no user_id
            name = self.users[uid]["email"].replace("@", "@@")
            self.event(at, "fu", kind.description, user_name=name, **self.at_home(uid), **common)
        else:
            self.event(
                at,
                kind.code,
                kind.description,
                uid=uid,
                **self.at_home(uid),
                client=self.pick(human),
                **common,
            )

    def at_home(self, uid: str) -> dict[str, Any]:
        ip, city = self.rng.choice(self.home[uid])
        return {"ip": ip, "city": city}

    def pick(self, items: list[Any]) -> Any:
        return self.rng.choice(items)

    def sapi(self, at: datetime, uid: str, ip: str, legit: bool) -> None:
        desc, method, path = self.rng.choice(SAPI) if legit else SAPI[len(self.rows) % len(SAPI)]
        target = self.rng.choice(list(self.users))
        body: dict[str, Any] = {"blocked": False} if method == "PATCH" else {}
        if not legit:
            body = {
                "name": self.rng.choice(HOSTILE[:6]),
                "connection": CONNECTIONS[0][0],
                "note": HOSTILE[len(self.rows) % 6],
            }
        self.event(
            at,
            "sapi",
            desc,
            uid=uid,
            ip=ip,
            client=self.clients[4],
            connection=False,
            details={
                "request": {
                    "method": method.lower(),
                    "path": path.format(uid=target, cid=self.clients[0][0]),
                    "query": {},
                    "body": body,
                    "channel": "api",
                    "ip": ip,
                    "userAgent": "Chrome 134.0.0 / Windows 10.0.0",
                    "auth": {
                        "strategy": "jwt",
                        "credentials": {"scopes": ["update:users"]},
                        "user": {"user_id": uid},
                    },
                },
                "response": {"statusCode": 200 if method != "DELETE" else 204, "body": {}},
            },
        )
