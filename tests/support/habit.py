"""A scripted model with one bad habit, for the Messages-API stub (tests and bench/learning.py).

It plays an RLM that recurses (`rlm_query` over the whole context) before looking at it, and then
answers wrong; it obeys any line of its system prompt that tells it to look at the context before
recursing (OBEYS), and then peeks, reads the access code and answers right. It follows instructions:
it tests that a learning loop closes, not how well any LLM learns.
"""

from __future__ import annotations

import re
from typing import Any

LOOK = re.compile(r"\b(look|peek|inspect|examin)\w*\b.{0,60}\b(before|first)\b", re.I)
RECURSION = re.compile(r"recurs|sub-?calls?|sub-?agents?|rlm_query|spawn", re.I)
OBEYS = f"a system-prompt line matching /{LOOK.pattern}/i that also matches /{RECURSION.pattern}/i"
RECURSE = "```repl\ncode = rlm_query('What is the access code?', context)\nprint(code)\n```"


def obeys(system: str) -> bool:
    return any(LOOK.search(ln) and RECURSION.search(ln) for ln in system.splitlines())


def _text(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, list):
        return "\n".join(_text(y) for y in x)
    if isinstance(x, dict):
        return _text(x.get("text") or x.get("content") or "")
    return ""


def habit_model(body: dict[str, Any]) -> str:
    """The reply to one Messages-API request body."""
    system = _text(body.get("system"))
    if "```repl" not in system:  # a sub-call (llm_query, a child's leaf): no idea
        return "I do not know."
    turns = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
    if obeys(system):
        if turns == 0:
            return "I will look at the context first.\n```repl\nprint(context[:400])\n```"
        m = re.search(r"ACCESS CODE: (\w+)", _text(body["messages"][-1].get("content")))
        return f"FINAL({m.group(1) if m else 'unknown'})"
    if turns == 0:  # the habit: recurse on everything before looking
        return RECURSE
    return "FINAL(unknown)"  # ...and then answer wrong


def log_with_code(code: str, lines: int = 400, seed: int = 0) -> str:
    """A context whose first line holds the access code, then filler."""
    import random

    rnd = random.Random(seed)
    body = [f"log {j}: request {rnd.randint(1, 10**6)} took {rnd.randint(1, 999)}ms" for j in range(lines)]
    return "\n".join([f"ACCESS CODE: {code}", *body]) + "\n"
