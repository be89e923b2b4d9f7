"""The row of buttons a phone taps: answer the session that asked, approve, reject or skip the patch.

Shown only in the narrow layout (app.tcss, `Screen.-narrow #phonebar`), where a phone's soft keyboard makes the
room's letter keys awkward; each button runs the same action as its key, so nothing here decides.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

BUTTONS = (  # (label, the app's action: the same as the keys i, a, x and p)
    ("Answer", "answer"),
    ("Approve", "approve"),
    ("Reject", "reject"),
    ("Next", "next_patch"),
)


class PhoneBar(Horizontal):
    DEFAULT_CSS = """
    PhoneBar {
        display: none;
        height: 1;
        background: $panel;
    }
    PhoneBar Button {
        min-width: 0;
        width: 1fr;
        margin: 0 0 0 1;
    }
    PhoneBar #tap-answer {
        background: $warning 40%;
    }
    PhoneBar #tap-approve {
        background: $success 40%;
    }
    PhoneBar #tap-reject {
        background: $error 40%;
    }
    """

    def compose(self) -> ComposeResult:
        for label, action in BUTTONS:  # no tooltips: after a tap the finger "hovers", and one would stay
            yield Button(label, id=f"tap-{action.replace('_', '-')}", action=f"app.{action}", compact=True)
