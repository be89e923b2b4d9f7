"""The details of the selected session, in tabs: pane, task, events, result, trajectory, memory, diff."""

from __future__ import annotations

import os
import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.widgets import RichLog, TabbedContent, TabPane

from scope_tui.store import events, files, keys, sessions
from scope_tui.store.errors import CorruptFile, ScopeError
from scope_tui.store.glyphs import printable
from scope_tui.store.project import Project
from scope_tui.tui import labels
from scope_tui.tui.widgets.trajectory import TrajectoryLog

LOG_TAIL_BYTES = 64_000
EVENT_STYLES = {
    "deviation": "warning",
    "escalation": "warning",
    "error": "error",
    "corrupt_event": "error",
    "status": "primary",
    "result": "success",
    "redirect": "accent",
}


def event_line(ev: dict[str, Any], p: labels.Palette) -> Text:
    """One event as a line of the Events tab: time, type (coloured), the rest as key=value."""
    t = Text(no_wrap=True)
    ts = time.strftime("%H:%M:%S", time.localtime(float(ev.get("t") or 0)))
    t.append(f"{ts} ", style=p.muted)
    typ = str(ev.get("type"))
    style = getattr(p, EVENT_STYLES.get(typ, "secondary"))
    t.append(f"{printable(typ):<12}", style=f"bold {style}")
    rest = {k: v for k, v in ev.items() if k not in ("seq", "t", "type")}
    t.append(printable(" " + " ".join(f"{k}={v}" for k, v in rest.items())[:300]))
    return t


class DetailsTabs(TabbedContent):
    """`show(session)` fills the tabs for one session; the Pane tab takes `show_capture` (a live pane) or
    shows the pane log of a finished one; the Diff tab runs git off the UI thread when it is opened."""

    DEFAULT_CSS = """
    DetailsTabs {
        width: 1fr;
        background: $surface;
    }
    DetailsTabs RichLog {
        overflow-x: hidden;
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, project: Project, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project = project
        self.palette = labels.Palette()
        self.shown: str | None = None  # the session the tabs are about
        self.session: sessions.Session | None = None
        self._ev_reader: events.EventReader | None = None
        self._pane_log_of: tuple[str, str] | None = None  # the (session, status) whose pane log is shown
        for title, tab, log in (
            ("Pane", "tab-pane", RichLog(id="pane", max_lines=2000, min_width=20)),
            ("Task", "tab-task", RichLog(id="task", wrap=True)),
            ("Events", "tab-events", RichLog(id="events", max_lines=2000)),
            ("Result", "tab-result", RichLog(id="result", wrap=True)),
            ("Trajectory", "tab-trajectory", TrajectoryLog(id="trajectory")),
            ("Memory", "tab-memory", RichLog(id="memory", wrap=True)),
            ("Diff", "tab-diff", RichLog(id="diff", wrap=False, min_width=20)),
        ):
            self.compose_add_child(TabPane(title, log, id=tab))

    def tab_log(self, name: str) -> RichLog:
        return self.query_one(f"#{name}", RichLog)

    def show(self, s: sessions.Session, *, changed: bool = False, pane_log: bool = False) -> None:
        """Fill the tabs for `s`; again for the same session, only what may have moved (events, result).

        `pane_log`: the Pane tab shows what the session's window printed (it has no live pane to capture)."""
        first = self.shown != s.id
        self.shown, self.session = s.id, s
        p = self.palette
        if first:
            task = self.tab_log("task")
            task.clear()
            head = Text()
            head.append(f"{s.id}  ", style="bold")
            head.append(f"{s.level} · {s.meta.get('driver', '?')}", style=p.muted)
            if s.meta.get("cmd"):
                head.append(printable(f"\n$ {s.meta['cmd']}"), style=p.muted)
            task.write(head)
            task.write(printable(s.corrupt or s.task() or "(no task.md)"))
            self.tab_log("events").clear()
            self._ev_reader = events.EventReader(s.dir / events.EVENTS)
            memory = self.tab_log("memory")
            memory.clear()
            agent = s.meta.get("agent")
            if agent:
                from scope_tui.tui.screens import agent_summary

                memory.write(agent_summary(str(agent), self.project))
            else:
                memory.write(Text("no persistent agent on this session", style=p.muted))
        if self._ev_reader is not None:
            evlog = self.tab_log("events")
            for ev in self._ev_reader.read_new()[-2000:]:
                evlog.write(event_line(ev, p))
        if first or changed:
            result = self.tab_log("result")
            result.clear()
            r = s.result()
            result.write(printable(r) if r is not None else Text("(no result yet)", style=p.muted))
            self.show_trajectory(s)
        if pane_log:
            if self._pane_log_of != (s.id, s.status):  # read once per status, not at every change
                self._pane_log_of = (s.id, s.status)
                self.show_pane_log(s)
        else:
            self._pane_log_of = None
        if first and self.active == "tab-diff":
            self.load_diff(s)

    def show_trajectory(self, s: sessions.Session) -> None:
        from scope_tui import api

        entries = api.trajectory(s)
        log = self.query_one("#trajectory", TrajectoryLog)
        log.show(entries, api.render_trajectory(entries) if entries else "(not an RLM session)")

    def pane_open(self) -> bool:
        return self.active == "tab-pane"

    def show_pane_log(self, s: sessions.Session) -> None:
        """The tail of a session's pane log (what its window printed), for a session with no live pane."""
        pane = self.tab_log("pane")
        pane.clear()
        path = os.path.join(s.path, sessions.PANE_LOG)
        try:  # regular file only: a FIFO there would freeze the room
            size = os.lstat(path).st_size
            raw = files.read_bytes(path, LOG_TAIL_BYTES, max(0, size - LOG_TAIL_BYTES))
            data = raw.decode(errors="replace")
        except (OSError, CorruptFile) as exc:
            data = f"(pane.log cannot be read: {exc.reason})" if isinstance(exc, CorruptFile) else ""
        if data:
            # tmux writes pane.log: a key a worker printed is redacted here, as it is read
            pane.write(Text.from_ansi(keys.redact(data).replace("\r\n", "\n")))
        else:
            pane.write(Text("(no pane output recorded)", style=self.palette.muted))

    def show_capture(self, sid: str, text: str) -> None:
        """A live pane's screen (capture-pane -e), if the tabs are still about `sid`."""
        if self.shown != sid:
            return
        pane = self.tab_log("pane")
        pane.clear()
        pane.write(Text.from_ansi(keys.redact(text).rstrip("\n")))

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content is not self:
            return
        s = self.session
        if s is not None and event.pane.id == "tab-diff":
            self.load_diff(s)

    @work(thread=True, group="diff", exclusive=True)
    def load_diff(self, s: sessions.Session) -> None:
        """A worktree session's changes against the commit it started from (git, off the UI thread)."""
        p = self.palette
        if not s.meta.get("worktree"):
            text = Text(f"{s.id} has no worktree (spawn with --worktree to get one)", style=p.muted)
        else:
            from scope_tui import api

            try:
                raw = api.worktree_diff(s, color=True)
                text = Text.from_ansi(raw) if raw.strip() else Text("(no changes yet)", style=p.muted)
                if raw.strip():
                    into = s.meta.get("base_branch") or "its start"
                    text = Text(f"M merges {s.meta.get('branch')} into {into}\n", style=p.muted) + text
            except ScopeError as exc:
                text = Text(str(exc), style=p.error)
        self.app.call_from_thread(self._show_diff, s.id, text)

    def _show_diff(self, sid: str, text: Text) -> None:
        if self.shown != sid:
            return
        log = self.tab_log("diff")
        log.clear()
        log.write(text)
