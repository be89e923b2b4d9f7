"""A seeded switch that makes one offline worker deviate once, so the demo shows online GEPA's loop.

An offline policy that always follows the rules would never show a deviation, a reflection or a patch.
A session deviates when its meta.json params hold `deviate_once: true`, or when `SCOPE_OFFLINE_DEVIATE`
names its id (the demo sets one of these for one worker). The deviation: its first step spawns a child on
its own whole task before looking at anything (against `child_smaller_than_parent`, and
`peek_before_spawn` where the skill has it). After the detector blocks that spawn with its reflection,
the worker looks first, then spawns its children as the procedure says.
"""

from __future__ import annotations

import os
from typing import Any

from scope_tui.models.offline import tool_policy
from scope_tui.models.offline.tool_policy import Block, children, say, tool


def decide(
    messages: list[dict[str, Any]],
    *,
    system: str = "",
    tools: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> list[Block]:
    """The tool policy's next step, altered once when this session's switch is on."""
    blocks = tool_policy.decide(messages, system=system, tools=tools)
    if not switched_on(meta or {}):
        return blocks
    texts, steps = tool_policy.history(messages)
    alt = adjust(blocks, history=steps, task=tool_policy.effective_task(texts), meta=meta or {})
    return alt if alt is not None else blocks


def switched_on(meta: dict[str, Any]) -> bool:
    params = meta.get("params") or {}
    if isinstance(params, dict) and params.get("deviate_once"):
        return True
    if meta.get("deviate_once"):
        return True
    want = os.environ.get("SCOPE_OFFLINE_DEVIATE", "").strip()
    return bool(want) and want == str(meta.get("id", ""))


def _blocked(step: Any) -> bool:
    return step.name == "spawn" and step.is_error and "DEVIATION" in step.result.upper()


def adjust(blocks: list[Block], *, history: list[Any], task: str, meta: dict[str, Any]) -> list[Block] | None:
    """The altered step, or None to keep the policy's own `blocks`."""
    if not switched_on(meta):
        return None
    kids = children(task)
    if not kids:
        return None
    n = len(history)
    if n == 0:  # the deviation: hand a child the whole task, before any look at the context
        return [
            say("Act: spawn one child on the whole task (no need to look first)."),
            tool("spawn", {"task": task.strip()}, n),
        ]
    blocked = [s for s in history if _blocked(s)]
    started = [s for s in history if s.name == "spawn" and not s.is_error]
    looked = any(s.name in ("bash", "read_file") for s in history)
    if blocked and not started and looked:  # it has looked now: spawn the children as the procedure says
        return [say(f"Act: spawn {len(kids)} child session(s), now that I have looked.")] + [
            tool("spawn", {"task": k}, n, i) for i, k in enumerate(kids)
        ]
    return None
