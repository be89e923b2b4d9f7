"""How a session reads as one tree row: id, task, status glyph, phase, skill, model, agent, age, cost.

Colours come from the current theme's variables (`Palette.from_variables`), never literals.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from scope_tui.store.glyphs import age, glyph, printable, words
from scope_tui.store.sessions import Session, first_line

MIN_TITLE = 28
LEVEL_SHORT = {"strategic": "strat", "tactical": "tact", "operational": "op"}


@dataclass(frozen=True)
class Palette:
    primary: str = "blue"
    secondary: str = "magenta"
    accent: str = "yellow"
    success: str = "green"
    warning: str = "yellow"
    error: str = "red"
    muted: str = "grey50"
    text: str = "default"

    @classmethod
    def from_variables(cls, v: dict[str, str]) -> Palette:
        def get(name: str, default: str) -> str:
            val = v.get(name, default)
            # Rich cannot parse alpha colours ("#rrggbbaa" or "rgba(...)"); keep the opaque part.
            if val.startswith("#") and len(val) == 9:
                val = val[:7]
            return default if "(" in val or " " in val else val

        return cls(
            primary=get("primary", cls.primary),
            secondary=get("secondary", cls.secondary),
            accent=get("accent", cls.accent),
            success=get("success", cls.success),
            warning=get("warning", cls.warning),
            error=get("error", cls.error),
            muted=get("foreground-muted", get("secondary", cls.muted)),
            text=get("foreground", cls.text),
        )

    def status(self, status: str) -> str:
        return {
            "pending": self.muted,
            "running": self.primary,
            "waiting": self.secondary,
            "needs_input": self.warning,
            "done": self.success,
            "failed": self.error,
            "killed": self.muted,
            "escalated": self.warning,
            "corrupt": self.error,
        }.get(status, self.text)


def elapsed(s: Session, now: float) -> float:
    start = float(s.meta.get("created_at") or now)
    end = float(s.state.get("updated_at") or now) if s.terminal else now
    return end - start


def row(s: Session, p: Palette, now: float, width: int = 100) -> Text:
    """The tree label of session `s` at time `now`, fitted to `width` cells by shortening the title."""
    if s.corrupt:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(glyph("corrupt") + " ", style=f"bold {p.error}")
        t.append(f"{s.id} ", style=f"bold {p.text}")
        t.append("corrupt ", style=f"bold {p.error}")
        t.append(printable(s.corrupt), style=p.error)
        return t
    st = s.status
    bits: list[tuple[str, str, int]] = [  # (text, style, priority: higher goes first when room is short)
        (words(st), p.status(st), 9),
        (LEVEL_SHORT.get(s.level, s.level), p.muted, 1),
    ]
    if s.state.get("phase") and not s.terminal:
        bits.append((printable(str(s.state["phase"])), p.secondary, 5))
    if s.state.get("reason") and st in ("failed", "escalated", "killed"):
        bits.append((printable(str(s.state["reason"]))[:24], p.status(st), 8))
    for key, prio in (("skill", 6), ("model", 2), ("agent", 4)):
        val = s.meta.get(key)
        if val:
            txt = ("@" if key == "agent" else "") + printable(str(val)).removeprefix("claude-")
            bits.append((txt, p.accent if key == "skill" else p.muted, prio))
    bits.append((age(elapsed(s, now), live=not s.terminal), p.muted, 7))
    cost = float(s.state.get("cost") or 0)
    if cost:
        bits.append((f"${cost:.2f}", p.muted, 3))
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(glyph(st) + " ", style=f"bold {p.status(st)}")
    head.append(s.id, style=f"bold {p.text}")
    head.append("  ")
    title = printable(first_line(s.title or s.task(), 200))

    def tail_len(bs: list[tuple[str, str, int]]) -> int:
        return sum(len(b[0]) for b in bs) + 3 * (len(bs) - 1)

    # Give the title at least MIN_TITLE cells: drop the least useful facts first.
    while len(bits) > 2 and width - len(head) - tail_len(bits) - 2 < min(MIN_TITLE, len(title)):
        bits.remove(min(bits, key=lambda b: b[2]))
    room = max(8, width - len(head) - tail_len(bits) - 2)
    t = head
    t.append(first_line(title, room), style=p.text if not s.terminal else p.muted)
    t.append("  ")
    for i, (txt, style, _) in enumerate(bits):
        if i:
            t.append(" · ", style=p.muted)
        t.append(txt, style=style)
    return t
