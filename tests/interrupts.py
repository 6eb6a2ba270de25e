"""An interruption at a chosen point of soar's code, as a cancelled thread receives one.

Temporal cancels an activity running on a thread by raising ``CancelledError``
in that thread asynchronously: it lands between any two bytecodes. A trace
function (``sys.settrace``) reproduces that at one exact point, without
changing soar's code: when ``function`` of ``module`` reaches ``event``
(``call`` or ``return``), ``then()`` runs there (it raises, or cancels).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def interrupted(module: str, function: str, event: str, then: Callable[[], None]) -> Iterator[None]:
    """Within the block, the first time ``module.function`` reaches ``event``, ``then()``."""
    fired = False

    def trace(frame: types.FrameType, kind: str, arg: Any) -> Any:
        nonlocal fired
        code = frame.f_code
        if fired or code.co_name != function or not code.co_filename.endswith(module):
            return None  # no line tracing elsewhere: only each new frame is looked at
        if kind == event:
            fired = True
            then()
        return trace

    sys.settrace(trace)
    try:
        yield
    finally:
        sys.settrace(None)
