"""Every binding of the room as a command in the palette."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


def key_table(bindings: Iterable[Any], keymap: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(key, description, action) of each binding, its key as `keymap` (binding id -> keys) has it."""
    out = []
    for b in bindings:
        assert isinstance(b, Binding)
        out.append((keymap.get(b.id, b.key) if b.id else b.key, b.description, b.action))
    return out


class ScopeCommands(Provider):
    def _commands(self) -> list[tuple[str, str, str]]:
        table = getattr(self.app, "key_table", None)
        return [(desc, action, key) for key, desc, action in table()] if table else []

    async def discover(self) -> Hits:
        for desc, action, key in self._commands():
            yield DiscoveryHit(desc, partial(self.app.run_action, action), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for desc, action, key in self._commands():
            score = matcher.match(desc)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(desc), partial(self.app.run_action, action), help=f"key: {key}"
                )
