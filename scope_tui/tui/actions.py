"""The room's keys: each action is a thin wrapper around the API the CLI calls, run off the UI thread.

ScopeApp (app.py) inherits these and supplies what they read: the index, the selection, the panels.
"""

from __future__ import annotations

import subprocess
from typing import Any

from textual import work
from textual.app import App
from textual.widgets import Input

from scope_tui.store import config, ids, sessions
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project
from scope_tui.tui.index import Index


def default_attach(app: App[Any], argv: list[str]) -> None:
    with app.suspend():
        subprocess.run(argv)


class RoomActions(App[None]):
    project: Project
    index: Index
    settings: dict[str, Any]
    serve: bool
    attach_runner: Any
    hide_finished: bool
    patch_idx: int
    theme_names: list[str]
    room: Any
    tmux: Any

    # supplied by ScopeApp
    def selected(self) -> str | None:
        raise NotImplementedError

    def select(self, sid: str) -> bool:
        raise NotImplementedError

    def sync_tree(self, initial: bool = False) -> None:
        raise NotImplementedError

    def update_counts(self) -> None:
        raise NotImplementedError

    def show_patch(self) -> None:
        raise NotImplementedError

    def current_patch(self) -> Any:
        raise NotImplementedError

    def key_table(self) -> list[tuple[str, str, str]]:
        raise NotImplementedError

    # -- sessions --------------------------------------------------------------------------------
    def need_selected(self) -> sessions.Session | None:
        sid = self.selected()
        s = self.index.sessions.get(sid) if sid else None
        if s is None:
            self.notify("select a session first", severity="warning")
        return s

    def skill_names(self) -> list[str]:
        from scope_tui import api

        return api.skill_names(self.project)

    def action_spawn(self) -> None:
        from scope_tui.tui.screens import SpawnScreen

        def done(v: dict[str, Any] | None) -> None:
            if v:
                self.do_spawn(v)

        self.push_screen(
            SpawnScreen(self.selected(), self.skill_names(), str(self.settings.get("driver"))), done
        )

    @work(thread=True, group="act")
    def do_spawn(self, v: dict[str, Any]) -> None:
        from scope_tui import api

        task = v.pop("task")
        try:
            s = api.spawn(self.project, task, **v)
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), title="Spawn", severity="error")
            return
        self.call_from_thread(self.notify, f"spawned {s.id}: {s.title}", title="Spawn")

    def action_kill(self) -> None:
        from scope_tui.tui.screens import ConfirmScreen

        s = self.need_selected()
        if s is None:
            return
        n = sum(1 for k in self.index.sessions if ids.is_descendant(k, s.id))
        detail = f"{s.title}\n{n} session(s) in this subtree; their history stays on disk."

        def done(yes: bool | None) -> None:
            if yes:
                self.do_kill(s.id)

        self.push_screen(ConfirmScreen(f"Kill {s.id} and its subtree?", detail), done)

    @work(thread=True, group="act")
    def do_kill(self, sid: str) -> None:
        from scope_tui import api  # the substrate's kill, then each killed session's agent update

        try:
            if ":" in sid:  # another host's row: its own scope kills it there, as `scope kill NAME:ID` does
                said = api.on_host(self.project, sid, "kill", "--yes").strip()
                self.call_from_thread(self.notify, said or f"killed {sid}", title="Kill")
                return
            killed = api.kill(self.project, sid, tmux=self.tmux.commands)  # through the control client
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        msg = f"killed {', '.join(killed)}" if killed else f"nothing live under {sid}"
        self.call_from_thread(self.notify, msg, title="Kill")

    def action_merge(self) -> None:
        """M: the selected --worktree session's branch merged into the branch it started from (api.merge)."""
        from scope_tui.tui.screens import ConfirmScreen

        s = self.need_selected()
        if s is None:
            return
        if not s.meta.get("worktree"):
            self.notify(f"{s.id} has no worktree to merge", severity="warning")
            return
        into = s.meta.get("base_branch") or "?"
        detail = f"{s.meta.get('branch')} into {into}; a conflict merges nothing."

        def done(yes: bool | None) -> None:
            if yes:
                self.do_merge(s.id)

        self.push_screen(ConfirmScreen(f"Merge {s.id}?", detail), done)

    @work(thread=True, group="act")
    def do_merge(self, sid: str) -> None:
        from scope_tui import api

        try:
            m = api.merge(self.index.sessions[sid])
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=12)
            return
        msg = f"{m.branch} merged into {m.target}: {len(m.files)} file(s)"
        self.call_from_thread(self.notify, msg, title="Merge")

    def action_resume(self) -> None:
        """R: the selected lost session continued as a new one (api.resume, or `scope resume` on its host),
        which takes its place in the tree; a command runs again only once the person says so."""
        from scope_tui.tui.screens import ConfirmScreen

        s = self.need_selected()
        if s is None:
            return
        if ":" not in s.id and not (s.status == "failed" and s.state.get("reason") == "lost"):
            self.notify(f"{s.id} is {s.status}, not lost: only a lost session resumes", severity="warning")
            return
        if not s.meta.get("cmd"):
            self.do_resume(s.id, False)
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.do_resume(s.id, True)

        detail = f"{s.meta['cmd']}\nA command may not be safe to run twice."
        self.push_screen(ConfirmScreen(f"Run the command of {s.id} again?", detail), done)

    @work(thread=True, group="act")
    def do_resume(self, sid: str, rerun: bool) -> None:
        from scope_tui import api

        try:
            if ":" in sid:
                said = api.on_host(self.project, sid, "resume", *(["--rerun"] if rerun else [])).strip()
            else:
                said = " ".join(
                    f"{old} resumed as {new}" for old, new in api.resume(self.project, sid, rerun=rerun)
                )
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), title="Resume", severity="error")
            return
        self.call_from_thread(self.notify, said, title="Resume")

    def action_redirect(self, sid: str | None = None, title: str = "") -> None:
        from scope_tui.tui.screens import PromptScreen

        s = self.index.sessions.get(sid) if sid else self.need_selected()
        if s is None:
            return

        def done(text: str | None) -> None:
            if text:
                self.do_redirect(s.id, text)

        self.push_screen(PromptScreen(title or f"Redirect {s.id}: a message into the running agent"), done)

    @work(thread=True, group="act")
    def do_redirect(self, sid: str, text: str) -> None:
        from scope_tui import api

        try:
            if ":" in sid:  # another host's row: the message goes on ssh's stdin, never on a command line
                api.on_host(self.project, sid, "redirect", "-", stdin=text.encode())
            else:
                api.redirect(self.project, sid, text)
        except ScopeError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.call_from_thread(self.notify, f"sent to {sid}", title="Redirect")

    def action_answer(self) -> None:
        """Answer the session that asked the person: the selected one if it waits, else the first that does."""
        sel = self.selected()
        s = self.index.sessions.get(sel) if sel else None
        if s is None or s.status != "needs_input":
            asking = [x for x in self.index.sessions.values() if x.status == "needs_input"]
            if not asking:
                self.notify("no session is waiting for an answer", severity="information")
                return
            s = asking[0]
            self.select(s.id)
        asked = str(s.state.get("reason") or "")  # what it asked, when it said (on a phone, no pane beside)
        self.action_redirect(s.id, f"Answer {s.id}: {s.title}" + (f"\n{asked}" if asked else ""))

    def action_attach(self) -> None:
        s = self.need_selected()
        if s is None:
            return
        if self.serve:
            self.notify("attach is disabled in the browser; run `scope attach " + s.id + "` in a terminal")
            return
        from scope_tui import api

        try:
            argv = api.attach_argv(self.project, s.id)
        except ScopeError as exc:
            self.notify(str(exc), severity="warning")
            return
        if self.attach_runner is not None:
            self.attach_runner(argv)
        else:
            default_attach(self, argv)
        self.refresh()
        self.notify(f"back from {s.id}", title="Attach")

    # -- the view --------------------------------------------------------------------------------
    def action_filter(self) -> None:
        inp = self.room.query_one("#filter", Input)
        inp.remove_class("hidden")
        inp.focus()

    def action_clear_filter(self) -> None:
        inp = self.room.query_one("#filter", Input)
        if inp.value:
            inp.value = ""
        inp.add_class("hidden")
        self.room.query_one("#tree").focus()

    def action_hide_finished(self) -> None:
        self.hide_finished = not self.hide_finished
        self.sync_tree()
        self.update_counts()

    def action_help(self) -> None:
        from scope_tui.tui.screens import HelpScreen

        self.push_screen(HelpScreen([(k, d) for k, d, _ in self.key_table()]))

    def action_agents(self) -> None:
        from scope_tui.tui.screens import AgentsScreen

        self.push_screen(AgentsScreen(self.project))

    def action_theme(self) -> None:
        names = [n for n in self.theme_names if n in self.available_themes] or ["scope-dark"]
        nxt = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.theme = nxt
        try:
            config.update(self.project.config_path, {"theme": nxt})
        except (OSError, ScopeError) as exc:
            self.notify(f"theme not saved: {exc}", severity="warning")
        self.notify(f"theme {nxt}", title="Theme")

    # -- the person's verdict on the run in the details panel -------------------------------------
    def action_rate(self, verdict: str) -> None:
        sid = self.selected()
        if sid is None:
            self.notify("no session selected", severity="information")
            return
        self.do_rate(sid, verdict)

    @work(thread=True, group="act")
    def do_rate(self, sid: str, verdict: str) -> None:
        from scope_tui import api

        try:
            score = api.rate_run(self.project, sid, verdict)
        except ScopeError as exc:
            self.call_from_thread(self.notify, f"rate {sid}: {exc}", severity="error")
            return
        what = (
            "no skill: nothing to score"
            if score is None
            else f"score {score['score']:g} ({score['verifier']})"
        )
        self.call_from_thread(self.notify, f"{sid} rated {verdict}: {what}", title="Verdict")

    # -- patches ---------------------------------------------------------------------------------
    def action_next_patch(self) -> None:
        self.patch_idx += 1
        self.show_patch()

    def action_approve(self) -> None:
        patch = self.current_patch()
        if patch is None:
            self.notify("no pending patch", severity="information")
            return
        self.do_decide(patch.id, "approve", None)

    def action_reject(self) -> None:
        from scope_tui.tui.screens import PromptScreen

        patch = self.current_patch()
        if patch is None:
            self.notify("no pending patch", severity="information")
            return

        def done(reason: str | None) -> None:
            if reason:
                self.do_decide(patch.id, "reject", reason)

        self.push_screen(
            PromptScreen(f"Reject patch {patch.id}: why?", "the reason is kept with the patch"), done
        )

    def action_edit_patch(self) -> None:
        from scope_tui.tui.screens import EditPatchScreen

        patch = self.current_patch()
        if patch is None:
            self.notify("no pending patch", severity="information")
            return

        def done(text: str | None) -> None:
            if text is not None:
                self.do_decide(patch.id, "approve", None, text)

        self.push_screen(EditPatchScreen(patch.id, str(patch.data.get("new_text") or "")), done)

    @work(thread=True, group="act")
    def do_decide(self, pid: str, how: str, reason: str | None, text: str | None = None) -> None:
        from scope_tui import api

        patch = self.index.patches.get(pid)
        target = patch.target if patch else "?"
        try:
            api.person_only(
                self.project
            )  # a room started inside a session (or served from one) decides nothing
            if how == "approve":
                version = api.approve_patch(self.project, pid, by="person", text=text)
                msg = f"patch {pid} approved: {target.split(':', 1)[-1]} v{version}"
            else:
                api.reject_patch(self.project, pid, reason or "", by="person")
                msg = f"patch {pid} rejected"
        except ScopeError as exc:
            self.call_from_thread(self.notify, f"patch {pid}: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, msg, title="Patches")
