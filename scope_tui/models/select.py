"""Which model a session talks to: `model_for(project, meta, level)`.

Backend (config models.backend): `auto` is anthropic when ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN is set,
else offline; `anthropic` / `offline` force one. A session's own `model` (spawn --model) wins over the
per-level name in config; `--model offline` always means offline. With a session id in `meta`, the
model is wrapped so every call is recorded and budgeted against that session (models/accounting.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scope_tui.models.base import Model, ModelError
from scope_tui.store import config, events
from scope_tui.store.project import Project

OFFLINE = "offline"


def backend_for(cfg: dict[str, Any], requested: str | None) -> str:
    """'anthropic' or 'offline' for a model request under this config and environment."""
    from scope_tui.models.anthropic_model import has_key

    if requested == OFFLINE:
        return OFFLINE
    backend = str(cfg.get("models", {}).get("backend", "auto"))
    if backend == OFFLINE:
        return OFFLINE
    if backend == "anthropic" or has_key():
        return "anthropic"
    return OFFLINE


def name_for(cfg: dict[str, Any], meta: dict[str, Any] | None, level: str | None) -> str:
    """The model name: the session's own, else the config's for its level (operational by default)."""
    meta = meta or {}
    if meta.get("model"):
        return str(meta["model"])
    lvl = level or str(meta.get("level") or "operational")
    models = cfg.get("models", {})
    return str(models.get(lvl) or models.get("operational") or "claude-haiku-4-5")


def model_for(
    project: Project,
    meta: dict[str, Any] | None = None,
    level: str | None = None,
    *,
    session_dir: Path | None = None,
    account: bool = True,
) -> Model:
    """The model for a session (its meta.json dict) at `level` (default: the session's level).

    With `meta["id"]` (or `session_dir`) and `account`, calls are recorded and budgeted for that session.
    Raises ModelError when the anthropic backend is forced without a key.
    """
    from scope_tui.models.accounting import Accounted

    cfg = config.load(project.config_path)
    meta = meta or {}
    if session_dir is None and meta.get("id"):
        session_dir = project.session_dir(str(meta["id"]))
    if session_dir is not None and not session_dir.is_dir():
        session_dir = None
    requested = str(meta["model"]) if meta.get("model") else None
    inner: Model
    if backend_for(cfg, requested) == OFFLINE:
        from scope_tui.models.offline import OfflineModel

        inner = OfflineModel(meta=meta, project=project)
    else:
        from scope_tui.models.anthropic_model import AnthropicModel, has_key

        if not has_key():
            raise ModelError("no API key: set ANTHROPIC_API_KEY or use --model offline")
        mcfg = cfg.get("models", {})
        inner = AnthropicModel(
            name_for(cfg, meta, level),
            base_url=mcfg.get("base_url") or None,
            retry_cap=float(os.environ.get("SCOPE_RETRY_CAP") or mcfg.get("retry_cap") or 8.0),
            max_attempts=int(mcfg.get("max_attempts") or 5),
            on_retry=_retry_event(session_dir) if session_dir is not None else None,
        )
    if account and session_dir is not None:
        return Accounted(inner, project, session_dir, cfg)
    return inner


def _retry_event(d: Path) -> Callable[[int, float, str], None]:
    def on_retry(attempt: int, wait: float, why: str) -> None:
        events.append(d, "retry", attempt=attempt, wait=round(wait, 3), why=why)

    return on_retry
