"""The emulated tenant's fixed vocabulary: applications, places, agents, names, hostile strings.

Kept apart from the generators so a reader sees at a glance what a scenario
can produce. ``HOSTILE`` holds the attacker-controlled strings planted on
purpose in some events (template syntax, query injection, ANSI escapes,
CR/LF, Markdown/HTML, a 10,000-character string).
"""

from __future__ import annotations

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
