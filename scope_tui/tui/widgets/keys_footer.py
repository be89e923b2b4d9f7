"""Textual's footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's own rebuilds itself (a dozen widgets, each styled anew) on every focus change, several
    times while the room starts: about a fifth of a second before the first frame."""

    _shown: tuple[tuple[str, str, str, bool, str], ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            shown = tuple(
                (b.key, b.description, b.action, enabled, tooltip)
                for _node, b, enabled, tooltip in screen.active_bindings.values()
                if b.show
            )
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)
