"""The OpenAI-compatible backend: the official `openai` SDK's Chat Completions with tools.

It serves OpenAI itself and any server that speaks the same API (Ollama, vLLM, llama.cpp's server,
LM Studio) through `base_url`. Scope's conversations are Messages-API dicts (models/base.py); this module
translates them to Chat Completions and the reply back, so the built-in agent, the RLM and every other
caller see one `Model`. Retries and the one-line errors are models/retry.py's, shared with Anthropic.

Keys: `OPENAI_API_KEY` by default, or the variable an entry names with `api_key_env`. A local server
needs none: with a `base_url` and no key set, a placeholder is sent (the SDK insists on one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from scope_tui.models.base import Block, Reply
from scope_tui.models.retry import with_retries

KEY_VAR = "OPENAI_API_KEY"
BASE_URL_VAR = "OPENAI_BASE_URL"
_NO_KEY = "unused-local"  # what a keyless local server is sent: the SDK needs a non-empty key

_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use", "length": "max_tokens"}


def has_key(env_var: str | None = None) -> bool:
    return bool(os.environ.get(env_var or KEY_VAR))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) if isinstance(b, dict) else str(b)
            for b in content
            if not isinstance(b, dict) or b.get("type", "text") == "text"
        )
    return "" if content is None else str(content)


def to_chat(messages: list[dict[str, Any]], system: str) -> list[dict[str, Any]]:
    """Messages-API turns as Chat Completions messages (tool_use -> tool_calls, tool_result -> role tool)."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        blocks = content if isinstance(content, list) else []
        if role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": _text_of(blocks) or None}
            calls = [
                {
                    "id": b.get("id"),
                    "type": "function",
                    "function": {"name": b.get("name"), "arguments": json.dumps(b.get("input") or {})},
                }
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
            continue
        texts: list[str] = []
        for b in blocks:  # tool results first, as the API wants them right after the assistant's calls
            if b.get("type") == "tool_result":
                text = _text_of(b.get("content"))
                if b.get("is_error"):
                    text = f"(error) {text}"
                out.append({"role": "tool", "tool_call_id": b.get("tool_use_id"), "content": text})
            elif b.get("type") == "text":
                texts.append(str(b.get("text", "")))
        if texts:
            out.append({"role": "user", "content": "\n\n".join(texts)})
    return out


def to_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
            },
        }
        for t in tools
    ]


def _args(raw: str | None) -> dict[str, Any]:
    """A tool call's arguments; text that is not a JSON object is kept whole for the worker to report."""
    try:
        val = json.loads(raw or "{}")
    except ValueError:
        return {"_unparsed": raw or ""}
    return val if isinstance(val, dict) else {"_unparsed": raw or ""}


def from_chat(
    text: str | None, calls: list[tuple[str, str, str]], finish: str | None
) -> tuple[list[Block], str]:
    """Content blocks and a stop reason from a reply's text and (id, name, arguments) tool calls."""
    content: list[Block] = [{"type": "text", "text": text}] if text else []
    for i, (cid, name, raw) in enumerate(calls):
        content.append({"type": "tool_use", "id": cid or f"call_{i}", "name": name, "input": _args(raw)})
    stop = _STOP.get(finish or "stop", finish or "end_turn")
    if calls:
        stop = "tool_use"
    return content, stop


class OpenAIModel:
    """One model name on a Chat Completions server. `on_retry(attempt, wait, why)` is told before each backoff."""

    provider = "openai"

    def __init__(
        self,
        name: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        stream: bool = False,
        max_attempts: int = 5,
        retry_cap: float = 8.0,
        timeout: float = 600.0,
        on_retry: Callable[[int, float, str], None] | None = None,
    ) -> None:
        import openai

        self.name = name
        self.stream = stream
        self.max_attempts = max(1, max_attempts)
        self.retry_cap = retry_cap
        self.on_retry = on_retry
        self.key_var = api_key_env or KEY_VAR
        key = os.environ.get(self.key_var) or (_NO_KEY if base_url else None)
        kw: dict[str, Any] = {"max_retries": 0, "timeout": timeout, "api_key": key}
        if base_url:
            kw["base_url"] = base_url
        self._client = openai.OpenAI(**kw)

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
        import openai

        kw: dict[str, Any] = {
            "model": self.name,
            "max_tokens": max_tokens,
            "messages": to_chat(messages, system),
        }
        if tools:
            kw["tools"] = to_tools(tools)
        call = self._streamed if self.stream else self._plain
        return with_retries(
            openai,
            lambda: call(kw),
            model=self.name,
            key_hint=self.key_var,
            max_attempts=self.max_attempts,
            retry_cap=self.retry_cap,
            on_retry=self.on_retry,
        )

    def _plain(self, kw: dict[str, Any]) -> Reply:
        r = self._client.chat.completions.create(**kw)
        choice = r.choices[0] if r.choices else None
        msg = choice.message if choice else None
        calls = [
            (c.id, c.function.name, c.function.arguments)
            for c in (msg.tool_calls or [] if msg else [])
            if getattr(c, "function", None) is not None
        ]
        content, stop = from_chat(
            msg.content if msg else None, calls, choice.finish_reason if choice else None
        )
        usage = {
            "input_tokens": (r.usage.prompt_tokens or 0) if r.usage else 0,
            "output_tokens": (r.usage.completion_tokens or 0) if r.usage else 0,
        }
        return Reply(content, stop, usage, r.model or self.name, provider=self.provider)

    def _streamed(self, kw: dict[str, Any]) -> Reply:
        """The same call as a stream (long local generations stay under proxies' idle timeouts)."""
        text: list[str] = []
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        finish: str | None = None
        model = self.name
        usage = {"input_tokens": 0, "output_tokens": 0}
        stream = self._client.chat.completions.create(
            **kw, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            model = chunk.model or model
            if chunk.usage:
                usage = {
                    "input_tokens": chunk.usage.prompt_tokens or 0,
                    "output_tokens": chunk.usage.completion_tokens or 0,
                }
            for ch in chunk.choices or []:
                if ch.delta.content:
                    text.append(ch.delta.content)
                for tc in ch.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, ["", "", ""])
                    slot[0] = tc.id or slot[0]
                    if tc.function is not None:
                        slot[1] = tc.function.name or slot[1]
                        slot[2] += tc.function.arguments or ""
                finish = ch.finish_reason or finish
        ordered = [(c[0], c[1], c[2]) for _, c in sorted(calls.items())]
        content, stop = from_chat("".join(text), ordered, finish)
        return Reply(content, stop, usage, model, provider=self.provider)
