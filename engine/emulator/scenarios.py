"""Seeded tenant scenarios: users, applications, Auth0-shaped log events, ground truth.

Every scenario has background legitimate traffic (logins, silent auth, typos,
logouts, signups, machine tokens, an admin's Management API calls) and, except
``quiet``, an attack whose attacker IPs, compromised users and reached
applications are written to the ground truth. Events are shaped like Auth0's
(auth0-facts.md §4): every field, in order, nulls where Auth0 has nulls,
``_id == log_id``, 56-digit log_ids increasing with time, ``location_info``,
normalised user agents. Some attacker-controlled fields carry hostile content
on purpose (template syntax, query injection, ANSI escapes, Markdown/HTML, a
10,000-character string), so every consumer is tested against it.

Sizes: legitimate failures are spread thinly (about two per IP per day), while
each attacker IP sends well over 20 indicator events, so a threshold of 20
separates them at any size.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.timeutil import iso_ms, now_utc

SCENARIOS = (
    "credential-stuffing",
    "password-spray",
    "breached-password",
    "compromised-admin",
    "quiet",
)
DEFAULT_EVENTS = 3000

HOSTILE = [
    "{{ 7*7 }}",
    "{% raw %}{{ config }}{% endraw %}",
    '") OR type:("s',
    "\x1b[31mALERT\x1b[0m\x1b]0;pwned\x07",
    "evil\r\nFAKE: soar run approved by admin",
    "| **bold** | [click](javascript:alert(1)) <script>alert(1)</script> `code`",
    "A" * 10000,
]

CLIENTS = [
    ("Customer Portal", "web"),
    ("Mobile App", "native"),
    ("Billing", "web"),
    ("Support Desk", "web"),
    ("Admin Dashboard", "web"),
    ("Reporting API", "m2m"),
]
CONNECTIONS = [
    ("Username-Password-Authentication", "auth0", "database"),
    ("google-oauth2", "google-oauth2", "social"),
]
CITIES = [
    ("US", "USA", "United States", "Chicago", 41.88, -87.63, "America/Chicago", "NA"),
    ("DE", "DEU", "Germany", "Berlin", 52.52, 13.40, "Europe/Berlin", "EU"),
    ("GB", "GBR", "United Kingdom", "London", 51.51, -0.13, "Europe/London", "EU"),
    ("BR", "BRA", "Brazil", "Sao Paulo", -23.55, -46.63, "America/Sao_Paulo", "SA"),
    ("JP", "JPN", "Japan", "Tokyo", 35.68, 139.69, "Asia/Tokyo", "AS"),
    ("AU", "AUS", "Australia", "Sydney", -33.87, 151.21, "Australia/Sydney", "OC"),
]
ATTACK_CITIES = [
    ("NL", "NLD", "Netherlands", "Amsterdam", 52.37, 4.90, "Europe/Amsterdam", "EU"),
    ("RU", "RUS", "Russia", "Moscow", 55.76, 37.62, "Europe/Moscow", "EU"),
    ("VN", "VNM", "Vietnam", "Hanoi", 21.03, 105.85, "Asia/Ho_Chi_Minh", "AS"),
]
AGENTS = [
    "Chrome 134.0.0 / Windows 10.0.0",
    "Safari 17.4.1 / Mac OS X 14.4.1",
    "Firefox 125.0.0 / Ubuntu 0.0.0",
    "Mobile Safari 17.4 / iOS 17.4.1",
    "Chrome Mobile 134.0.0 / Android 14.0.0",
]
BOT_AGENTS = [
    "python-requests 2.31.0 / Other 0.0.0",
    "Other 0.0.0 / Other 0.0.0",
    "curl 8.5.0 / Other 0.0.0",
]
FIRST = [
    "ana",
    "ben",
    "chen",
    "dara",
    "eli",
    "fatima",
    "gus",
    "hana",
    "ivan",
    "jo",
    "kofi",
    "lena",
    "mo",
    "nia",
    "omar",
    "pia",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "uma",
    "vik",
    "wei",
    "yara",
    "zoe",
]
LAST = ["smith", "garcia", "kim", "muller", "rossi", "silva", "tanaka", "okafor", "novak", "haddad"]
PUBLIC_FIRST_OCTETS = [
    23,
    31,
    37,
    46,
    62,
    77,
    81,
    86,
    89,
    93,
    104,
    109,
    146,
    151,
    176,
    178,
    188,
    212,
    213,
    217,
]
ATTACK_FIRST_OCTETS = [45, 91, 185, 194]
SAPI = [
    ("Create a User", "POST", "/api/v2/users"),
    ("Update a User", "PATCH", "/api/v2/users/{uid}"),
    ("Create client grant", "POST", "/api/v2/client-grants"),
    ("Update a Client", "PATCH", "/api/v2/clients/{cid}"),
    ("Delete a connection", "DELETE", "/api/v2/connections/con_x"),
]


@dataclass
class Tenant:
    """What a scenario generates."""

    events: Iterator[dict[str, Any]]  # single use: in log_id order, built as taken
    users: dict[str, dict[str, Any]]
    truth: dict[str, Any]
    user_blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class _Gen:
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
        self.users[uid] = {
            "user_id": uid,
            "email": email,
            "email_verified": True,
            "username": username or f"{first}{last}{i}",
            "phone_number": None,
            "phone_verified": False,
            "created_at": created,
            "updated_at": created,
            "identities": [
                {
                    "connection": CONNECTIONS[0][0],
                    "user_id": uid.split("|")[1],
                    "provider": "auth0",
                    "isSocial": False,
                }
            ],
            "app_metadata": {"roles": ["admin"]} if admin else {},
            "user_metadata": {},
            "picture": None,
            "name": f"{first.title()} {last.title()}",
            "nickname": first,
            "multifactor": [],
            "last_ip": None,
            "last_login": None,
            "last_password_reset": None,
            "logins_count": 0,
            "blocked": False,
            "given_name": first.title(),
            "family_name": last.title(),
        }
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
        details: dict[str, Any] | None = None,
        connection: bool = True,
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
            )
        )

    def materialize(self, seq: int, row: tuple[Any, ...]) -> dict[str, Any]:
        at, type_, description, uid, name, ip, city, client, agent, details, conn = row
        log_id = "900" + at.strftime("%Y%m%d%H%M%S") + f"{seq:039d}"
        return {
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
            "audience": None,
            "scope": None,
            "strategy": conn[2] if conn else None,
            "strategy_type": conn[3] if conn else None,
            "isMobile": False,
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

    def stream(self) -> Iterator[dict[str, Any]]:
        """The events in log_id order, each built as it is taken (and its row dropped)."""
        rows = self.rows
        for i in range(len(rows)):
            row, rows[i] = rows[i], None
            yield self.materialize(i + 1, row)
        rows.clear()

    # -- legitimate traffic ----------------------------------------------------
    def background(self, n: int) -> None:
        uids = list(self.users)
        human = [c for c in self.clients if c[2] != "m2m"]
        admins = [u for u in uids if self.users[u]["app_metadata"].get("roles")]
        kinds: list[tuple[float, Callable[[datetime, str], None]]] = [
            (
                0.42,
                lambda at, u: self.event(
                    at, "s", "Successful login", uid=u, **self.at_home(u), client=self.pick(human)
                ),
            ),
            (
                0.22,
                lambda at, u: self.event(
                    at,
                    "ssa",
                    "Successful silent authentication",
                    uid=u,
                    **self.at_home(u),
                    client=self.pick(human),
                ),
            ),
            (
                0.05,
                lambda at, u: self.event(
                    at,
                    "fp",
                    "Wrong email or password.",
                    uid=u,
                    **self.at_home(u),
                    details={"error": {"message": "Wrong email or password."}},
                ),
            ),
            (
                0.01,
                lambda at, u: self.event(
                    at,
                    "fu",
                    "Wrong email or password.",
                    user_name=self.users[u]["email"].replace("@", "@@"),
                    **self.at_home(u),
                ),
            ),
            (
                0.10,
                lambda at, u: self.event(
                    at,
                    "slo",
                    "User successfully logged out",
                    uid=u,
                    **self.at_home(u),
                    client=self.pick(human),
                ),
            ),
            (
                0.01,
                lambda at, u: self.event(at, "ss", "Successful signup", uid=u, **self.at_home(u)),
            ),
            (
                0.12,
                lambda at, u: self.event(
                    at,
                    "seccft",
                    "Client Credentials for Access Token",
                    ip=self.home[uids[0]][0][0],
                    client=self.clients[5],
                    connection=False,
                    user_name=None,
                    agent="node.js 20.11.0 / Other 0.0.0",
                ),
            ),
            (
                0.07,
                lambda at, u: self.event(
                    at, "sv", "Success Verification Email", uid=u, **self.at_home(u)
                ),
            ),
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

    # -- attacks ---------------------------------------------------------------
    def wrong_password(self, at: datetime, uid: str, ip: str, city: tuple[Any, ...]) -> None:
        """An attacker's failed login on a real account (``fp``), from a scripted client."""
        self.event(
            at,
            "fp",
            "Wrong email or password.",
            uid=uid,
            ip=ip,
            city=city,
            agent=self.pick(BOT_AGENTS),
        )

    def attackers(self, k: int) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            (self.ip(ATTACK_FIRST_OCTETS), ATTACK_CITIES[i % len(ATTACK_CITIES)]) for i in range(k)
        ]

    def compromise(self, uid: str, ip: str, city: tuple[Any, ...], at: datetime) -> list[str]:
        """The attacker logs in and reaches a few applications; returns their names."""
        apps = self.rng.sample(
            [c for c in self.clients if c[2] != "m2m" and c[1] != "Admin Dashboard"],
            self.rng.randint(1, 3),
        )
        for n, client in enumerate(apps):
            self.event(
                at + timedelta(seconds=30 * n + 1),
                "s",
                "Successful login",
                uid=uid,
                ip=ip,
                city=city,
                client=client,
                agent=self.pick(BOT_AGENTS),
            )
        return sorted(c[1] for c in apps)

    def attack(self, kind: str) -> dict[str, Any]:
        if kind == "quiet":
            return {"attacker_ips": [], "compromised": {}, "admins": []}
        k = {
            "credential-stuffing": 4,
            "password-spray": 3,
            "breached-password": 2,
            "compromised-admin": 1,
        }[kind]
        ips = self.attackers(k)
        per_ip = max(40, self.size // (25 * k))
        uids = [u for u in self.users if not self.users[u]["app_metadata"].get("roles")]
        compromised: dict[str, list[str]] = {}
        admins: list[str] = []
        n_comp = {
            "credential-stuffing": 3,
            "password-spray": 2,
            "breached-password": 2,
            "compromised-admin": 0,
        }[kind]
        victims = self.rng.sample(uids, n_comp)
        if kind == "credential-stuffing":
            # one victim chose a hostile username at signup: it reaches every report
            self.users[victims[0]]["email"] = "{{ 7*7 }}|<b>x</b>@example.com"
        for n, (ip, city) in enumerate(ips):
            for j in range(per_ip):
                at = self.when(6, 2)
                hostile = HOSTILE[j % len(HOSTILE)] if j % 9 == 0 else None
                if kind == "credential-stuffing":
                    if j % 3 == 0:
                        u = self.rng.choice(uids)
                        self.wrong_password(at, u, ip, city)
                    else:
                        name = (
                            hostile
                            or f"{self.rng.choice(FIRST)}{self.rng.randint(1, 99999)}@mail.example"
                        )
                        self.event(
                            at,
                            "fu",
                            "Wrong email or password.",
                            user_name=name,
                            ip=ip,
                            city=city,
                            agent=hostile if hostile and j % 2 else self.pick(BOT_AGENTS),
                        )
                    if j % 50 == 7:
                        self.event(
                            at,
                            "f",
                            "missing username parameter",
                            ip=ip,
                            city=city,
                            agent=self.pick(BOT_AGENTS),
                        )
                elif kind == "password-spray":
                    u = self.rng.choice(uids)
                    self.wrong_password(at, u, ip, city)
                elif kind == "breached-password":
                    u = self.rng.choice(uids)
                    if j % 2:
                        self.event(
                            at,
                            "pwd_leak",
                            "Breached password",
                            uid=u,
                            ip=ip,
                            city=city,
                            details={"breach": "combo-list-2026", "hostile": hostile}
                            if hostile
                            else {"breach": "combo-list-2026"},
                        )
                    else:
                        self.wrong_password(at, u, ip, city)
                elif kind == "compromised-admin":
                    name = hostile or f"admin{self.rng.randint(1, 999)}@example.com"
                    self.event(
                        at,
                        "fu",
                        "Wrong email or password.",
                        user_name=name,
                        ip=ip,
                        city=city,
                        agent=self.pick(BOT_AGENTS),
                    )
            if kind in ("credential-stuffing", "password-spray") and n == 0:
                target = uids[0]
                self.event(
                    self.when(3, 2.5),
                    "limit_wc",
                    "An IP was blocked for 10 failed login attempts into a single account.",
                    uid=target,
                    ip=ip,
                    city=city,
                )
                self.blocks[target] = [
                    {
                        "identifier": self.users[target]["email"],
                        "ip": ip,
                        "connection": CONNECTIONS[0][0],
                    }
                ]
        for n, uid in enumerate(victims):
            ip, city = ips[n % len(ips)]
            compromised[uid] = self.compromise(uid, ip, city, self.when(2, 1))
        if kind == "compromised-admin":
            admin = self.add_user(len(self.users), admin=True)
            admins.append(admin)
            ip, city = ips[0]
            for _ in range(25):
                self.wrong_password(self.when(5, 3), admin, ip, city)
            at = self.when(2.5, 2)
            self.event(
                at,
                "s",
                "Successful login",
                uid=admin,
                ip=ip,
                city=city,
                client=self.clients[4],
                agent=self.pick(BOT_AGENTS),
            )
            compromised[admin] = [self.clients[4][1]]
            for n in range(8):
                self.sapi(at + timedelta(minutes=2 + n), admin, ip, legit=False)
        return {"attacker_ips": [ip for ip, _ in ips], "compromised": compromised, "admins": admins}

    def finish(self, attack: dict[str, Any]) -> Tenant:
        self.rows.sort(key=lambda r: r[0])
        attacker = set(attack["attacker_ips"])
        compromised = attack["compromised"]
        names: dict[str, str] = {}
        for at, type_, _d, uid, name, ip, *_rest in self.rows:
            if type_ == "s" and uid in self.users:
                user = self.users[uid]
                user["last_login"], user["last_ip"] = iso_ms(at), ip
                user["logins_count"] += 1
                if uid in compromised and ip in attacker:
                    names.setdefault(uid, name)
        truth = {
            "scenario": self.scenario,
            "seed": self.seed,
            "now": iso_ms(self.now),
            "events": len(self.rows),
            "attacker_ips": sorted(attack["attacker_ips"]),
            "compromised_users": sorted(compromised),
            "compromised_user_names": names,
            "accessed_clients": {u: compromised[u] for u in sorted(compromised)},
            "hijacked_admins": sorted(attack["admins"]),
            "legitimate_users": sorted(u for u in self.users if u not in compromised),
        }
        return Tenant(self.stream(), self.users, truth, self.blocks)


def generate(
    scenario: str = "credential-stuffing",
    *,
    seed: int = 1,
    events: int | None = None,
    now: datetime | None = None,
) -> Tenant:
    """A deterministic tenant for ``scenario`` (same seed and now: same tenant)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    size = events or DEFAULT_EVENTS
    gen = _Gen(scenario, seed, size, (now or now_utc()).replace(microsecond=0))
    if scenario != "quiet":
        gen.add_user(len(gen.users), admin=True)  # the legitimate admin, for background sapi calls
    attack = gen.attack(scenario)
    gen.background(size - len(gen.rows))
    return gen.finish(attack)
