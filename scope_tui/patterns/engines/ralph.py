"""Ralph: feed the same prompt again, each time to a fresh child session, until the promise is kept.

Each iteration is a new child (fresh context; the work persists in files), titled "iteration k/N",
and this session's state carries `iteration`. The loop stops when the child's last turn holds
`<promise>TEXT</promise>` with exactly `params.promise` inside (whitespace around it aside); the bare
text without the tag does not count, a last turn that ends in a tool call is not a final turn, and a
child that did not end `done` (failed, cut off at its turn limit) keeps no promise.
At most `params.max_iter` iterations (default 5). A child is a command (`params.cmd`, with
`{iteration}` and `{max_iter}` filled in) or a model worker.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scope_tui.patterns.engines.context import ChildSpec, EngineContext, fill, run_guarded
from scope_tui.store import events, sessions

DEFAULT_PROMISE = "DONE"
DEFAULT_MAX_ITER = 5
_TAG = re.compile(r"<promise>(.*?)</promise>", re.DOTALL)
# Event types a model worker may record for one assistant turn (the last one is the final turn).
_TURN_TYPES = ("assistant", "turn", "assistant_turn", "message")


def kept(text: str, promise: str) -> bool:
    """True when `text` holds `<promise>PROMISE</promise>` with exactly that promise."""
    want = promise.strip()
    return any(m.strip() == want for m in _TAG.findall(text))


def last_turn(s: sessions.Session) -> tuple[str, bool]:
    """The child's last turn as (text, ended_in_tool_call).

    A model worker's final turn comes from its events (the last assistant turn, with its stop reason);
    a command's "turn" is its output tail in result.md.
    """
    turns: list[dict[str, Any]] = [
        e
        for e in events.read_all(s.dir)
        if e.get("type") in _TURN_TYPES and e.get("role", "assistant") == "assistant"
    ]
    if turns:
        t = turns[-1]
        text = str(t.get("text") or t.get("content") or "")
        tool = t.get("stop_reason") == "tool_use" or bool(t.get("tool_calls"))
        return text, tool
    return s.result() or "", False


def _run(ctx: EngineContext) -> int:
    ctx.begin("ralph: the same prompt until the promise is kept")
    task = ctx.task()
    promise = str(ctx.params.get("promise") or DEFAULT_PROMISE)
    max_iter = int(ctx.params.get("max_iter") or DEFAULT_MAX_ITER)
    cmd = ctx.params.get("cmd")
    prompt = (
        f"{task.rstrip()}\n\nYou start with a fresh context: what earlier iterations did is in the files. "
        f"When, and only when, the whole task is complete, end your final message with "
        f"<promise>{promise}</promise>.\n"
    )
    ctx.decide(
        "plan",
        f"up to {max_iter} iterations; stop at <promise>{promise}</promise>",
        promise=promise,
        max_iter=max_iter,
    )
    history: list[str] = []
    for k in range(1, max_iter + 1):
        ctx.note_state(iteration=k, max_iter=max_iter)
        ctx.phase("act", f"iteration {k}/{max_iter}")
        spec = ChildSpec(
            task=prompt,
            key=str(k),
            role="iteration",
            title=f"iteration {k}/{max_iter}",
            cmd=fill(cmd, iteration=k, max_iter=max_iter) if cmd else None,
            extra={"iteration": k},
        )
        (o,) = ctx.run_children([spec], parallel=1)
        ctx.phase("orient", f"did iteration {k} keep the promise?")
        if o.session is None:
            history.append(f"iteration {k}: not started ({o.reason})")
            return ctx.finish(False, "\n".join(history), reason=o.reason)
        text, tool = last_turn(o.session)
        # only a finished child's final turn counts: a failed or cut-off run may echo half a thought
        done = kept(text, promise) and not tool and o.status == "done"
        ctx.event(
            "iteration", iteration=k, child=o.sid, status=o.status, promise_kept=done, ended_in_tool_call=tool
        )
        history.append(f"iteration {k} ({o.sid}, {o.status}): " + ("promise kept" if done else "no promise"))
        if done:
            ctx.decide("stop", f"iteration {k} said <promise>{promise}</promise>", iteration=k, child=o.sid)
            body = _TAG.sub("", text).strip()
            summary = f"Promise kept at iteration {k}/{max_iter}.\n" + "\n".join(history)
            return ctx.finish(True, f"{body}\n\n{summary}" if body else summary)
        ctx.decide(
            "continue" if k < max_iter else "give_up",
            "ended in a tool call" if tool else f"no <promise>{promise}</promise> in the last turn",
            iteration=k,
            child=o.sid,
        )
    return ctx.finish(False, "\n".join(history), reason=f"promise not kept after {max_iter} iterations")


def run(ctx_or_dir: EngineContext | Path | str) -> int:
    """Run the ralph pattern session; returns the process exit code."""
    return run_guarded(_run, ctx_or_dir)
