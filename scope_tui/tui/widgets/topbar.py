"""The line across the top: the project, what runs, what waits for a person, alerts, patches."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from scope_tui.tui import labels


class TopBar(Static):
    DEFAULT_CSS = """
    TopBar {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    NARROW = 70  # under this many columns (a phone) the parts wrap whole, one line or more (app.tcss)

    _parts: list[tuple[str, str, str]] = []  # (leading space, text, style)
    _narrow: bool | None = None

    def show(
        self, name: str, c: dict[str, int], p: labels.Palette, *, hide_finished: bool, filter_text: str
    ) -> None:
        parts = [("", " ◉ Scope ", f"bold {p.primary}"), ("", f" {name} ", p.muted)]
        parts.append(("  ", f"● {c['running']} running", p.primary if c["running"] else p.muted))
        asking = c["needs_input"]
        parts.append(("   ", f"◆ {asking} needs input", f"bold {p.warning}" if asking else p.muted))
        parts.append(("   ", f"⚠ {c['alerts']} alerts", p.warning if c["alerts"] else p.muted))
        parts.append(("   ", f"✎ {c['patches']} patches pending", p.accent if c["patches"] else p.muted))
        parts.append(("   ", f"{c['sessions']} sessions", p.muted))
        if hide_finished:
            parts.append(("   ", "(finished hidden)", p.muted))
        if filter_text:
            parts.append(("   ", f"filter: {filter_text}", p.accent))
        self._parts = parts
        self._narrow = None
        self._paint()

    def on_resize(self) -> None:
        self._paint()

    def _paint(self) -> None:
        width = self.size.width
        narrow = 0 < width < self.NARROW
        if narrow == self._narrow:
            return
        self._narrow = narrow
        t = Text(no_wrap=True)
        if not narrow:
            for lead, text, style in self._parts:
                t.append(lead + text, style=style)
        else:  # each part whole, as many to a line as fit
            used = 0
            for _lead, text, style in self._parts:
                text = text.strip()
                if used and used + 2 + len(text) > width:
                    t.append("\n")
                    used = 0
                t.append("  " if used else " ")
                t.append(text, style=style)
                used += len(text) + (2 if used else 1)
        self.update(t)


class Banner(Static):
    """What is wrong with the project's tmux server, across the top; hidden when nothing is."""

    DEFAULT_CSS = """
    Banner {
        height: auto;
        background: $error 30%;
        color: $text;
        padding: 0 1;
        text-style: bold;
    }
    Banner.hidden {
        display: none;
    }
    """

    text = ""

    def say(self, text: str) -> None:
        if text == self.text:
            return  # said already: an update would lay the screen out again
        self.text = text
        self.update(text)
        self.set_class(not text, "hidden")
