"""The Anthropic backend: the official SDK's Messages API with tool use, and retries we control.

Retries and the one-line errors are models/retry.py's, shared with the OpenAI provider.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from scope_tui.models.base import Block, Reply
from scope_tui.models.retry import with_retries

KEY_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def has_key() -> bool:
    return any(os.environ.get(k) for k in KEY_VARS)


def _plain(block: Any) -> Block:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return {"type": block.type}


class AnthropicModel:
    """One model name on the Messages API. `on_retry(attempt, wait, why)` is told before each backoff."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str | None = None,
        max_attempts: int = 5,
        retry_cap: float = 8.0,
        timeout: float = 600.0,
        on_retry: Callable[[int, float, str], None] | None = None,
    ) -> None:
        import anthropic

        self.name = name
        self.provider = "anthropic"
        self.max_attempts = max(1, max_attempts)
        self.retry_cap = retry_cap
        self.on_retry = on_retry
        kw: dict[str, Any] = {"max_retries": 0, "timeout": timeout}
        if base_url:
            kw["base_url"] = base_url
        if not os.environ.get("ANTHROPIC_API_KEY") and os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            kw["auth_token"] = os.environ["ANTHROPIC_AUTH_TOKEN"]
        self._client = anthropic.Anthropic(**kw)

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        system: str = "",
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 4096,
        level: str | None = None,
        purpose: str | None = None,
    ) -> Reply:
        import anthropic

        kw: dict[str, Any] = {"model": self.name, "max_tokens": max_tokens, "messages": messages}
        if system:
            kw["system"] = system
        if tools:
            kw["tools"] = tools
        msg = with_retries(
            anthropic,
            lambda: self._client.messages.create(**kw),
            model=self.name,
            key_hint="ANTHROPIC_API_KEY",
            max_attempts=self.max_attempts,
            retry_cap=self.retry_cap,
            on_retry=self.on_retry,
        )
        usage = {
            "input_tokens": msg.usage.input_tokens or 0,
            "output_tokens": msg.usage.output_tokens or 0,
        }
        return Reply(
            [_plain(b) for b in msg.content],
            msg.stop_reason or "end_turn",
            usage,
            msg.model or self.name,
            provider="anthropic",
        )
