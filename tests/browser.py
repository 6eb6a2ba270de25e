"""A real headless Chromium for tests, driven through the DevTools protocol over a pipe.

``chromium --remote-debugging-pipe`` reads protocol messages on fd 3 and writes
them on fd 4 (Chromium's components/devtools/devtools_pipe/devtools_pipe.h:
``kReadFD = 3``, ``kWriteFD = 4``), each a JSON object ended by a NUL byte: no
port, no websocket library, no browser download. Debian's ``chromium`` package provides the
browser (.ci/run installs it); ``find_chromium`` returns None where there is none.

``Browser.open(path)`` loads a file in a fresh tab and records what a page
must never do: console errors, uncaught exceptions, log errors (CSP
violations are logged there), network requests other than the file itself,
and JavaScript dialogs.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT = 30.0


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """One loaded page: its session, and what it did while loading and since."""

    browser: Browser
    session: str
    url: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def evaluate(self, expression: str) -> Any:
        """``expression``'s value, computed by DevTools (the page's CSP does not apply)."""
        reply = self.browser.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, self.session
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression!r} failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, exceptions and logged errors (a CSP violation is one)."""
        out = []
        for e in self.browser.events_of(self.session):
            method, params = e["method"], e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(f"console: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.append(f"log: {params['entry'].get('text')}")
        return out

    def requests(self) -> list[str]:
        """Every URL the page asked for (the file itself included)."""
        return [
            e["params"]["request"]["url"]
            for e in self.browser.events_of(self.session)
            if e["method"] == "Network.requestWillBeSent"
        ]

    def dialogs(self) -> list[str]:
        return [
            e["params"].get("message", "")
            for e in self.browser.events_of(self.session)
            if e["method"] == "Page.javascriptDialogOpening"
        ]

    def screenshot(self, path: Path, width: int = 1280, until: str = "") -> None:
        """The page as a PNG, ``width`` CSS pixels wide: whole, or down to the bottom of
        the element ``until`` (a CSS selector) and a margin."""

        def size(height: int) -> None:
            self.browser.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                self.session,
            )

        size(800)  # laid out at the width of the picture, then measured
        self.browser.call("Emulation.setScrollbarsHidden", {"hidden": True}, self.session)
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        if until:
            bottom = f"document.querySelector({json.dumps(until)}).getBoundingClientRect().bottom"
            height = min(height, int(self.evaluate(bottom)) + 24)
        size(height)
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = self.browser.call(
            "Page.captureScreenshot", {"format": "png", "clip": clip}, self.session
        )
        path.write_bytes(base64.b64decode(shot["data"]))


class Browser:
    """A headless Chromium process; ``close`` ends it."""

    def __init__(self, executable: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="soar-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:  # in the child: the pipe ends at the fds Chromium reads (3, 4)
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            executable,
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "about:blank",
        ]
        if os.geteuid() == 0:  # Chromium refuses to sandbox as root (a CI container)
            args.insert(1, "--no-sandbox")
        self._proc = subprocess.Popen(
            args,
            preexec_fn=fds,  # only two dup2 calls between fork and exec
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._lock:
                    if "id" in msg:
                        self._replies.setdefault(msg["id"], queue.Queue()).put(msg)
                    else:
                        self._events.append(msg)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        with self._lock:
            self._next += 1
            n = self._next
            box = self._replies.setdefault(n, queue.Queue())
        msg: dict[str, Any] = {"id": n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        reply = box.get(timeout=TIMEOUT)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def events_of(self, session: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._events if e.get("sessionId") == session]

    def open(self, path: Path) -> Page:
        """``path`` loaded in a new tab, with everything it does recorded from the start."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", {}, session)
        url = path.resolve().as_uri()
        self.call("Page.navigate", {"url": url}, session)
        page = Page(self, session, url)
        self._wait(session, "Page.loadEventFired")
        return page

    def _wait(self, session: str, method: str) -> None:
        deadline = TIMEOUT
        step = 0.02
        while deadline > 0:
            if any(e["method"] == method for e in self.events_of(session)):
                return
            threading.Event().wait(step)
            deadline -= step
        raise AssertionError(f"no {method} within {TIMEOUT}s")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (AssertionError, OSError, queue.Empty):
            self._proc.kill()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=10)  # it ends at the pipe's end of file
        os.close(self._to_child)
        os.close(self._from_child)
        self._profile.cleanup()
