"""`scope hook <event>`: Claude Code's hooks turned into Scope state and events.

Claude Code runs one of these per hook (SessionStart, UserPromptSubmit, PreToolUse, PostToolUse, Stop,
Notification) with the hook's JSON on stdin. Codex CLI speaks the same protocol (the same payload
fields, the same PreToolUse deny), plus PermissionRequest; the session's driver (meta.json) says whose
transcript a Stop reads its tokens from. `handle` returns what to print on stdout (a JSON decision,
or nothing); it never raises, so a broken hook can never break the agent it watches.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scope_tui.store import events, ids, sessions
from scope_tui.store.project import Project

# Live statuses a hook may move back to `running` (a prompt taken, a permission granted).
_REVIVABLE = ("pending", "needs_input", "waiting")
_PEEK_CMDS = ("cat", "head", "tail", "less", "more", "sed", "wc", "ls", "file", "stat", "jq")
_GREP_CMDS = ("grep", "rg", "egrep", "fgrep", "ag", "ack", "find", "fd")
_SUMMARY = 200


def classify(tool: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    """The action a tool call is, for deviation detection: spawn, peek, grep, exec, edit or tool."""
    if tool == "Bash":
        cmd = str(tool_input.get("command") or "")
        return {**_classify_shell(cmd), "tool": tool, "command": cmd[:_SUMMARY]}
    if tool in ("Read", "NotebookRead", "LS"):
        return {"kind": "peek", "tool": tool, "path": tool_input.get("file_path") or tool_input.get("path")}
    if tool in ("Grep", "Glob"):
        return {
            "kind": "grep",
            "tool": tool,
            "pattern": tool_input.get("pattern"),
            "path": tool_input.get("path"),
        }
    if tool in ("Edit", "MultiEdit", "Write", "NotebookEdit"):
        return {
            "kind": "edit",
            "tool": tool,
            "path": tool_input.get("file_path") or tool_input.get("notebook_path"),
        }
    if tool == "Task" or tool == "Agent":
        return {"kind": "spawn", "tool": tool, "task": str(tool_input.get("prompt") or "")[:_SUMMARY]}
    return {"kind": "tool", "tool": tool}


def _classify_shell(cmd: str) -> dict[str, Any]:
    """A shell line's first command decides: `scope spawn` a spawn, cat/head a peek, grep/rg a grep, else exec."""
    try:
        words = shlex.split(cmd, comments=True)
    except ValueError:
        words = cmd.split()
    # skip env assignments (FOO=1 cmd) and `cd x &&` prefixes, which say nothing about the action
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("cd", "&&", ";")):
        words = words[2:] if words[0] == "cd" else words[1:]
    if not words:
        return {"kind": "exec"}
    prog = Path(words[0]).name
    rest = words[1:]
    if prog.startswith("python") and rest[:2] == ["-m", "scope_tui"]:
        prog, rest = "scope", rest[2:]
    if prog == "scope" and rest[:1] == ["spawn"]:
        task = next((w for w in rest[1:] if not w.startswith("-")), "")
        return {"kind": "spawn", "task": task[:_SUMMARY]}
    if prog in _PEEK_CMDS and not (prog == "sed" and any(w.startswith("-i") for w in rest)):
        return {"kind": "peek", "path": next((w for w in rest if not w.startswith("-")), None)}
    if prog in _GREP_CMDS:
        return {"kind": "grep", "pattern": next((w for w in rest if not w.startswith("-")), None)}
    return {"kind": "exec"}


def children_running(project: Project, sid: str) -> list[str]:
    """Ids of the live sessions below `sid` (children, grandchildren, ...)."""
    out = []
    for cid in sessions.list_ids(project):
        if cid != sid and ids.is_descendant(cid, sid):
            c = sessions.load_dir(project.session_dir(cid))
            if not c.corrupt and not c.terminal:
                out.append(cid)
    return out


def _revive(d: Path, s: sessions.Session, why: str) -> None:
    if s.status in _REVIVABLE:
        sessions.set_status(d, "running", reason=why)


def _last_text(transcript: str | None) -> str:
    """The last assistant text in a Claude Code transcript (JSONL), for a Stop that does not carry it."""
    if not transcript:
        return ""
    last = ""
    try:
        for msg in _assistant_messages(transcript):
            texts = [
                b.get("text", "")
                for b in msg.get("content") or []
                if isinstance(b, dict) and b.get("type") == "text"
            ]
            if any(t.strip() for t in texts):
                last = "\n".join(texts)
    except OSError:
        return ""
    return last


def _assistant_messages(transcript: str) -> Iterator[dict[str, Any]]:
    """The assistant messages of a Claude Code transcript (JSONL), in order; lines that are not JSON are
    skipped. Raises OSError when the file cannot be read."""
    with open(transcript, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            msg = rec.get("message") if isinstance(rec, dict) else None
            if isinstance(msg, dict) and rec.get("type") == "assistant":
                yield msg


def usage(transcript: str | None) -> dict[str, Any] | None:
    """Tokens the session spent so far, summed over the transcript's assistant messages (once per message id)."""
    if not transcript:
        return None
    seen: dict[str, dict[str, Any]] = {}
    model = None
    try:
        for msg in _assistant_messages(transcript):
            if msg.get("usage"):
                seen[str(msg.get("id") or len(seen))] = msg["usage"]
                model = msg.get("model") or model
    except OSError:
        return None
    if not seen:
        return None
    inp = sum(
        int(u.get("input_tokens") or 0)
        + int(u.get("cache_creation_input_tokens") or 0)
        + int(u.get("cache_read_input_tokens") or 0)
        for u in seen.values()
    )
    out = sum(int(u.get("output_tokens") or 0) for u in seen.values())
    return {"input": inp, "output": out, "model": model}


def _cost(project: Project, used: dict[str, Any]) -> float | None:
    from scope_tui.store import config

    try:
        prices = config.load(project.config_path).get("prices") or {}
    except Exception:
        return None
    model = str(used.get("model") or "")
    price = prices.get(model) or next((v for k, v in prices.items() if k and model.startswith(k)), None)
    if not price:
        return None
    return round((used["input"] * float(price[0]) + used["output"] * float(price[1])) / 1e6, 6)


def is_question(text: str) -> bool:
    """A turn that ends by asking the person something (its last non-empty line ends with '?')."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return bool(lines) and lines[-1].rstrip("*_`)\"' ").endswith("?")


# --- one handler per hook ---------------------------------------------------------------------------------
def _session_start(
    project: Project, d: Path, s: sessions.Session, p: dict[str, Any]
) -> dict[str, Any] | None:
    events.append(
        d,
        "claude_session" if s.meta.get("driver") in (None, "claude") else "cli_session",
        claude_session_id=p.get("session_id"),
        source=p.get("source"),
        model=p.get("model"),
        transcript_path=p.get("transcript_path"),
    )
    if not s.terminal:
        sessions.update_state(d, claude_session=p.get("session_id"))
    return None


def _prompt(project: Project, d: Path, s: sessions.Session, p: dict[str, Any]) -> dict[str, Any] | None:
    text = str(p.get("prompt") or "")
    events.append(d, "prompt", chars=len(text), text=text[:_SUMMARY])
    _revive(d, s, "prompt submitted")
    if not s.terminal:
        sessions.set_phase(d, "orient", "reading the prompt")
    return None


def _pre_tool(project: Project, d: Path, s: sessions.Session, p: dict[str, Any]) -> dict[str, Any] | None:
    tool = str(p.get("tool_name") or "")
    raw = p.get("tool_input")
    tin: dict[str, Any] = raw if isinstance(raw, dict) else {}
    action = classify(tool, tin)
    from scope_tui.gepa.online import before_action

    # checked against the events before this call is recorded, so the call never precedes itself
    reason = before_action(project, d, action)
    fields = {k: v for k, v in action.items() if k != "kind" and v is not None}
    if reason:
        events.append(d, "tool_call", kind=action["kind"], blocked=True, reason=str(reason)[:500], **fields)
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": str(reason),
            }
        }
    # one event a call: the detector reads its `kind` (peek, grep, exec, spawn) from it
    events.append(d, "tool_call", kind=action["kind"], tool_use_id=p.get("tool_use_id"), **fields)
    _revive(d, s, "tool call")
    if not s.terminal and s.state.get("phase") != "act":
        sessions.set_phase(d, "act", f"{tool}")
    return None


def _post_tool(project: Project, d: Path, s: sessions.Session, p: dict[str, Any]) -> dict[str, Any] | None:
    resp = p.get("tool_response")
    failed = isinstance(resp, dict) and bool(resp.get("is_error") or resp.get("error"))
    events.append(d, "tool_result", tool=p.get("tool_name"), tool_use_id=p.get("tool_use_id"), ok=not failed)
    _revive(d, s, "permission granted")
    return None


def _usage_of(s: sessions.Session, transcript: str | None) -> dict[str, Any] | None:
    if s.meta.get("driver") == "codex":
        from scope_tui.workers.codex import usage as codex_usage

        return codex_usage(transcript)
    if s.meta.get("driver") == "gemini":
        from scope_tui.workers.gemini import usage as gemini_usage

        return gemini_usage(transcript)
    return usage(transcript)


def _stop(project: Project, d: Path, s: sessions.Session, p: dict[str, Any]) -> dict[str, Any] | None:
    claude = s.meta.get("driver") in (None, "claude")
    text = str(p.get("last_assistant_message") or "") or (
        _last_text(p.get("transcript_path")) if claude else ""
    )
    used = _usage_of(s, p.get("transcript_path"))
    # Claude Code may fire Stop before its transcript holds the turn's last message: give it a moment
    deadline = time.monotonic() + (2.0 if claude else 0.0)
    while text and p.get("transcript_path") and time.monotonic() < deadline:
        if _last_text(p.get("transcript_path")).strip() == text.strip():
            used = usage(p.get("transcript_path"))
            break
        time.sleep(0.05)
    if used and not s.terminal:
        change: dict[str, Any] = {"tokens": {"input": used["input"], "output": used["output"]}}
        cost = _cost(project, used)
        if cost is not None:
            change["cost"] = cost
        sessions.update_state(d, **change)
    running = children_running(project, s.id)
    if running:
        if not p.get("stop_hook_active"):
            events.append(d, "stop_blocked", children=running)
            wait = " ".join(running)
            return {
                "decision": "block",
                "reason": (
                    f"Your child sessions {wait} are still running. Wait for them with "
                    f"`scope wait {wait} --timeout 100`, read their results, then finish the task."
                ),
            }
        sessions.set_status(d, "waiting", reason=f"children running: {' '.join(running)}")
        return None
    if is_question(text):
        events.append(d, "question", text=text[-_SUMMARY:])
        sessions.set_status(
            d, "needs_input", reason=f"asks: {sessions.first_line(text.strip().splitlines()[-1])}"
        )
        return None
    if s.terminal:
        events.append(d, "stop", chars=len(text), note=f"turn ended after the session was {s.status}")
        return None
    sessions.write_result(d, text + ("\n" if text and not text.endswith("\n") else ""))
    events.append(d, "result", chars=len(text), source="claude")
    sessions.set_status(d, "done", exit_code=0)
    return None


def _permission(project: Project, d: Path, s: sessions.Session, p: dict[str, Any]) -> dict[str, Any] | None:
    """Codex asks the person to approve a call: the session needs them (a session never answers it)."""
    raw = p.get("tool_input")
    tin: dict[str, Any] = raw if isinstance(raw, dict) else {}
    what = str(tin.get("command") or p.get("tool_name") or "a tool call")
    events.append(d, "permission_request", tool=p.get("tool_name"), command=what[:_SUMMARY])
    if not s.terminal:
        sessions.set_status(
            d, "needs_input", reason=f"asks to approve: {sessions.first_line(what)} (attach and answer)"
        )
    return None


def _notification(project: Project, d: Path, s: sessions.Session, p: dict[str, Any]) -> dict[str, Any] | None:
    msg = str(p.get("message") or "")
    kind = str(p.get("notification_type") or "")
    events.append(d, "notification", message=msg[:_SUMMARY], notification_type=kind or None)
    if kind in ("auth_success",) or s.terminal:
        return None
    if kind == "idle_prompt" and s.status != "running":
        return None  # idle after a question or while waiting on children: already said
    who = str(s.meta.get("driver") or "claude")
    sessions.set_status(
        d, "needs_input", reason=f"{who}: {msg}" if msg else f"{who} is waiting for the person"
    )
    return None


HANDLERS = {
    "SessionStart": _session_start,
    "UserPromptSubmit": _prompt,
    "PreToolUse": _pre_tool,
    "PostToolUse": _post_tool,
    "Stop": _stop,
    "Notification": _notification,
    "PermissionRequest": _permission,
}


def handle(event: str, payload: dict[str, Any], session_dir: Path) -> dict[str, Any] | None:
    """Apply one hook to the session in `session_dir`; returns the JSON Claude Code should read, or None.

    Never raises: an error is recorded as an `error` event (source hook) and the hook lets claude go on.
    """
    try:
        s = sessions.load_dir(session_dir)
        project = s.project
        if s.corrupt:
            events.append(
                session_dir, "error", error=f"hook {event}: session corrupt: {s.corrupt}", source="hook"
            )
            return None
        gemini = s.meta.get("driver") == "gemini"
        if gemini:  # Gemini CLI's hooks have their own names and shapes: the same handlers, translated
            from scope_tui.workers.gemini import from_claude, to_claude

            event, payload = to_claude(event, payload)
        fn = HANDLERS.get(event)
        if fn is None:
            events.append(session_dir, "hook", hook=event)
            return None
        out = fn(project, session_dir, s, payload)
        return from_claude(event, out) if gemini else out
    except Exception as exc:
        try:
            events.append(
                session_dir, "error", error=f"hook {event}: {type(exc).__name__}: {exc}", source="hook"
            )
        except Exception:
            pass
        return None
