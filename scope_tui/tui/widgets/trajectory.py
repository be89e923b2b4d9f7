"""The Trajectory tab: an RLM session's turns (code, output, sub-calls, answer), each child one key away."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import RichLog

from scope_tui.tui.messages import JumpToSession


class TrajectoryLog(RichLog):
    """`show(entries)` renders the trajectory (api.trajectory); keys 1-9 jump to the n-th child session."""

    BINDINGS = [
        Binding(str(n), f"child({n})", f"child {n}", id=f"trajectory.child{n}", show=n == 1)
        for n in range(1, 10)
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, max_lines=5000)
        self.children_ids: list[str] = []

    def show(self, entries: list[dict[str, Any]], text: str) -> None:
        self.clear()
        self.children_ids = list(
            dict.fromkeys(
                str(c["child"])
                for e in entries
                for b in e.get("code_blocks") or []
                for c in (b.get("result") or {}).get("rlm_calls") or []
                if c.get("child")
            )
        )
        if self.children_ids:
            keys = "  ".join(f"[{i}] {sid}" for i, sid in enumerate(self.children_ids[:9], 1))
            self.write(Text(f"children: {keys}", style="bold"))
        self.write(text)

    def action_child(self, n: int) -> None:
        if 0 < n <= len(self.children_ids):
            self.post_message(JumpToSession(self.children_ids[n - 1]))
