"""Offline answers to plain prompts (no tools, no REPL): count what is asked for, else digest the text."""

from __future__ import annotations

import re
from typing import Any

_COUNT = re.compile(
    r"how many (?:lines|entries|rows)?\s*(?:contain|containing|with|mention|have)\s+['\"`]?([\w.:-]+)", re.I
)
_COUNT2 = re.compile(
    r"count (?:the )?(?:number of )?(?:lines|entries)\s+(?:containing|with|matching)\s+['\"`]?([\w.:-]+)",
    re.I,
)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            _text(b.get("text") or b.get("content") or "") for b in content if isinstance(b, dict)
        )
    return ""


def answer(messages: list[dict[str, Any]], system: str = "") -> str:
    prompt = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "user")
    m = _COUNT.search(prompt) or _COUNT2.search(prompt)
    if m:
        word = m.group(1)
        body = prompt[m.end() :]
        return str(sum(1 for line in body.splitlines() if word in line))
    lines = [ln.strip() for ln in prompt.splitlines() if ln.strip()]
    if not lines:
        return "(offline: nothing to answer)"
    head = lines[:8]
    more = f"\n… ({len(lines) - len(head)} more lines)" if len(lines) > len(head) else ""
    return "Offline digest:\n" + "\n".join(head) + more
