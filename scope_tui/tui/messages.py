"""The typed messages of the control room: panels and the watcher post them, the app routes them."""

from __future__ import annotations

from textual.message import Message


class FilesChanged(Message):
    """The watcher saw changes under `.scope/`; coalesced so a burst becomes one refresh."""

    def __init__(self, paths: set[str], resync: bool = False) -> None:
        super().__init__()
        self.paths = paths
        self.resync = resync  # events were lost: read everything again

    def can_replace(self, message: Message) -> bool:
        """Textual drops this (older) message for `message`, the next in the queue, when True: so the next
        one takes this one's paths, or they would be lost."""
        if isinstance(message, FilesChanged):
            message.paths |= self.paths
            message.resync = message.resync or self.resync
            return True
        return False


class SessionHighlighted(Message):
    """The tree's cursor is on session `sid`: the details follow it."""

    def __init__(self, sid: str) -> None:
        super().__init__()
        self.sid = sid


class JumpToSession(Message):
    """A panel (an alert) names session `sid`: move the tree's cursor there."""

    def __init__(self, sid: str) -> None:
        super().__init__()
        self.sid = sid


class PaneOutput(Message):
    """Fresh text of session `sid`'s pane (a capture with colour escapes), for the Pane tab."""

    def __init__(self, sid: str, text: str) -> None:
        super().__init__()
        self.sid = sid
        self.text = text


class Banner(Message):
    """Say `text` in the banner across the top (empty: hide it)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
