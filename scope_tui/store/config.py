"""`.scope/config.toml`: project settings, read with tomllib and written with tomli-w."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from scope_tui.store.atomic import write_text
from scope_tui.store.errors import CorruptFile

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any

DEFAULTS: dict[str, Any] = {
    "driver": "builtin",
    "auto_approve": False,
    "theme": "scope-dark",
    "bell": True,
    "models": {
        "backend": "auto",  # auto: anthropic when a key is set, else offline
        "strategic": "claude-opus-4-6",
        "tactical": "claude-sonnet-4-6",
        "operational": "claude-haiku-4-5",
    },
    # dollars per million tokens: input, output; "provider:name" keys win over a bare name
    "prices": {
        "claude-opus-4-6": [5.0, 25.0],
        "claude-sonnet-4-6": [3.0, 15.0],
        "claude-haiku-4-5": [1.0, 5.0],
        "gpt-5": [1.25, 10.0],
        "gpt-5-mini": [0.25, 2.0],
        "gpt-4.1": [2.0, 8.0],
        "gpt-4.1-mini": [0.4, 1.6],
        "offline": [0.0, 0.0],  # and any model with no entry (a local one) costs 0
    },
    "budgets": {"session": 0.0, "subtree": 0.0},  # 0 means no limit
    "keymap": {},
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def read_raw(path: Path) -> dict[str, Any]:
    import tomllib  # lazily: most `scope spawn` runs never read the config

    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFile(path, f"not valid TOML: {exc}") from None


def load(path: Path) -> dict[str, Any]:
    """The settings in `path` over the defaults, without the trust-gated keys of a project a person has
    not trusted (store/trust.py). Raises CorruptFile for a broken file."""
    return load_trusted(path)[0]


def load_trusted(path: Path) -> tuple[dict[str, Any], list[str]]:
    """`load`, and the dotted names of the gated keys it left out because the project is not trusted."""
    from scope_tui.store import trust

    raw, ignored = trust.apply(os.path.dirname(os.path.dirname(os.path.abspath(path))), read_raw(path))
    return _merge(DEFAULTS, raw), ignored


def update(path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the file (keeping what a person wrote there) and return the file's dict."""
    import tomli_w  # the one non-stdlib import of the store, and only when writing

    data = _merge(read_raw(path), changes)
    write_text(path, tomli_w.dumps(data))
    return data
