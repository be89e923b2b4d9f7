"""Which settings of a project's `config.toml` apply only once a person trusts the project.

A cloned repository's `.scope/config.toml` is data: any key that names a program, a command, a URL or a
host could make Scope run or reach what the repository's author chose. Those keys are listed once, in
`GATED`; the loader (store/config.py) drops them from an untrusted project's settings and the config
validator reads the same list. `scope trust` records the project outside the repository, as direnv
does: `$XDG_CONFIG_HOME/scope/trusted.json` maps the project's folder to a hash of the gated keys'
values only, so a theme the room writes needs no new trust and a changed `[claude] bin` does.

Later issues add their own keys here (`[notify]`); the drivers' binaries and base URLs and
the models' `[models.<level>] base_url` come from store/drivers.py.
"""

from __future__ import annotations

import os

from scope_tui.store import drivers
from scope_tui.store.atomic import write_text

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any

# Dotted paths into config.toml. A table's name (`hooks`) gates the whole table.
GATED: tuple[str, ...] = (
    "claude.bin",  # the program a Claude Code session runs
    "claude.allow",  # extra permission rules: what Claude Code may run without asking
    "models.base_url",  # where the model calls (and the key) go
    "auto_approve",  # patches become skills with no person's say
    "gepa.run_stored_checks",  # an eval item's stored --check commands run when a patch is tested
    "hooks",  # commands run on events
    "sessions.allow_command_workers",  # a session may start shell commands
    "serve.host",  # where `scope serve` listens
    "serve.password_file",  # who may reach `scope serve` off loopback
    "serve.public_url",  # the address a tunnel shows `scope serve` at (its Host and Origin are let in)
    "rlm.tools",  # Python callables an RLM's engine imports and runs
    "rlm.sub_tools",  # the same, for its sub-calls
    "hosts",  # machines Scope reaches by ssh, and the program it runs there
    "notify.urls",  # where alerts (session titles and reasons) are sent
    "notify.webhook",  # the same, a plain JSON POST
)
# each driver's binary and base URL, each model level's base URL (store/drivers.py keeps the lists)
GATED += tuple(k for k in drivers.trusted_keys() if k not in GATED)


def store_path() -> str:
    """`$XDG_CONFIG_HOME/scope/trusted.json` (default `~/.config/scope/trusted.json`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "scope", "trusted.json")


def _get(raw: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def gated_values(raw: dict[str, Any]) -> dict[str, Any]:
    """The gated keys `raw` (a config.toml's own dict, not merged with defaults) sets, by dotted path."""
    out = {}
    for key in GATED:
        present, value = _get(raw, key)
        if present:
            out[key] = value
    return out


def digest(raw: dict[str, Any]) -> str:
    """A hash of the gated keys' values only: what a person trusted."""
    try:  # CPython's own SHA-256: hashlib would load OpenSSL first
        from _sha256 import sha256
    except ImportError:
        from hashlib import sha256
    import json  # only for a project that sets a gated key

    text = json.dumps(gated_values(raw), sort_keys=True, default=str)
    return sha256(text.encode()).hexdigest()


def project_key(home: str) -> str:
    return os.path.realpath(home)


def _read_store() -> dict[str, Any]:
    import json

    try:
        with open(store_path(), encoding="utf-8") as fh:
            data = json.loads(fh.read())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable or broken: nothing is trusted (fails closed)
    return data if isinstance(data, dict) else {}


def _write_store(data: dict[str, Any]) -> None:
    path = store_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    import json

    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.chmod(path, 0o600)


def is_trusted(home: str, raw: dict[str, Any]) -> bool:
    """True when `raw` sets no gated key, or a person trusted exactly these values for `home`."""
    if not gated_values(raw):
        return True
    entry = _read_store().get(project_key(home))
    return isinstance(entry, dict) and entry.get("hash") == digest(raw)


def apply(home: str, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`raw` as it may apply: without its gated keys when the project is not trusted. Returns it and the
    dotted names of the keys left out (empty when trusted or when none is set)."""
    present = gated_values(raw)
    if not present or is_trusted(home, raw):
        return raw, []
    import copy

    out = copy.deepcopy(raw)
    for key in present:
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node[p]
        del node[last]
    return out, sorted(present)


def trust(home: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Record the project at `home` as trusted with the gated values of `raw`; returns its entry."""
    import time

    data = _read_store()
    entry = {"hash": digest(raw), "keys": sorted(gated_values(raw)), "trusted_at": round(time.time(), 3)}
    data[project_key(home)] = entry
    _write_store(data)
    return entry


def revoke(home: str) -> bool:
    """Forget the project at `home`; True when it was trusted."""
    data = _read_store()
    if data.pop(project_key(home), None) is None:
        return False
    _write_store(data)
    return True


def listed() -> dict[str, Any]:
    """Every trusted project: its folder -> {hash, keys, trusted_at}."""
    return {k: v for k, v in _read_store().items() if isinstance(v, dict)}
