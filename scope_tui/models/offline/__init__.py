"""The offline model: deterministic, no network, the default when no API key is set. Its name is `offline`.

It answers from policies that follow the procedure in front of it over the real data:
- a system prompt holding the marker "```repl" (the RLM engine) -> `repl_policy.reply(messages, system)`;
- a call with tools (the built-in worker) -> `quirks.decide(...)`, which is `tool_policy.decide(...)` (list,
  read, grep, write, spawn, wait, finish) unless the session is switched to deviate once;
- any other call (llm_query, synthesis, reflection) -> `repl_policy.plain(messages, system)`.
Tokens are estimated (about four characters a token) so that accounting shows the size of the work;
the cost is always zero.
"""

from __future__ import annotations

import json
from typing import Any

from scope_tui.models.base import Reply
from scope_tui.store.project import Project

NAME = "offline"


def _tokens(messages: list[dict[str, Any]], system: str) -> int:
    return (len(json.dumps(messages, default=str)) + len(system)) // 4 + 1


class OfflineModel:
    name = NAME
    provider = NAME

    def __init__(self, meta: dict[str, Any] | None = None, project: Project | None = None) -> None:
        self.meta = meta or {}
        self.project = project

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
        if "```repl" in system:
            content = [{"type": "text", "text": self._repl(messages, system)}]
        elif tools:
            from scope_tui.models.offline import quirks

            content = quirks.decide(messages, system=system, tools=tools, meta=self.meta)
        else:
            content = [{"type": "text", "text": self._plain(messages, system)}]
        stop = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
        out = len(json.dumps(content, default=str)) // 4 + 1
        return Reply(
            content,
            stop,
            {"input_tokens": _tokens(messages, system), "output_tokens": out},
            NAME,
            provider=NAME,
        )

    def _repl(self, messages: list[dict[str, Any]], system: str) -> str:
        from scope_tui.models.offline import repl_policy

        return repl_policy.reply(messages, system)

    def _plain(self, messages: list[dict[str, Any]], system: str) -> str:
        from scope_tui.models.offline import repl_policy

        return repl_policy.plain(messages, system)
