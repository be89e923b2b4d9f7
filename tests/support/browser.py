"""A phone on `scope serve`'s page: Debian's Chromium, headless at 390×844, driven by Playwright for Python.

Playwright launches the system's `chromium` (`executable_path`), never a browser of its own. xterm.js
draws the room on a canvas, so the page has no text to read: the screen is read from the bytes its
WebSocket receives, through pyte (a VT100 emulator) at the size the page asked for, and a tap lands on
the cell where a word is drawn, as a finger would. Used by tests/test_phone.py and screenshots/make.py.

The token URL is never printed: serve's output goes to a file, and an error names the page without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = (390, 844)  # CSS pixels: a phone held upright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(pred: Callable[[], Any], timeout: float, what: str, tick: Callable[[], None]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        tick()


def start_serve(cwd: Path, env: dict[str, str], out: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`scope serve` on a free loopback port, its output in `out`; (the process, the token URL)."""
    port = free_port()
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scope_tui", "serve", "--port", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )

    def printed() -> str | bool:
        m = re.search(r"(http://\S+\?token=\S+)", out.read_text())
        return m.group(1) if m else proc.poll() is not None

    url = wait(printed, 30, "serve to print its URL", lambda: time.sleep(0.05))
    if proc.poll() is not None:
        said = re.sub(r"token=\S+", "token=[token]", out.read_text()[-400:])
        raise AssertionError(f"scope serve exited {proc.returncode}: {said}")

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait(listening, 30, "serve to listen", lambda: time.sleep(0.05))
    return proc, str(url)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Phone:
    """One phone-sized page on the room: `text()` is what it shows, `tap(word)` touches it."""

    def __init__(self, url: str, size: tuple[int, int] = PHONE) -> None:
        import pyte
        from playwright.sync_api import sync_playwright

        assert CHROMIUM, "no chromium on PATH (apt-get install chromium)"
        self._pyte = pyte
        self.screen: Any = None
        self.stream: Any = None
        self._pw = sync_playwright().start()
        try:
            args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
            self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
            ctx = self.browser.new_context(
                viewport={"width": size[0], "height": size[1]},
                # 1: at 2 or 3, headless Chromium's emulation sizes xterm.js's canvas for 1 and draws
                # it scaled, so a screenshot shows only the room's top-left corner
                device_scale_factor=1,
                is_mobile=True,
                has_touch=True,
            )
            self.page = ctx.new_page()
            # the page asks Google for its font; nothing leaves this machine in a test
            self.page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
            self.page.on("websocket", self._websocket)
            try:
                self.page.goto(url, wait_until="domcontentloaded")
            except Exception as exc:
                raise AssertionError(
                    f"the room's page did not open: {str(exc).split('?token=')[0]}"
                ) from None
        except BaseException:
            self.close()
            raise

    def _websocket(self, ws: Any) -> None:
        q = parse_qs(urlsplit(ws.url).query)
        self.screen = self._pyte.Screen(int(q["width"][0]), int(q["height"][0]))
        self.stream = self._pyte.ByteStream(self.screen)
        ws.on("framereceived", self._received)
        ws.on("framesent", self._sent)

    def _received(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            self.stream.feed(payload)

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, str) and payload.startswith('["resize"'):
            size = json.loads(payload)[1]
            self.screen.resize(size["height"], size["width"])

    @property
    def size(self) -> tuple[int, int]:
        """(columns, rows) of the terminal the page shows."""
        return (self.screen.columns, self.screen.lines) if self.screen else (0, 0)

    def text(self) -> str:
        return "\n".join(self.screen.display) if self.screen else ""

    def pause(self) -> None:
        self.page.wait_for_timeout(50)  # lets Playwright deliver the frames that came in meanwhile

    def wait_for(self, pred: Callable[[], Any] | str, timeout: float = 10, what: str = "") -> Any:
        test = (lambda: pred in self.text()) if isinstance(pred, str) else pred
        try:
            return wait(test, timeout, what or repr(pred), self.pause)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the page shows:\n{self.text()}") from None

    def find(self, word: str) -> tuple[int, int] | None:
        """(row, column) of the last place `word` is drawn (the button row is below the panels)."""
        for row in range(len(self.screen.display) - 1, -1, -1):
            col = self.screen.display[row].find(word)
            if col >= 0:
                return row, col
        return None

    def tap(self, word: str) -> None:
        """Touch the middle of `word` where the page draws it."""
        at = self.wait_for(lambda: self.find(word), what=f"{word!r} on the page")
        box = self.page.locator(".xterm-screen").bounding_box()
        assert box, "the terminal is not on the page"
        cols, rows = self.size
        x = box["x"] + (at[1] + len(word) / 2) * box["width"] / cols
        y = box["y"] + (at[0] + 0.5) * box["height"] / rows
        self.page.touchscreen.tap(x, y)

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def shot(self, path: Path) -> None:
        self.page.screenshot(path=str(path))  # the page alone: no address bar, so no token

    def close(self) -> None:
        try:
            if getattr(self, "browser", None):
                self.browser.close()
        finally:
            self._pw.stop()
