"""Queries compiled from many threads at once come out exactly as compiled one at a time.

luqum's module-level parser shares one PLY lexer: in parallel, compiles were
refused or produced a wrong predicate, and the compile cache then kept it.
"""

from __future__ import annotations

import threading
from typing import Any

from engine.errors import QueryError
from engine.logs.query import compile_query


def _query(i: int) -> str:
    # distinct texts of different shapes and lengths, so a lexer shared between
    # threads shows as a refusal or as a predicate that answers differently
    shapes = [
        'type:"s{i}" AND ip:"10.0.{i}.1"',
        "type: (f{i} fu{i} fp{i}) AND NOT user_name:*adm{i}*",
        'user_id:"auth0|{i}" OR (type:sapi AND description:"Update {i}")',
        "date:[2018-12-{d:02d} TO 2019-01-01T01:{m:02d}:00}} AND type:s{i}",
        "client_name:app{i}* -connection:db{i}",
    ]
    return shapes[i % len(shapes)].format(i=i, d=i % 28 + 1, m=i % 60)


def _probe(i: int) -> list[dict[str, Any]]:
    return [
        {"type": f"s{i}", "ip": f"10.0.{i}.1", "date": "2018-12-31T00:00:00.000Z"},
        {"type": f"fu{i}", "user_name": "bob"},
        {"type": f"fu{i}", "user_name": f"xadm{i}x"},
        {"user_id": f"auth0|{i}"},
        {"type": "sapi", "description": f"Update {i}"},
        {"client_name": f"app{i}-web", "connection": "other"},
        {"client_name": f"app{i}-web", "connection": f"db{i}"},
    ]


def _answers(i: int) -> tuple[Any, ...]:
    q = compile_query(_query(i))
    return (q.hints, tuple(q(e) for e in _probe(i)))


def test_parallel_compiles_equal_serial_ones() -> None:
    n, workers = 3000, 8
    compile_query.cache_clear()
    serial = [_answers(i) for i in range(n)]
    compile_query.cache_clear()
    got: dict[int, Any] = {}
    errors: list[str] = []
    start = threading.Barrier(workers)

    def work(k: int) -> None:
        start.wait()
        for i in range(k, n, workers):
            try:
                got[i] = _answers(i)
            except QueryError as exc:
                errors.append(f"{_query(i)}: {exc}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    wrong = [_query(i) for i in range(n) if got[i] != serial[i]]
    assert wrong == []
    # and what the cache now holds is what a serial compile gives
    assert [_answers(i) for i in range(n)] == serial
    compile_query.cache_clear()
