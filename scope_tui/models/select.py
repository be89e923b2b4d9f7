"""Which model a session talks to: `model_for(project, meta, level)`; a provider and a model per level.

Config (`.scope/config.toml`), each level a model name (Anthropic) or a table::

    [models.strategic]
    provider = "anthropic"
    name = "claude-opus-4-6"

    [models.operational]
    provider = "openai"                       # any Chat Completions server
    base_url = "http://localhost:11434/v1"    # trust-gated (a URL a project's config names)
    name = "qwen3:8b"
    api_key_env = "OPENAI_API_KEY"            # optional; a local server needs no key
    stream = false

Levels: strategic, tactical, operational, and `rlm_sub` (an RLM's llm_query sub-calls; operational's
entry when it has none). A session's own `model` (spawn --model) wins: `provider:name` (`openai:gpt-4.1`)
or a bare name on its level's provider; `--model offline` always means offline. `--model openai:NAME`
takes the base_url of the level entry of that provider, if any.

Backend (config models.backend): `auto` uses a level's provider when it can be reached (its key is set,
or an OpenAI-compatible entry names a base_url), else offline; so with no key and no base_url the
offline model is the default. `offline` forces it; any other value (`anthropic`) never falls back to
offline, so a missing key is an error. With a session id in `meta`, the model is wrapped so every call is recorded and
budgeted against that session (models/accounting.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scope_tui.models.base import Model, ModelError
from scope_tui.store import config, events
from scope_tui.store.project import Project

OFFLINE = "offline"
PROVIDERS = ("anthropic", "openai")
LEVELS = ("strategic", "tactical", "operational", "rlm_sub")
DEFAULT_NAME = "claude-haiku-4-5"


@dataclass(frozen=True)
class Spec:
    """A resolved model choice: provider, model name, and the provider's connection settings."""

    provider: str
    name: str
    base_url: str | None = None
    api_key_env: str | None = None
    stream: bool = False

    @property
    def label(self) -> str:
        return self.name if self.provider in ("anthropic", OFFLINE) else f"{self.provider}:{self.name}"


def parse_model(text: str) -> tuple[str | None, str]:
    """`provider:name` -> (provider, name); a bare name -> (None, name). Ollama's `qwen3:8b` stays whole."""
    head, sep, rest = text.partition(":")
    if sep and head in (*PROVIDERS, OFFLINE) and rest:
        return head, rest
    if text == OFFLINE:
        return OFFLINE, OFFLINE
    return None, text


def _entry(models: dict[str, Any], level: str) -> dict[str, Any]:
    raw = models.get(level)
    if raw is None and level == "rlm_sub":
        raw = models.get("operational")
    if isinstance(raw, str):
        return {"provider": "anthropic", "name": raw}
    if isinstance(raw, dict):
        return {"provider": "anthropic", **raw}
    return {}


def _spec(entry: dict[str, Any], name: str | None = None) -> Spec:
    return Spec(
        str(entry.get("provider") or "anthropic"),
        str(name or entry.get("name") or DEFAULT_NAME),
        str(entry["base_url"]) if entry.get("base_url") else None,
        str(entry["api_key_env"]) if entry.get("api_key_env") else None,
        bool(entry.get("stream", False)),
    )


def spec_for(cfg: dict[str, Any], meta: dict[str, Any] | None, level: str | None) -> Spec:
    """The provider and model name for a session (its meta) at `level`, before backend rules apply."""
    meta = meta or {}
    models = cfg.get("models", {}) if isinstance(cfg.get("models"), dict) else {}
    lvl = level or str(meta.get("level") or "operational")
    entry = _entry(models, lvl) or _entry(models, "operational")
    if meta.get("model"):
        provider, name = parse_model(str(meta["model"]))
        if provider == OFFLINE:
            return Spec(OFFLINE, OFFLINE)
        if provider and provider != entry.get("provider"):
            # another provider than the level's: its connection from the first entry of that provider
            entry = next(
                (e for e in (_entry(models, lv) for lv in LEVELS) if e.get("provider") == provider),
                {"provider": provider},
            )
        return _spec(entry, name)
    return _spec(entry)


def name_for(cfg: dict[str, Any], meta: dict[str, Any] | None, level: str | None) -> str:
    """The model name: the session's own, else the config's for its level (operational by default)."""
    return spec_for(cfg, meta, level).name


def reachable(spec: Spec) -> bool:
    """Whether `spec`'s provider can be called here: its key is set, or it names a (local) base_url."""
    if spec.provider == "anthropic":
        from scope_tui.models.anthropic_model import has_key

        return has_key()
    if spec.provider == "openai":
        from scope_tui.models.openai_model import has_key as openai_key

        return openai_key(spec.api_key_env) or bool(spec.base_url)
    return spec.provider == OFFLINE


def backend_for(cfg: dict[str, Any], requested: str | None, level: str | None = None) -> str:
    """The provider ('anthropic', 'openai') or 'offline' a model request uses under this config and env."""
    meta = {"model": requested} if requested else {}
    spec = spec_for(cfg, meta, level)
    if spec.provider == OFFLINE:
        return OFFLINE
    backend = str(cfg.get("models", {}).get("backend", "auto"))
    if backend == OFFLINE:
        return OFFLINE
    if backend == "auto" and not reachable(spec):
        return OFFLINE
    return spec.provider


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
    Raises ModelError when a provider is forced without its key, or the provider is unknown.
    """
    from scope_tui.models.accounting import Accounted

    cfg = config.load(project.config_path)
    meta = meta or {}
    if session_dir is None and meta.get("id"):
        session_dir = project.session_dir(str(meta["id"]))
    if session_dir is not None and not session_dir.is_dir():
        session_dir = None
    requested = str(meta["model"]) if meta.get("model") else None
    backend = backend_for(cfg, requested, level or meta.get("level"))
    spec = spec_for(cfg, meta, level)
    mcfg = cfg.get("models", {})
    retry: dict[str, Any] = {
        "retry_cap": float(os.environ.get("SCOPE_RETRY_CAP") or mcfg.get("retry_cap") or 8.0),
        "max_attempts": int(mcfg.get("max_attempts") or 5),
        "on_retry": _retry_event(session_dir) if session_dir is not None else None,
    }
    inner: Model
    if backend == OFFLINE:
        from scope_tui.models.offline import OfflineModel

        inner = OfflineModel(meta=meta, project=project)
    elif backend == "anthropic":
        from scope_tui.models.anthropic_model import AnthropicModel, has_key

        if not has_key():
            raise ModelError("no API key: set ANTHROPIC_API_KEY or use --model offline")
        inner = AnthropicModel(spec.name, base_url=spec.base_url or mcfg.get("base_url") or None, **retry)
    elif backend == "openai":
        from scope_tui.models.openai_model import KEY_VAR, OpenAIModel
        from scope_tui.models.openai_model import has_key as openai_key

        if not spec.base_url and not openai_key(spec.api_key_env):
            raise ModelError(
                f"no API key: set {spec.api_key_env or KEY_VAR}, give [models.<level>] a base_url, "
                "or use --model offline"
            )
        inner = OpenAIModel(
            spec.name, base_url=spec.base_url, api_key_env=spec.api_key_env, stream=spec.stream, **retry
        )
    else:
        raise ModelError(f"unknown model provider {backend!r} (known: {', '.join(PROVIDERS)}, offline)")
    if account and session_dir is not None:
        return Accounted(inner, project, session_dir, cfg)
    return inner


def _retry_event(d: Path) -> Callable[[int, float, str], None]:
    def on_retry(attempt: int, wait: float, why: str) -> None:
        events.append(d, "retry", attempt=attempt, wait=round(wait, 3), why=why)

    return on_retry
