"""The Anthropic backend: the official SDK's Messages API with tool use, and retries we control.

Retries: 429, 5xx, 529 and connection errors are retried with exponential backoff, honouring the
server's `retry-after` but never waiting longer than `retry_cap` seconds (tests set it low). A bad key
(401/403) fails at once with one line that says what to do; the key itself is never put in a message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from scope_tui.models.base import Block, ModelError, Reply

KEY_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def has_key() -> bool:
    return any(os.environ.get(k) for k in KEY_VARS)


def _plain(block: Any) -> Block:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return {"type": block.type}


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        msg = err.get("message") if isinstance(err, dict) else None
        if msg:
            return str(msg).splitlines()[0][:200]
    return type(exc).__name__


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
        attempt = 0
        while True:
            attempt += 1
            try:
                msg = self._client.messages.create(**kw)
            except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
                raise ModelError(
                    f"the API refused the key ({exc.status_code}: {_server_message(exc)}); "
                    "check ANTHROPIC_API_KEY or use --model offline"
                ) from None
            except anthropic.BadRequestError as exc:
                raise ModelError(f"the API rejected the request (400: {_server_message(exc)})") from None
            except anthropic.NotFoundError as exc:
                raise ModelError(f"model {self.name!r} not found (404: {_server_message(exc)})") from None
            except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
                status = getattr(exc, "status_code", None)
                retryable = status is None or status == 429 or status >= 500
                why = f"{status}: {_server_message(exc)}" if status else f"connection: {type(exc).__name__}"
                if not retryable or attempt >= self.max_attempts:
                    raise ModelError(
                        f"the API failed after {attempt} attempt(s) ({why})", retryable=retryable
                    ) from None
                wait = min(0.5 * 2 ** (attempt - 1), self.retry_cap)
                response = getattr(exc, "response", None)
                ra = response.headers.get("retry-after") if response is not None else None
                if ra is not None:
                    try:
                        wait = min(max(float(ra), 0.0), self.retry_cap)
                    except ValueError:
                        pass
                if self.on_retry:
                    self.on_retry(attempt, wait, why)
                time.sleep(wait)
                continue
            usage = {
                "input_tokens": msg.usage.input_tokens or 0,
                "output_tokens": msg.usage.output_tokens or 0,
            }
            return Reply(
                [_plain(b) for b in msg.content], msg.stop_reason or "end_turn", usage, msg.model or self.name
            )
