"""transcript.jsonl: a built-in session's whole conversation, one message a line, secrets redacted.

The built-in loop appends each message as it joins the conversation (the task, each reply, each turn of
tool results or inbox text); `scope resume` continues a lost session from it. This module is the one
writer. events.jsonl keeps short summaries for people; this keeps what the model was sent, uncut (a
trimmed tool output is trimmed only in the live conversation, never here).
"""

from __future__ import annotations

import os

from scope_tui.store import files, jsontext, keys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from _typeshed import StrPath

TRANSCRIPT = "transcript.jsonl"
_CAP = 64 << 20  # a transcript past this is not read back whole (a resume starts from its task)


def append(session_dir: StrPath, message: dict[str, Any], redact: Callable[[str], str] = keys.redact) -> None:
    """Add one message (`{"role", "content"}`) to the session's transcript, through `redact` first."""
    path = os.path.join(session_dir, TRANSCRIPT)
    line = (redact(jsontext.dumps({"role": message["role"], "content": message["content"]})) + "\n").encode()
    fd = files.open_append(path)
    try:
        files.write_all(fd, line, path)
    finally:
        os.close(fd)


def load(session_dir: StrPath) -> list[dict[str, Any]]:
    """The conversation as the model would be sent it: messages in order, two in a row from one role
    joined (an inbox message recorded after a turn's tool results). A torn or unreadable line is skipped;
    a missing transcript is an empty list."""
    path = os.path.join(session_dir, TRANSCRIPT)
    try:
        raw = files.read_bytes(path, _CAP)
    except Exception:
        return []
    out: list[dict[str, Any]] = []
    for line in raw.splitlines():
        try:
            m = jsontext.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            continue
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        if out and out[-1]["role"] == m["role"]:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": m["role"], "content": blocks})
    return out


def dangling_tool_uses(messages: list[dict[str, Any]]) -> list[str]:
    """The ids of the last assistant turn's tool calls that no tool result answers (the session went while
    they ran)."""
    if not messages or messages[-1]["role"] != "assistant":
        return []
    return [
        str(b.get("id"))
        for b in messages[-1]["content"]
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
