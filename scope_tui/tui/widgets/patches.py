"""The patch panel: the pending skill/agent patch on show, its deviation, reflection and diff."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from scope_tui.store.glyphs import printable
from scope_tui.tui import labels
from scope_tui.tui.index import Patch


def diff_style(line: str, p: labels.Palette) -> str:
    if line.startswith("+") and not line.startswith("+++"):
        return p.success
    if line.startswith("-") and not line.startswith("---"):
        return p.error
    return p.primary if line.startswith("@@") else p.muted


class PatchPanel(RichLog):
    """`show(patch, position, pending, palette)`: one patch waiting for a person's decision, or none."""

    DEFAULT_CSS = """
    PatchPanel {
        width: 1fr;
        background: $surface;
        border: round $panel;
        border-title-color: $accent;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, auto_scroll=False, min_width=20)

    def on_mount(self) -> None:
        self.border_title = "Patches"

    def show(self, patch: Patch | None, position: int, pending: int, p: labels.Palette) -> None:
        self.clear()
        if patch is None:
            self.border_title = "Patches"
            self.write(Text("no patches waiting for a decision", style=p.muted))
            return
        d = patch.data
        self.border_title = f"Patch {patch.id} · {patch.target} · {position + 1} of {pending} pending"
        if patch.target.startswith("skill:"):
            from scope_tui.api import patch_test

            # the candidate against its parent on the minibatch: "v2 3/3 · v1 1/3 · +$0.04"
            self.write(Text(f"test: {patch_test(d)}", style=p.primary))
        dev = d.get("deviation") or {}
        if isinstance(dev, dict) and dev:
            self.write(
                Text(
                    printable(f"deviation: {dev.get('kind', '?')} in {dev.get('session', '?')}"),
                    style=p.warning,
                )
            )
        if d.get("reflection"):
            self.write(Text(printable(str(d["reflection"]).strip()[:400]), style=p.muted))
        for line in str(d.get("diff") or "").splitlines():
            self.write(Text(printable(line), style=diff_style(line, p)))
        self.write(Text("a approve · x reject · e edit then approve · p next", style=p.muted))
