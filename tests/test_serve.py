"""`scope serve` over a real socket, with aiohttp as the client: only its token, from its own Origin and
Host, opens the page or the WebSocket (which runs the room, and through it a shell)."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

from tests.support.helpers import wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(scope, tmp_path):
    """A running `scope serve` on a free loopback port: (base URL, token, password)."""
    procs = []

    def start(*extra: str) -> tuple[str, str]:
        port = _free_port()
        out = tmp_path / f"serve-{port}.out"
        with open(out, "wb") as fh:
            p = subprocess.Popen(
                [sys.executable, "-m", "scope_tui", "serve", "--port", str(port), *extra],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=scope.environ(),
                cwd=scope.root,
            )
        procs.append(p)
        url = wait_until(
            lambda: re.search(r"https?://\S+\?token=(\S+)", out.read_text()) or p.poll() is not None,
            30,
            what="serve to print its URL",
        )
        assert p.poll() is None, out.read_text()
        base = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, 30, what="serve to listen")
        return base, url.group(1)

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    for out in tmp_path.glob("serve-*.out"):  # the token is printed once, never in the access log
        text = out.read_text()
        token = re.search(r"\?token=(\S+)", text).group(1)
        assert text.count(token) == 1, text


def run(coro):
    return asyncio.run(coro)


def test_a_missing_or_wrong_token_gets_403_and_nothing_of_the_app(served):
    base, token = served()

    async def go():
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/?token=nope", "/static/js/textual.js", "/download/x"):
                async with http.get(base + path, allow_redirects=False) as r:
                    body = await r.text()
                    assert r.status == 403, (path, r.status)
                    assert "websocket" not in body.lower() and "textual" not in body.lower()
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                await http.ws_connect(base + "/ws", headers={"Origin": base})
            assert exc.value.status == 403

    run(go())


async def _first_frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 60) -> bool:
    """True once the room's process sends anything over the WebSocket (its first screen)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=deadline - time.monotonic())
        if msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            return True
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return False
    return False


def test_the_token_url_sets_a_cookie_that_opens_the_page_and_its_websocket(served):
    base, token = served()

    async def go():
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address, as a browser keeps them
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{base}/?token={token}", allow_redirects=False) as r:
                assert r.status == 302 and "token" not in r.headers["Location"]
            async with http.get(base + "/") as r:  # the cookie alone now
                page = await r.text()
                assert r.status == 200 and "/ws" in page
                # fit for a phone: laid out at its own width, its font from serve, nothing from the internet
                assert 'name="viewport" content="width=device-width' in page and "googleapis" not in page
                font = re.search(r'url\("(/static/fonts/[^"]+)"\)', page).group(1)
            async with http.get(base + font) as r:
                assert r.status == 200 and len(await r.read()) > 10_000
            ws = await http.ws_connect(base + "/ws?width=80&height=24", headers={"Origin": base})
            try:
                assert await _first_frame(ws), "the room sent nothing over the WebSocket"
            finally:
                await ws.close()

    run(go())


def test_a_websocket_from_another_origin_is_refused_even_with_the_cookie(served):
    base, token = served()

    async def go():
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{base}/?token={token}") as r:
                assert r.status == 200
            for headers in ({"Origin": "http://evil.example"}, {}):  # a browser always sends one
                with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                    await http.ws_connect(base + "/ws", headers=headers)
                assert exc.value.status == 403

    run(go())


def test_a_wrong_host_header_is_refused(served):
    base, token = served()
    port = base.rsplit(":", 1)[1]

    async def go():
        async with aiohttp.ClientSession() as http:  # DNS rebinding: evil.example resolves to 127.0.0.1
            async with http.get(
                f"{base}/?token={token}", headers={"Host": f"evil.example:{port}"}, allow_redirects=False
            ) as r:
                assert r.status == 403

    run(go())


def test_a_password_opens_it_too_and_a_wrong_one_does_not(served, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret horse\n")
    base, _ = served("--password-file", str(pw))

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.get(
                base + "/", headers={"Authorization": aiohttp.encode_basic_auth("me", "wrong")}
            ) as r:
                assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
            async with http.get(
                base + "/", headers={"Authorization": aiohttp.encode_basic_auth("me", "s3cret horse")}
            ) as r:
                assert r.status == 200 and "/ws" in await r.text()

    run(go())


def test_binding_beyond_loopback_needs_a_password(scope, tmp_path):
    p = scope.run("serve", "--host", "192.0.2.7", "--port", "8765")
    assert p.returncode == 2 and "password" in p.stderr and "not loopback" in p.stderr
    assert "Traceback" not in p.stderr
    p = scope.run("serve", "--host", "0.0.0.0")
    assert p.returncode == 2 and "Host" in p.stderr


def test_behind_a_tunnel_its_public_url_is_the_address_the_page_and_websocket_use(served, tmp_path):
    """Tailscale serve or a Cloudflare tunnel in front: the browser sends the tunnel's Host and Origin."""
    pw = tmp_path / "pw"
    pw.write_text("s3cret horse\n")
    base, token = served("--public-url", "https://box.tail1234.ts.net/", "--password-file", str(pw))
    out = next(tmp_path.glob("serve-*.out")).read_text()
    assert f"scope serve: https://box.tail1234.ts.net/?token={token}" in out
    tunnel = {"Host": "box.tail1234.ts.net", "Origin": "https://box.tail1234.ts.net"}

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/?token={token}", headers=tunnel, allow_redirects=False) as r:
                assert r.status == 302 and "Secure" in r.headers["Set-Cookie"]  # only over the tunnel's TLS
                cookie = r.headers["Set-Cookie"].split(";")[0]
            with_cookie = {**tunnel, "Cookie": cookie}
            async with http.get(base + "/", headers=with_cookie) as r:
                assert r.status == 200 and "wss://box.tail1234.ts.net/ws" in await r.text()
            ws = await http.ws_connect(base + "/ws?width=40&height=40", headers=with_cookie)
            try:
                assert await _first_frame(ws), "the room sent nothing over the tunnel's WebSocket"
            finally:
                await ws.close()
            for bad in ({"Origin": "https://evil.example"}, {"Host": "evil.example"}):
                with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                    await http.ws_connect(base + "/ws", headers={**with_cookie, **bad})
                assert exc.value.status == 403

    run(go())


def test_a_public_url_beyond_this_machine_needs_a_password_and_a_plain_address(scope):
    p = scope.run("serve", "--public-url", "https://box.tail1234.ts.net")
    assert p.returncode == 2 and "password" in p.stderr and "Traceback" not in p.stderr
    p = scope.run("serve", "--public-url", "box.tail1234.ts.net/room")
    assert p.returncode == 2 and "--public-url" in p.stderr and "no path" in p.stderr
