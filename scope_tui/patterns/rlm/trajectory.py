"""An RLM session's trajectory: `sessions/<id>/trajectory.jsonl`, in the reference logger's format.

alexzhang13/rlm's RLMLogger writes one `{"type": "metadata", ...}` line (root_model, max_depth,
max_iterations, backend, backend_kwargs, environment_type, environment_kwargs, other_backends), then a
`{"type": "iteration", "iteration", "timestamp", "prompt", "response", "code_blocks": [{"code",
"result": {"stdout", "stderr", "locals", "execution_time", "rlm_calls", "final_answer"}}],
"final_answer", "iteration_time"}` line a turn; its visualiser reads those. Scope writes the same lines
(a sub-call that was a child session also carries `child`, its id), so the file is the export too.
`render` is what `scope log ID --rlm` and the room's Trajectory tab show.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from scope_tui.store import files, glyphs

FILE = "trajectory.jsonl"


class Trajectory:
    """The writer, owned by the session's engine: one line a turn, appended as the turn ends."""

    def __init__(self, session_dir: Path) -> None:
        self.path = session_dir / FILE

    def _append(self, entry: dict[str, Any]) -> None:
        # through the store's appender: 0600 like every state file, one write a line, never through a link
        fd = files.open_append(self.path)
        try:
            files.write_all(fd, (json.dumps(entry, default=str) + "\n").encode(), self.path)
        finally:
            os.close(fd)

    def metadata(
        self, *, root_model: str, max_depth: int, max_iterations: int, backend: str, **more: Any
    ) -> None:
        self._append(
            {
                "type": "metadata",
                "timestamp": datetime.now().isoformat(),
                "root_model": root_model,
                "max_depth": max_depth,
                "max_iterations": max_iterations,
                "backend": backend,
                "backend_kwargs": {},
                "environment_type": "local",
                "environment_kwargs": {},
                **more,
            }
        )

    def iteration(
        self,
        n: int,
        prompt: Any,
        response: str,
        code_blocks: list[dict[str, Any]],
        final_answer: str | None,
        seconds: float,
    ) -> None:
        self._append(
            {
                "type": "iteration",
                "iteration": n,
                "timestamp": datetime.now().isoformat(),
                "prompt": [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt,
                "response": response,
                "code_blocks": code_blocks,
                "final_answer": final_answer,
                "iteration_time": round(seconds, 4),
            }
        )


def read(session_dir: Path) -> list[dict[str, Any]]:
    """The trajectory's lines (a torn last line is skipped); [] when the session has none."""
    try:
        text = (session_dir / FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


# a trajectory holds whatever the model and its code printed: an ESC must not reach the person's terminal
printable = glyphs.printable


def _indent(text: str, pad: str = "    ", limit: int = 1200) -> str:
    text = printable(text)
    text = text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit:,} more characters)"
    return "\n".join(pad + ln for ln in text.splitlines()) or pad + "(none)"


def render(entries: list[dict[str, Any]], *, limit: int = 1200) -> str:
    """The trajectory as a person reads it: each iteration's code, output, sub-calls, then the answer."""
    out: list[str] = []
    for e in entries:
        if e.get("type") == "metadata":
            out.append(
                f"RLM run · model {printable(str(e.get('root_model') or '?'))} · depth {e.get('depth', 0)} of at most "
                f"{e.get('max_depth')} · at most {e.get('max_iterations')} iterations"
            )
            continue
        if e.get("type") != "iteration":
            continue
        out.append(f"\n── iteration {e.get('iteration')} ({float(e.get('iteration_time') or 0):.2f}s)")
        blocks = e.get("code_blocks") or []
        if not blocks:
            out.append("  reply:")
            out.append(_indent(str(e.get("response") or ""), limit=limit))
        for i, b in enumerate(blocks, 1):
            r = b.get("result") or {}
            out.append(f"  code [{i}]:")
            out.append(_indent(str(b.get("code") or ""), limit=limit))
            out.append(f"  output [{i}] ({float(r.get('execution_time') or 0):.2f}s):")
            text = str(r.get("stdout") or "") + ("\n" + str(r["stderr"]) if r.get("stderr") else "")
            out.append(_indent(text.strip(), limit=limit))
            for c in r.get("rlm_calls") or []:
                who = f"child {c['child']}" if c.get("child") else "llm_query"
                out.append(f"  sub-call → {printable(str(who))}: {str(c.get('prompt') or '')[:100]!r}")
                out.append(_indent(str(c.get("response") or ""), pad="      ", limit=min(limit, 400)))
        if e.get("final_answer") is not None:
            out.append("  FINAL ANSWER:")
            out.append(_indent(str(e["final_answer"]), limit=limit))
    return (
        "\n".join(out).lstrip("\n") + "\n" if out else "(no trajectory: not an RLM session, or not started)\n"
    )
