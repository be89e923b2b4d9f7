"""The control room's modal screens: spawn form, confirm, one-line prompt, patch editor, help, agents."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from scope_tui.store.drivers import installed
from scope_tui.store.glyphs import GLYPHS, printable, words


class SpawnScreen(ModalScreen[dict[str, Any] | None]):
    """A form for a new session; dismisses with the spawn keywords, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]

    def __init__(self, parent: str | None, skills: list[str], driver: str = "builtin") -> None:
        super().__init__()
        self.parent_id = parent
        self.skills = skills
        self.drivers = installed()  # the agent CLIs found on PATH, beside the built-in ones
        self.driver = driver if driver in self.drivers else "builtin"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="form"):
            yield Label("Spawn a session", classes="title")
            yield Label(f"parent: {self.parent_id or '(top level)'}", id="parent", classes="muted")
            yield Label("Task")
            yield Input(placeholder="what should the agent do?", id="task")
            with Horizontal(classes="row"):
                with Vertical():
                    yield Label("Skill")
                    yield Select(
                        [("auto", "auto"), *[(s, s) for s in self.skills]],
                        value="auto",
                        allow_blank=False,
                        id="skill",
                    )
                with Vertical():
                    yield Label("Driver")
                    yield Select(
                        [(d, d) for d in self.drivers], value=self.driver, allow_blank=False, id="driver"
                    )
            yield Label("Command (command driver)")
            yield Input(placeholder="e.g. pytest -q", id="cmd")
            yield Label("Model")
            yield Input(placeholder="default for the level, or 'offline'", id="model")
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Spawn", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        for inp in self.query(Input):
            inp.cursor_blink = not self.app.is_headless
        self.query_one("#task", Input).focus()

    def values(self) -> dict[str, Any]:
        skill = self.query_one("#skill", Select).value
        driver = str(self.query_one("#driver", Select).value)
        cmd = self.query_one("#cmd", Input).value.strip()
        return {
            "task": self.query_one("#task", Input).value.strip(),
            "skill": None if skill in ("auto", Select.BLANK) else str(skill),
            "driver": driver,
            "cmd": cmd or None,
            "model": self.query_one("#model", Input).value.strip() or None,
            "parent": self.parent_id,
        }

    @on(Button.Pressed, "#ok")
    @on(Input.Submitted)
    def submit(self) -> None:
        v = self.values()
        if not v["task"]:
            self.query_one("#error", Label).update("a task is needed")
            self.query_one("#task", Input).focus()
            return
        if v["driver"] == "command" and not v["cmd"]:
            self.query_one("#error", Label).update("the command driver needs a command")
            self.query_one("#cmd", Input).focus()
            return
        self.dismiss(v)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "yes", "Yes", id="confirm.yes"),
        Binding("n,escape", "no", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label(self.question, classes="title")
            if self.detail:
                yield Static(self.detail, classes="muted")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", id="no")

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_no(self) -> None:
        self.dismiss(False)


class PromptScreen(ModalScreen[str | None]):
    """One line of text (a redirect, an answer, a reason); None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, placeholder: str = "") -> None:
        super().__init__()
        self.title_text, self.placeholder = title, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="prompt"):
            yield Label(self.title_text, classes="title")
            yield Input(placeholder=self.placeholder, id="text")
            yield Label("enter to send · escape to cancel", classes="muted")
            with Horizontal(classes="buttons phone-only"):  # a phone's keyboard has no escape
                yield Button("Send", variant="primary", id="send", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = not self.app.is_headless
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value if event.value.strip() else None)

    @on(Button.Pressed, "#send")
    def send(self) -> None:
        value = self.query_one(Input).value
        self.dismiss(value if value.strip() else None)

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditPatchScreen(ModalScreen[str | None]):
    """Edit a patch's new text before approving it; ctrl+s approves, escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Approve edited", id="edit.save"),
        Binding("escape", "cancel", "Cancel", id="edit.cancel"),
    ]

    def __init__(self, patch_id: str, text: str) -> None:
        super().__init__()
        self.patch_id, self.text = patch_id, text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="editor"):
            yield Label(f"Edit patch {self.patch_id}, then ctrl+s to approve", classes="title")
            yield TextArea(self.text, id="text")

    def on_mount(self) -> None:
        ta = self.query_one(TextArea)
        ta.cursor_blink = not self.app.is_headless  # a still cursor for screenshots and snapshots
        ta.focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        t = Text()
        for key, desc in self.keys:
            t.append(f"  {key:>10}  ", style="bold")
            t.append(desc + "\n")
        t.append("\n")
        for status, mark in GLYPHS.items():
            t.append(f"  {mark} {words(status)}")
        t.append("\n  S strategic · T tactical · O operational\n")
        t.append("\n  q leaves every worker running; `scope attach ID` reaches one from any shell.")
        with Vertical(id="dialog", classes="help"):
            yield Label("Scope control room · keys", classes="title")
            yield VerticalScroll(Static(t))

    def action_close(self) -> None:
        self.dismiss(None)


def agent_summary(name: str, project: Any = None) -> Text:
    """An agent as text: identity, stage, experience, own skills, recent heuristics; read-only.

    Uses the agents layer's summary (without pulling patches: the room never writes); broken files
    are named, never raised, and an agent that cannot be read at all is shown with the reason.
    """
    t = Text()
    try:
        from scope_tui import api

        info = api.agent_summary(name, project, pull=False)
    except Exception as exc:  # a missing or unreadable agent is shown, not raised
        t.append(f"agent {name}\n", style="bold")
        t.append(f"({exc})\n", style="italic")
        return t
    t.append(f"@{info['name']}", style="bold")
    t.append(f"  {info['stage']} · {info['status']} · {info['experience']} tasks")
    if info.get("success_rate") is not None and info["experience"]:
        t.append(f" · {100 * float(info['success_rate']):.0f}% success")
    t.append("\n")
    for k, v in (info.get("identity") or {}).items():
        if v and k not in ("name", "status"):
            t.append(f"  {k}: ", style="bold")
            t.append(f"{str(v)[:200]}\n")
    if info.get("next_stage"):
        t.append(f"  next stage: {info['next_stage']}\n", style="italic")
    t.append("skills\n", style="bold")
    for sk in info.get("skills") or []:
        rate = f", {100 * sk['success_rate']:.0f}% success" if sk.get("success_rate") is not None else ""
        t.append(f"  {sk['name']} v{sk['version']} ({sk['status']}, {sk['uses']} uses{rate})\n")
    if not info.get("skills"):
        t.append("  (none of its own yet)\n")
    t.append("recent heuristics\n", style="bold")
    heur = info.get("heuristics") or []
    for h in heur[-8:]:
        txt = h.get("text") or h.get("rule") or json.dumps(h) if isinstance(h, dict) else str(h)
        t.append(f"  · {printable(str(txt))[:200]}\n")
    if not heur:
        t.append("  (none yet)\n")
    fails = info.get("failures") or []
    if fails:
        t.append("failures to avoid\n", style="bold")
        for f in fails[-3:]:
            said = f.get("avoid") or f.get("task") or "" if isinstance(f, dict) else f
            t.append(f"  · {printable(str(said))[:200]}\n")
    for c in info.get("contexts") or []:
        used = ", ".join(sorted(c.get("skills_used") or {})) or "none"
        t.append("this project\n", style="bold")
        done, failed = c.get("done", 0), c.get("failed", 0)
        t.append(
            f"  {c.get('tasks', 0)} tasks ({done} done, {failed} failed); skills used: {printable(used)}\n"
        )
    for prob in info.get("problems") or []:
        t.append(f"  ⚠ {prob}\n", style="bold")
    return t


class AgentsScreen(ModalScreen[None]):
    """Every persistent agent in the agents home, read-only."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="agents.close")]

    def __init__(self, project: Any = None) -> None:
        super().__init__()
        self.project = project

    def compose(self) -> ComposeResult:
        from scope_tui import api

        t = Text()
        names = api.agent_names()
        if not names:
            t.append(f"No agents yet in {api.agents_home()}.\nSpawn with an agent name to create one.\n")
        for n in names:
            t.append_text(agent_summary(n, self.project))
            t.append("\n")
        with Vertical(id="dialog", classes="help"):
            yield Label("Agents", classes="title")
            yield VerticalScroll(Static(t))

    def action_close(self) -> None:
        self.dismiss(None)
