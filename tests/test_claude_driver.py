"""The Claude Code driver's delivery of the task, tick by tick, with a fake pane and a fake clock.

The end-to-end tests (test_claude.py) show the happy paths with real Claude Code; these pin down the
retries a loaded machine needs, which a real claude cannot be made to need on cue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scope_tui.store import events, sessions
from scope_tui.store.project import Project
from scope_tui.workers import claude
from scope_tui.workers.claude_settings import DEFAULTS

READY = "\u256d\u2500\u2500\u2500 Claude Code\n\u276f \n  ? for shortcuts"
# the trust question as Claude Code 2.1.197 and 2.1.332 show it (the newer: "No, exit" first and the default)
TRUST = " Quick safety check: Is this a project you created or one you trust?\n \u276f 1. Yes, I trust this folder"
TRUST_NEW = (
    " Accessing workspace:\n Quick safety check: Is this a project you created or one you trust?\n"
    " \u276f No, exit\n   Yes, I trust this folder\n Enter to confirm \u00b7 Esc to cancel"
)
API_KEY = (
    "  Detected a custom API key in your environment\n  Do you want to use this API key?\n"
    "    Yes\n  \u276f No (recommended)\n  Enter to confirm \u00b7 Esc to cancel"
)


@dataclass
class FakeTmux:
    screen: str = ""
    pasted: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def capture(self, pane: str, escapes: bool = True) -> str:
        return self.screen

    def paste(self, pane: str, text: str, enter: bool = True) -> None:
        self.pasted.append(text)
        if enter:
            self.keys.append("Enter")

    def send_keys(self, pane: str, *keys: str) -> None:
        self.keys.extend(keys)


class FakeProc:
    terminated = False

    def poll(self) -> None:
        return None

    def terminate(self) -> None:
        self.terminated = True

    def wait(self, timeout: float | None = None) -> int:
        return -15


@pytest.fixture
def rig(tmp_path, monkeypatch):
    project = Project.create(tmp_path / ".scope")
    s = sessions.create(project, "Fix the flaky test in parser.py", driver="claude")
    sessions.set_status(s.dir, "running")
    clock = [1000.0]
    monkeypatch.setattr(claude.time, "monotonic", lambda: clock[0])
    monkeypatch.setenv("TMUX_PANE", "%9")
    sup = claude.ClaudeRun(s, FakeProc(), dict(DEFAULTS))  # type: ignore[arg-type]
    fake = FakeTmux()
    sup.tmux = fake  # type: ignore[assignment]

    def tick(seconds: float = 0.2, n: int = 1) -> None:
        for _ in range(n):
            clock[0] += seconds
            sup.step()

    return sup, fake, tick, s.dir


def status(d: Path) -> str:
    return sessions.load_dir(d).status


def test_pastes_after_session_start_then_enter_once_the_paste_shows(rig):
    sup, fake, tick, d = rig
    fake.screen = READY
    tick(n=5)
    assert fake.pasted == []  # the prompt alone is not enough while hooks may still come
    events.append(d, "claude_session", claude_session_id="abc")
    tick()
    assert fake.pasted == ["Fix the flaky test in parser.py"] and fake.keys == []
    fake.screen = READY + "\n\u276f Fix the flaky test in parser.py"
    tick()
    assert fake.keys == ["Enter"]
    events.append(d, "prompt", chars=31)
    tick(n=100)
    assert fake.keys == ["Enter"] and sup.delivered and status(d) == "running"


def test_a_lost_enter_is_pressed_once_more_then_the_person_is_asked(rig):
    sup, fake, tick, d = rig
    fake.screen = READY + "\n\u276f Fix the flaky test in parser.py"
    events.append(d, "claude_session", claude_session_id="abc")
    tick(n=2)
    assert fake.keys == ["Enter"]
    tick(1.0, n=9)  # no UserPromptSubmit within deliver_timeout
    assert fake.keys == ["Enter", "Enter"] and fake.pasted == ["Fix the flaky test in parser.py"]
    tick(1.0, n=9)  # retried once: now the person is told
    assert fake.keys == ["Enter", "Enter"]
    st = sessions.load_dir(d).state
    assert st["status"] == "needs_input" and "press Enter" in st["reason"]


def test_a_lost_paste_is_pasted_again(rig):
    sup, fake, tick, d = rig
    fake.screen = READY  # the paste never shows
    events.append(d, "claude_session", claude_session_id="abc")
    tick()
    tick(1.0, n=3)  # Enter anyway after ENTER_AFTER_S
    assert fake.keys == ["Enter"]
    tick(1.0, n=9)
    assert len(fake.pasted) == 2  # pasted once more, not just Enter on an empty box


def test_a_first_use_question_is_needs_input_and_nothing_is_typed(rig):
    sup, fake, tick, d = rig
    fake.screen = TRUST
    tick(1.0, n=5)
    st = sessions.load_dir(d).state
    assert st["status"] == "needs_input" and "first-use" in st["reason"]
    assert fake.pasted == [] and fake.keys == []
    # answered: SessionStart comes and the task goes in; the session runs again
    fake.screen = TRUST + "\n" + READY
    events.append(d, "claude_session", claude_session_id="abc")
    tick()
    assert fake.pasted and status(d) == "running"


def test_each_first_use_question_says_which_choice_to_make(rig):
    sup, fake, tick, d = rig
    fake.screen = TRUST_NEW
    tick(1.0, n=3)
    st = sessions.load_dir(d).state
    assert st["status"] == "needs_input"
    assert f"scope attach {d.name} and choose 'Yes, I trust this folder'" in st["reason"], st
    # trusted: the API key question comes next (the trust text may linger above it); the reason follows
    fake.screen = TRUST_NEW + "\n" + API_KEY
    tick(1.0, n=3)
    st = sessions.load_dir(d).state
    assert st["status"] == "needs_input" and "choose 'Yes' to use ANTHROPIC_API_KEY" in st["reason"], st
    evs = events.EventReader(d / events.EVENTS).read_new()
    asked = [e["screen"] for e in evs if e["type"] == "first_use"]
    assert len(asked) == 2 and "trust" in asked[0] and "API key" in asked[1], asked
    assert fake.pasted == [] and fake.keys == []


def test_a_question_not_known_to_the_driver_is_still_not_typed_into(rig):
    # a choice a newer Claude Code puts up before it takes input: its cursor looks like the prompt mark
    sup, fake, tick, d = rig
    fake.screen = (
        " Pick a colour for your terminal\n \u276f Blue\n   Red\n Enter to confirm \u00b7 Esc to cancel"
    )
    tick(1.0, n=int(claude.HOOKLESS_S) + 5)
    st = sessions.load_dir(d).state
    assert st["status"] == "needs_input" and "first-use" in st["reason"] and "answer it" in st["reason"], st
    assert fake.pasted == [] and fake.keys == []


def test_wakes_claude_when_the_children_it_waits_for_finish(rig):
    sup, fake, tick, d = rig
    project = sup.project
    kid = sessions.create(project, "part 1", parent=d.name, driver="command")
    sessions.set_status(kid.dir, "running")
    sup.delivered = True
    sessions.set_status(d, "waiting", reason=f"children running: {kid.id}")
    tick(1.0, n=3)
    assert fake.pasted == []
    sessions.set_status(kid.dir, "done")
    tick(1.0, n=2)
    assert len(fake.pasted) == 1 and f"{kid.id} done" in fake.pasted[0]
    assert status(d) == "running"
    tick(1.0, n=3)  # Enter follows the paste, never inside it
    assert fake.keys == ["Enter"]


@pytest.mark.parametrize("keep_open", [False, True])
def test_claude_is_ended_when_the_session_is_done_unless_kept_open(rig, keep_open):
    sup, fake, tick, d = rig
    sup.opts["keep_open"] = keep_open
    sup.delivered = True
    tick()
    assert not sup.proc.terminated
    sessions.set_status(d, "done")
    tick()
    assert sup.proc.terminated is (not keep_open)


def test_inbox_messages_are_typed_in_one_at_a_time_each_confirmed(rig):
    sup, fake, tick, d = rig
    sup.delivered = True
    sessions.set_status(d, "needs_input", reason="asks: which file?")
    sessions.put_message(d, "redirect", "parser.py, please")
    sessions.put_message(d, "escalation", "session 1.2 escalated (stuck): no data")
    tick()
    assert fake.pasted == ["parser.py, please"] and fake.keys == []  # the second waits its turn
    assert not list((d / "inbox").glob("*.json"))  # consumed
    fake.screen = READY + "\n\u276f parser.py, please"
    tick()
    assert fake.keys == ["Enter"]
    events.append(d, "prompt", chars=17)  # UserPromptSubmit: taken
    sessions.set_status(d, "running")
    tick(n=2)
    assert fake.pasted[1].startswith("session 1.2 escalated")


def test_a_message_whose_enter_is_lost_while_claude_is_idle_gets_enter_again(rig):
    sup, fake, tick, d = rig
    sup.delivered = True
    sessions.set_status(d, "needs_input", reason="asks: double it?")
    sessions.put_message(d, "redirect", "yes please")
    fake.screen = READY + "\n\u276f yes please"
    tick(n=2)
    assert fake.keys == ["Enter"]
    tick(1.0, n=9)  # no UserPromptSubmit: the Enter was swallowed
    assert fake.keys == ["Enter", "Enter"] and fake.pasted == ["yes please"]


def test_a_message_typed_while_claude_works_is_left_queued_in_claude(rig):
    sup, fake, tick, d = rig
    sup.delivered = True
    sessions.put_message(d, "redirect", "also update the docs")
    fake.screen = READY + "\n\u276f also update the docs"
    tick(n=2)
    tick(1.0, n=30)  # claude takes it when its turn ends; nothing to press again, nobody to ask
    assert fake.keys == ["Enter"] and status(d) == "running"


def test_someone_elses_prompt_does_not_count_as_the_message_going_in(rig):
    sup, fake, tick, d = rig
    sup.delivered = True
    sessions.set_status(d, "needs_input", reason="asks: which file?")
    sessions.put_message(d, "redirect", "parser.py, please")
    tick()
    assert fake.pasted == ["parser.py, please"] and fake.keys == []
    events.append(d, "prompt", chars=9, text="something")  # typed by the person before our Enter
    fake.screen = READY + "\n\u276f parser.py, please"
    tick()
    assert fake.keys == ["Enter"]  # still ours to submit
    events.append(d, "prompt", chars=12, text="another one")  # after our Enter, but not our text
    tick(1.0, n=9)
    assert fake.keys == ["Enter", "Enter"]  # so it is pressed again, not taken as delivered
    events.append(d, "prompt", chars=17, text="parser.py, please")
    tick(1.0, n=20)
    assert fake.keys == ["Enter", "Enter"]  # delivered: nothing pressed again
    assert "press Enter" not in str(sessions.load_dir(d).state.get("reason"))  # nobody is asked to
