"""Every binding of the room as a command in the palette."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


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
