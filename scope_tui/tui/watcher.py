"""The room's watcher of `.scope/`: the one StateWatcher (substrate/statewatch.py), shared with `scope watch`."""

from scope_tui.api import StateWatcher

__all__ = ["StateWatcher"]
