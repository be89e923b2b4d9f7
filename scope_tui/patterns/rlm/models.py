"""The models the RLM engine talks to: helper A's `scope_tui.models` when present, else a small fallback.

The fallback keeps the engine usable (and testable) on its own: the offline REPL policy, or the
official SDK when a key is set. It records each call as an `llm_call` event itself; A's models do
their own accounting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from scope_tui.store import events
from scope_tui.store.project import Project


class Reply(Protocol):
    text: str


class Model(Protocol):
    def complete(
        self, messages: list[dict[str, Any]], *, system: str = "", max_tokens: int = 4096, **kw: Any
    ) -> Any: ...


@dataclass
class _Text:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class OfflineRepl:
    """The offline RLM policy as a model: deterministic REPL code over the real context."""

    session_dir: Path | None = None
    name: str = "offline"

    def complete(
        self, messages: list[dict[str, Any]], *, system: str = "", max_tokens: int = 4096, **kw: Any
    ) -> Any:
        from scope_tui.models.offline import repl_policy

        if "```repl" in system:
            text = repl_policy.reply(messages, system)
        else:
            text = repl_policy.plain(messages, system)
        if self.session_dir is not None:
            events.append(
                self.session_dir,
                "llm_call",
                model="offline",
                input_tokens=0,
                output_tokens=0,
                cost=0.0,
                purpose=kw.get("purpose"),
            )
        return _Text(text)


@dataclass
class SdkModel:
    """The official SDK, plainly: one Messages call a turn (used only when helper A's models are absent)."""

    model: str
    session_dir: Path | None = None

    def complete(
        self, messages: list[dict[str, Any]], *, system: str = "", max_tokens: int = 4096, **kw: Any
    ) -> Any:
        import anthropic

        client = anthropic.Anthropic(max_retries=2)
        r = client.messages.create(model=self.model, system=system, messages=messages, max_tokens=max_tokens)  # type: ignore[arg-type]
        text = "".join(getattr(b, "text", "") for b in r.content)
        if self.session_dir is not None:
            events.append(
                self.session_dir,
                "llm_call",
                model=self.model,
                input_tokens=r.usage.input_tokens,
                output_tokens=r.usage.output_tokens,
                purpose=kw.get("purpose"),
            )
        return _Text(text, r.usage.input_tokens, r.usage.output_tokens)


def model_for(project: Project, meta: dict[str, Any], level: str, session_dir: Path | None = None) -> Any:
    """A model for `level` ('tactical' drives the REPL, 'operational' answers llm_query)."""
    real: Any
    try:
        from scope_tui.models.select import model_for as real
    except ImportError:
        real = None
    if real is not None:
        try:
            return real(project, meta, level, session_dir=session_dir)
        except ImportError:  # a backend module not there (yet): use the fallback below
            pass
    wanted = str(meta.get("model") or "")
    if wanted == "offline" or not (
        os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    ):
        return OfflineRepl(session_dir)
    from scope_tui.store import config

    models = config.load(project.config_path).get("models", {})
    return SdkModel(wanted or str(models.get(level, "claude-haiku-4-5")), session_dir)


def text_of(reply: Any) -> str:
    t = getattr(reply, "text", None)
    if isinstance(t, str):
        return t
    if isinstance(reply, str):
        return reply
    content = getattr(reply, "content", None) or []
    return "".join(b.get("text", "") if isinstance(b, dict) else getattr(b, "text", "") for b in content)
