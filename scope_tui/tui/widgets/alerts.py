"""The alerts: deviations and escalations of every session, newest first; enter jumps to the session."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from scope_tui.store.glyphs import printable
from scope_tui.tui import labels
from scope_tui.tui.index import Alert
from scope_tui.tui.messages import JumpToSession

SHOWN = 200


class AlertsPanel(OptionList):
    """`show(alerts, palette)` lists them; choosing one posts `JumpToSession`."""

    DEFAULT_CSS = """
    AlertsPanel {
        width: 45%;
        height: 1fr;
        background: $surface;
        border: round $panel;
        border-title-color: $warning;
    }
    AlertsPanel:focus {
        border: round $warning 60%;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Alerts"

    def show(self, alerts: Sequence[Alert], p: labels.Palette) -> None:
        self.clear_options()
        opts: list[Option] = []
        for a in alerts[:SHOWN]:
            t = Text(no_wrap=True, overflow="ellipsis")
            escalation = a.type == "escalation"
            t.append("▲ " if escalation else "⚠ ", style=p.error if escalation else p.warning)
            t.append(f"{a.sid} ", style="bold")
            t.append(printable(a.text))
            opts.append(Option(t, id=f"{a.sid}#{a.seq}#{len(opts)}"))
        if not opts:
            opts.append(Option(Text("no deviations or escalations", style=p.muted), id="none", disabled=True))
        self.add_options(opts)
        self.border_title = f"Alerts ({len(alerts)})"

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        sid = (event.option.id or "").split("#")[0]
        if sid:
            self.post_message(JumpToSession(sid))
