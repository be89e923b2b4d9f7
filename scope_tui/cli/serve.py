"""`scope serve`: the control room in a browser (textual-serve), behind a token, its own Origin and Host.

The room can spawn shell commands, so whoever reaches its WebSocket has a shell. textual-serve 1.1 checks
nothing: any web page may open `ws://127.0.0.1:8000/ws` (browsers send its Origin, and it is not
checked), and `GET /` answers any `Host:` (DNS rebinding). So every request passes one aiohttp
middleware first (textual-serve's `_make_app` is overridden to put it in front of its routes):

- the Host header must be the address serve printed (loopback names for a loopback bind);
- an Origin, when sent, must be that same address; a WebSocket must send one (browsers always do);
- the request must carry the token: `?token=` in the URL serve printed (answered with a cookie and a
  redirect that drops it from the address bar), then that cookie, which the page's own WebSocket sends;
  with a password set, HTTP basic authentication (any user name) sets the same cookie.

Anything else gets 403 (401 asking for the password) and nothing of the app. The page itself is made fit
for a phone (`phone_page`: a viewport, and its font from serve rather than from the internet). Binding anything but
loopback is refused unless a password is set (`--password-file`, or `[serve] password_file`), and so is a
`--public-url` beyond this machine (a tunnel in front: its Host and Origin are then the accepted ones).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from scope_tui.store.errors import UsageError
from scope_tui.store.serving import LOOPBACK_NAMES, configured, is_loopback, public_url


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def read_password(path: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            text = fh.read().strip("\r\n")
    except OSError as exc:
        raise UsageError(f"cannot read the password file {path}: {exc.strerror}") from None
    if not text:
        raise UsageError(f"the password file {path} is empty")
    return text


def public_origin(url: str) -> str:
    """`https://box.tailnet.ts.net` from --public-url: the scheme and host a browser opens, nothing more."""
    from urllib.parse import urlsplit

    u = urlsplit(url.strip())
    try:
        u.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        u = urlsplit("")
    if (
        u.scheme not in ("http", "https")
        or not u.hostname
        or u.path not in ("", "/")
        or u.query
        or u.username
    ):
        raise UsageError(
            f"--public-url {url}: give the address the browser opens, like https://box.tailnet.ts.net "
            "(http or https, a host, no path)"
        )
    return f"{u.scheme}://{u.netloc.lower()}"


def settings(args: argparse.Namespace, cfg: dict[str, Any]) -> tuple[str, int, str | None, str | None]:
    """(host, port, password, public origin) from the command line over `[serve]` in config.toml;
    UsageError when the bind or the public URL would expose the room without a password."""
    from urllib.parse import urlsplit

    host, port, pw_file = configured(cfg)
    host = args.host or host
    port = args.port if args.port is not None else port
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"--port {port}: use a port from 1 to 65535")
    if host in ("0.0.0.0", "::", ""):
        raise UsageError(
            f"--host {host or repr(host)}: give the one address the page is opened at "
            "(serve checks every request's Host against it)"
        )
    pw_file = args.password_file or pw_file
    password = read_password(pw_file) if pw_file else None
    if not is_loopback(host) and password is None:
        raise UsageError(
            f"--host {host} is not loopback: anyone who reaches it gets a shell through the room, so a "
            "password is needed (--password-file FILE, or [serve] password_file in .scope/config.toml)"
        )
    found = args.public_url or public_url(cfg)
    public = public_origin(found) if found else None
    if public and not is_loopback(urlsplit(public).hostname or "") and password is None:
        raise UsageError(
            f"--public-url {public} is beyond this machine: whoever reaches that tunnel gets a shell through "
            "the room, so a password is needed (--password-file FILE, or [serve] password_file)"
        )
    return host, port, password, public


FONT = "/static/fonts/RobotoMono-VariableFont_wght.ttf"  # shipped with textual-serve


def phone_page(html: str) -> str:
    """textual-serve's page, fit for a phone: without a viewport a phone lays it out 980 px wide (a
    100-column room in tiny type), so it gets one (the soft keyboard shrinking the terminal, not covering
    it); and its font comes from serve itself rather than from Google's font service."""
    viewport = '<meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content">'
    font = f'<style>@font-face {{ font-family: "Roboto Mono"; src: url("{FONT}"); }}</style>'
    html = re.sub(r"<link[^>]*fonts\.googleapis\.com[^>]*>", font, html, count=1)
    return html.replace("<head>", "<head>\n    " + viewport, 1)


def make_server(
    command: str, host: str, port: int, token: str, password: str | None, public: str | None = None
) -> Any:
    """A textual-serve Server whose every request passes `guard` first. `public` (an origin such as
    https://box.tailnet.ts.net) is where a tunnel in front shows it: its Host and Origin are accepted
    too, and the page's WebSocket URL is built on it."""
    import base64
    from urllib.parse import urlsplit

    from aiohttp import web
    from textual_serve.server import Server

    cookie = f"scope-serve-{port}"
    hosts = {_hostport(h, port) for h in LOOPBACK_NAMES} if is_loopback(host) else {_hostport(host, port)}
    if public:
        hosts.add(urlsplit(public).netloc)
    secure = bool(public and public.startswith("https:"))  # the cookie goes only over the tunnel's TLS

    def same(given: str, want: str) -> bool:
        from _operator import _compare_digest

        return _compare_digest(given.encode(), want.encode())

    def forbidden() -> web.Response:
        return web.Response(status=403, text="403: forbidden\n")

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Host", "") not in hosts:
            return forbidden()
        origin = request.headers.get("Origin")
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        if (origin is None and is_ws) or (
            origin is not None and origin not in {f"http://{request.host}", f"https://{request.host}", public}
        ):
            return forbidden()
        if same(request.query.get("token", ""), token):
            if is_ws:
                return await handler(request)
            # the printed URL: a cookie for the page and its WebSocket, and the token off the address bar
            rest = {k: v for k, v in request.query.items() if k != "token"}
            resp = web.HTTPFound(request.rel_url.with_query(rest))
            resp.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/", secure=secure)
            return resp
        if same(request.cookies.get(cookie, ""), token):
            return await handler(request)
        if password is not None:
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    _, _, given = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    given = ""
                if same(given, password):
                    resp = await handler(request)
                    if isinstance(resp, web.Response):
                        resp.set_cookie(
                            cookie, token, httponly=True, samesite="Strict", path="/", secure=secure
                        )
                    return resp
            return web.Response(
                status=401, text="401: password needed\n", headers={"WWW-Authenticate": 'Basic realm="Scope"'}
            )
        return forbidden()

    @web.middleware
    async def for_phones(request: web.Request, handler: Any) -> web.StreamResponse:
        resp = await handler(request)
        if request.path == "/" and isinstance(resp, web.Response) and resp.content_type == "text/html":
            resp.text = phone_page(resp.text or "")
        return resp

    class GuardedServer(Server):  # type: ignore[misc]
        def initialize_logging(self) -> None:
            import logging

            super().initialize_logging()

            def hide_token(record: logging.LogRecord) -> bool:  # the access log prints request lines
                record.msg = str(record.msg).replace(token, "[token]")
                if record.args:
                    record.args = tuple(str(a).replace(token, "[token]") for a in record.args)
                return True

            logging.getLogger("aiohttp.access").addFilter(hide_token)

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares[:0] = [guard, for_phones]
            return app

        async def on_startup(self, app: web.Application) -> None:
            pass  # serve prints its own line (with the token); textual-serve's banner would not

    return GuardedServer(command, host=host, port=port, title="Scope", public_url=public)


def cmd_serve(args: argparse.Namespace) -> int:
    import secrets
    import shlex

    from scope_tui.api import person_only
    from scope_tui.store import config
    from scope_tui.store.project import Project

    project = Project.open()
    person_only(project)  # the room it serves takes a person's decisions: never opened from a session
    os.environ["SCOPE_DIR"] = str(project.root)  # each browser's app opens this project, wherever it starts
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        raise UsageError("textual-serve is not installed (pip install textual-serve)") from None
    host, port, password, public = settings(args, config.load(project.config_path))
    token = secrets.token_urlsafe(32)
    cmd = f"{shlex.quote(sys.executable)} -m scope_tui room --serve-mode"
    url = f"{public or 'http://' + _hostport(host, port)}/?token={token}"
    print(f"scope serve: {url}", flush=True)
    print(
        f"  project {project.home}; attach is disabled; only this URL's token"
        + (" or the password" if password else "")
        + " opens it",
        flush=True,
    )
    if public:
        print(f"  listening on {_hostport(host, port)}, behind {public} (your tunnel)", flush=True)
    make_server(cmd, host, port, token, password, public).serve()
    return 0


def register_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p.add_argument(
        "--password-file",
        metavar="FILE",
        help="a file holding the password (needed to bind anything but loopback)",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="where your tunnel (Tailscale, Cloudflare, ssh -L on another port) shows it; "
        "beyond this machine it needs a password",
    )
