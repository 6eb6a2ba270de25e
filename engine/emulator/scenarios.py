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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.emulator.catalog import (
    ATTACK_CITIES,
    ATTACK_FIRST_OCTETS,
    BOT_AGENTS,
    CONNECTIONS,
    FIRST,
    HOSTILE,
)
from engine.emulator.traffic import TrafficGenerator
from engine.errors import EmulatorError
from engine.timeutil import iso_ms, now_utc

SCENARIOS = (
    "credential-stuffing",
    "password-spray",
    "breached-password",
    "compromised-admin",
    "quiet",
)
DEFAULT_EVENTS = 3000
MAX_EVENTS = 1_000_000  # the size measured to serve within 2 GiB (bench/bench_emulator.py)


@dataclass
class Tenant:
    """What a scenario generates."""

    events: Iterator[dict[str, Any]]  # single use: in log_id order, built as taken
    users: dict[str, dict[str, Any]]
    truth: dict[str, Any]
    user_blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class _Gen(TrafficGenerator):
    """A scenario: legitimate traffic plus its attack, and the ground truth."""

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

    def wrong_username(
        self, at: datetime, name: str, ip: str, city: tuple[Any, ...], agent: str | None = None
    ) -> None:
        """An attacker's failed login with a name that is no account (``fu``)."""
        agent = agent or self.pick(BOT_AGENTS)
        self.event(
            at, "fu", "Wrong email or password.", user_name=name, ip=ip, city=city, agent=agent
        )

    def attackers(self, k: int) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            (self.ip(ATTACK_FIRST_OCTETS), ATTACK_CITIES[i % len(ATTACK_CITIES)]) for i in range(k)
        ]

    def compromise(self, uid: str, ip: str, city: tuple[Any, ...], at: datetime) -> list[str]:
        """The attacker logs in, then reaches one more application through SSO; returns their names.

        Password logins (``s``) to one to three applications, the first one's
        code exchanged for tokens (``seacft``), then silent authentication
        (``ssa``) into an application never logged into with the password:
        Auth0's SSO session needs no password for it.
        """
        eligible = [c for c in self.clients if c[2] != "m2m" and c[1] != "Admin Dashboard"]
        apps = self.rng.sample(eligible, self.rng.randint(1, 3))
        agent = self.pick(BOT_AGENTS)
        for n, client in enumerate(apps):
            self.event(
                at + timedelta(seconds=30 * n + 1),
                "s",
                "Successful login",
                uid=uid,
                ip=ip,
                city=city,
                client=client,
                agent=agent,
            )
        self.event(
            at + timedelta(seconds=2),
            "seacft",
            "",
            uid=uid,
            ip=ip,
            city=city,
            client=apps[0],
            agent=agent,
            details={"code": "*" * 42 + "VM-"},
            connection=False,
        )
        # chosen without the random source, so the rest of the tenant stays as it was
        sso = next(c for c in eligible if c not in apps)
        self.event(
            at + timedelta(minutes=3),
            "ssa",
            "Successful silent authentication",
            uid=uid,
            ip=ip,
            city=city,
            client=sso,
            agent=agent,
        )
        return sorted(c[1] for c in [*apps, sso])

    def switch_address(self, uid: str, n: int, city: tuple[Any, ...], at: datetime) -> str:
        """The attacker refreshes the victim's tokens from a new address that never failed a login."""
        ip = f"2a0d:5600:24:{n + 7}::1f"  # fixed, so no legitimate home address can be it
        self.event(
            at + timedelta(minutes=40),
            "sertft",
            "",
            uid=uid,
            ip=ip,
            city=city,
            client=self.clients[0],
            agent="python-requests/2.31.0",
            details={"familyId": self.hex(16)},
            connection=False,
        )
        return ip

    def attack(self, kind: str) -> dict[str, Any]:
        if kind == "quiet":
            return {"attacker_ips": [], "compromised": {}, "admins": [], "elsewhere": {}}
        k = {
            "credential-stuffing": 4,
            "password-spray": 3,
            "breached-password": 2,
            "compromised-admin": 1,
        }[kind]
        ips = self.attackers(k)
        if kind in ("credential-stuffing", "password-spray"):
            # Auth0 logs an IP as it received it: one attacker's address in a form
            # that is not the canonical text (see engine/ipforms.py)
            # (the first attacker: the first victim falls to it)
            first, city = ips[0]
            ips[0] = (_logged_form(kind, first), city)
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
                # every 9th attempt (j % 9 == 4 falls on the fu branch below) carries
                # one of the hostile strings, in turn, as its user_name and user_agent
                hostile = HOSTILE[(4 * n + j // 9) % len(HOSTILE)] if j % 9 == 4 else None
                if kind == "credential-stuffing":
                    if j % 3 == 0:
                        u = self.rng.choice(uids)
                        self.wrong_password(at, u, ip, city)
                    else:
                        name = (
                            hostile
                            or f"{self.rng.choice(FIRST)}{self.rng.randint(1, 99999)}@mail.example"
                        )
                        agent = hostile if hostile and (j // 9) % 2 else None
                        self.wrong_username(at, name, ip, city, agent)
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
                    self.wrong_username(at, name, ip, city)
                if kind in ("password-spray", "breached-password") and hostile:
                    # attack lists hold junk names too: an unknown, hostile user_name
                    self.wrong_username(at, hostile, ip, city)
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
        elsewhere: dict[str, list[str]] = {}
        for n, uid in enumerate(victims):
            ip, city = ips[n % len(ips)]
            at = self.when(2, 1)
            compromised[uid] = self.compromise(uid, ip, city, at)
            if kind == "credential-stuffing" and n == 0:
                elsewhere[uid] = [self.switch_address(uid, n, city, at)]
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
        return {
            "attacker_ips": [ip for ip, _ in ips],
            "compromised": compromised,
            "admins": admins,
            "elsewhere": elsewhere,
        }

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
            "activity_elsewhere": {u: attack["elsewhere"][u] for u in sorted(attack["elsewhere"])},
            "legitimate_users": sorted(u for u in self.users if u not in compromised),
            # the office NAT: legitimate, shared by many users; an operator protects it
            "office_ips": attack.get("office", []),
        }
        return Tenant(self.stream(), self.users, truth, self.blocks)


# The office's NAT: every legitimate user in the office shares this address, so it
# has logins of many accounts and a few typos, as an attacker's address would, but
# stays below the triage's threshold. An operator protects it (SOAR_PROTECTED_IPS);
# blocking it would lock the whole office out. TEST-NET-2, never a generated address.
OFFICE_NAT = "198.51.100.77"
OFFICE_AGENT = "Chrome 134.0.0 / Windows 10.0.0"


def _office(gen: _Gen, compromised: set[str]) -> list[str]:
    """Legitimate logins (and a few typos) of a dozen users through the office NAT.

    Drawn from a random source of its own, so the rest of the tenant stays as it was.
    """
    rng = random.Random(f"{gen.scenario}:{gen.seed}:office")
    staff = [u for u in gen.users if u not in compromised][:12]
    city = gen.home[staff[0]][0][1] if staff else None
    for n, uid in enumerate(staff):
        at = gen.now - timedelta(seconds=rng.uniform(600, 6 * 3600))
        agent = OFFICE_AGENT
        gen.event(at, "s", "Successful login", uid=uid, ip=OFFICE_NAT, city=city, agent=agent)
        if n % 2 == 0:  # six typos in all: below any threshold an attack reaches
            typo = at - timedelta(seconds=20)
            gen.event(
                typo,
                "fp",
                "Wrong email or password.",
                uid=uid,
                ip=OFFICE_NAT,
                city=city,
                agent=agent,
                details={"error": {"message": "Wrong email or password."}},
            )
    return [OFFICE_NAT] if staff else []


def _logged_form(kind: str, ipv4: str) -> str:
    """An attacker address as a dual-stack edge may log it: not the canonical text.

    Credential stuffing gets an IPv6 address with upper-case hex and a zero
    group written out (Auth0 logged ``…:1f55:0000:e970`` in a real pwd_leak
    event); password spraying an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``).
    Derived from the IPv4 address drawn, so the random stream is unchanged.
    """
    if kind == "password-spray":
        return f"::ffff:{ipv4}"
    a, b, c, d = (int(x) for x in ipv4.split("."))
    return f"2A05:D014:{a:X}:{b:X}:0000:{c:X}:{d:X}:E970"


def generate(
    scenario: str = "credential-stuffing",
    *,
    seed: int = 1,
    events: int | None = None,
    now: datetime | None = None,
) -> Tenant:
    """A deterministic tenant for ``scenario`` (same seed and now: same tenant)."""
    if scenario not in SCENARIOS:
        raise EmulatorError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    if events is not None and not 1 <= events <= MAX_EVENTS:
        raise EmulatorError(f"events must be between 1 and {MAX_EVENTS:,}, not {events:,}")
    size = events or DEFAULT_EVENTS
    gen = _Gen(scenario, seed, size, (now or now_utc()).replace(microsecond=0))
    if scenario != "quiet":
        gen.add_user(len(gen.users), admin=True)  # the legitimate admin, for background sapi calls
    attack = gen.attack(scenario)
    attack["office"] = _office(gen, set(attack["compromised"])) if scenario != "quiet" else []
    gen.background(size - len(gen.rows))
    return gen.finish(attack)
