"""The `Model` protocol every backend speaks, and the `Reply` it returns (content blocks as plain dicts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from scope_tui.store.errors import ScopeError

Block = dict[str, Any]  # {"type": "text", "text": ...} or {"type": "tool_use", "id", "name", "input"}


@dataclass
class Reply:
    """One model turn: content blocks, why it stopped, tokens used, which model (and provider) answered, its cost."""

    content: list[Block]
    stop_reason: str = "end_turn"
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})
    model: str = ""
    cost: float = 0.0
    provider: str = ""  # "anthropic", "openai", "offline": for cost per provider

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    @property
    def tool_uses(self) -> list[Block]:
        return [b for b in self.content if b.get("type") == "tool_use"]


class Model(Protocol):
    """A chat model. `messages` are Messages-API dicts; `tools` are Messages-API tool specs.

    `level` (strategic / tactical / operational) and `purpose` (a short label such as "worker",
    "llm_query", "reflection") are for accounting and for backends that pick a model per level.
    Raises ModelError (and its BudgetExceeded) when no reply can be had.
    """

    name: str

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        system: str = "",
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 4096,
        level: str | None = None,
        purpose: str | None = None,
    ) -> Reply: ...


class ModelError(ScopeError):
    """No reply: `reason` is one line a person can act on (never holds a key). `retryable` for transient errors."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class BudgetExceeded(ModelError):
    """The call was not made: it would pass a session or subtree budget. The session is already escalated."""


def text_reply(text: str, model: str, **usage: int) -> Reply:
    return Reply(
        [{"type": "text", "text": text}], "end_turn", {"input_tokens": 0, "output_tokens": 0, **usage}, model
    )


def json_object(reply: Any) -> dict[str, Any] | None:
    """The JSON object a model's reply holds, from its first `{` to its last `}` (a model may wrap it in
    prose or a code fence); None when there is none."""
    import json

    text = str(getattr(reply, "text", "") or "")
    try:
        data = json.loads(text[text.find("{") : text.rfind("}") + 1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
