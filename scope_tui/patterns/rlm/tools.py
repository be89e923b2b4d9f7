"""Custom tools for an RLM's REPL: Python callables named in config.toml's `[rlm.tools]`.

`name = "package.module:function"` or `name = "tools/file.py:function"` (a path under the project). A
tool is code the engine runs in its own process (the REPL calls it through its socket, as it calls
llm_query), so it comes only from config, whose trust-gated keys apply once a person trusts the
project (`scope trust`), never from a skill file. `[rlm.sub_tools]` replaces the set for sub-calls
(depth 1 and below); without it children get the same tools, as the reference's custom_sub_tools.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scope_tui.store.errors import UsageError


def load(ref: str, home: Path) -> Callable[..., Any]:
    """The callable `ref` names; raises UsageError saying what is wrong."""
    where, sep, name = str(ref).rpartition(":")
    if not sep or not where or not name:
        raise UsageError(f"[rlm.tools] {ref!r}: expected 'module:function' or 'file.py:function'")
    if where.endswith(".py"):
        path = (home / where).resolve()
        spec = importlib.util.spec_from_file_location(f"scope_rlm_tool_{path.stem}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise UsageError(f"[rlm.tools] {ref!r}: no file {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UsageError(f"[rlm.tools] {ref!r}: {name} is not a function of {where}")
    return fn  # type: ignore[no-any-return]


def tools_of(cfg: dict[str, Any], depth: int, home: Path) -> dict[str, Callable[..., Any]]:
    """The tools of an RLM at `depth` from its config's [rlm] table."""
    table = cfg.get("sub_tools") if depth > 0 and isinstance(cfg.get("sub_tools"), dict) else cfg.get("tools")
    if not isinstance(table, dict):
        return {}
    return {str(k): load(str(v), home) for k, v in table.items()}
