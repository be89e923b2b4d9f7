"""Where `scope serve` listens: `[serve]` in config.toml (host, password_file and public_url are trust-gated), read
once for the command (cli/serve.py) and for `scope doctor`."""

from __future__ import annotations

from typing import Any

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def configured(cfg: dict[str, Any]) -> tuple[str, Any, str | None]:
    """(host, port, password file) from `[serve]`, with the defaults for what it does not set."""
    found = cfg.get("serve")
    serve: dict[str, Any] = found if isinstance(found, dict) else {}
    pw = serve.get("password_file")
    return str(serve.get("host") or DEFAULT_HOST), serve.get("port", DEFAULT_PORT), str(pw) if pw else None


def public_url(cfg: dict[str, Any]) -> str | None:
    """`[serve] public_url`: where the person's tunnel shows the room (cli/serve.py checks its form)."""
    found = cfg.get("serve")
    url = found.get("public_url") if isinstance(found, dict) else None
    return str(url) if url else None
