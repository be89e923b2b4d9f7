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

    def show(
        self, name: str, c: dict[str, int], p: labels.Palette, *, hide_finished: bool, filter_text: str
    ) -> None:
        t = Text(no_wrap=True)
        t.append(" ◉ Scope ", style=f"bold {p.primary}")
        t.append(f" {name} ", style=p.muted)
        t.append(f"  ● {c['running']} running", style=p.primary if c["running"] else p.muted)
        asking = c["needs_input"]
        t.append(f"   ◆ {asking} needs input", style=f"bold {p.warning}" if asking else p.muted)
        t.append(f"   ⚠ {c['alerts']} alerts", style=p.warning if c["alerts"] else p.muted)
        t.append(f"   ✎ {c['patches']} patches pending", style=p.accent if c["patches"] else p.muted)
        t.append(f"   {c['sessions']} sessions", style=p.muted)
        if hide_finished:
            t.append("   (finished hidden)", style=p.muted)
        if filter_text:
            t.append(f"   filter: {filter_text}", style=p.accent)
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
