"""The one facade both faces call: starting a session with everything it needs, and running a window's worker.

It composes the layers below (substrate, patterns, gepa, workers, ooda, agents) so that a key in the
control room and a command on the shell take exactly the same path.
"""

from __future__ import annotations

import os
import sys

from scope_tui.store import sessions
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project

TYPE_CHECKING = False  # typing and pathlib are not imported at run time: every process would pay for them
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from _typeshed import StrPath

    from scope_tui.substrate.watch import Inotify as Inotify  # the type the room's watcher has

# Skills that run as a pattern instance: a tactical session whose worker is the pattern's engine.
PATTERN_SKILLS = ("rlm", "map-reduce", "maker-checker", "ralph", "dag")


def spawn(
    project: Project, task: str, *, params: dict[str, Any] | None = None, **opts: Any
) -> sessions.Session:
    """Start a session; `opts` are substrate.spawn's keywords, `params` the pattern parameters.

    Returns the new session at once (its worker runs in a tmux window); raises UsageError /
    UnknownSession for bad input.
    """
    from scope_tui.substrate.spawn import launch
    from scope_tui.substrate.spawn import spawn as substrate_spawn

    opts = {k: v for k, v in opts.items() if v is not None}
    if opts.get("agent"):
        from scope_tui.agents.lifecycle import check

        check(opts["agent"])  # an unknown or retired agent is refused before a session folder exists
        spawner = opts.get("parent", True)
        spawner = current_session(project) if spawner is True else spawner or None
        if spawner and os.path.isdir(
            project.session_path(str(spawner))
        ):  # from inside an agent's session: only a senior or staff agent spawns a junior
            from scope_tui.agents.lifecycle import check_spawn

            check_spawn(sessions.load(project, str(spawner)).meta, str(opts["agent"]))
    worktree = bool(opts.pop("worktree", False))
    if opts.get("skill") and "@" in str(opts["skill"]):  # --skill NAME@vN pins a version (an eval's runs)
        from scope_tui.gepa.scores import split_ref

        name, pinned = split_ref(str(opts["skill"]))
        if pinned is None:
            raise UsageError(f"bad skill version in {opts['skill']!r} (write NAME@vN, e.g. rlm@v2)")
        opts["skill"], opts["skill_version"] = name, pinned
    if opts.get("skill") and not opts.get("agent"):
        from scope_tui.patterns.skill_files import load

        # an unknown skill or version is refused (exit 2) with the known ones named
        load(project, str(opts["skill"]), opts.get("skill_version"))
    if opts.get("skill") in PATTERN_SKILLS and opts.get("driver") in (None, "pattern"):
        from scope_tui.patterns.engines import prepare_params

        params = prepare_params(
            str(opts["skill"]), params, opts, project
        )  # --cmd as worker template; DAG check
    if (
        opts.get("skill") in PATTERN_SKILLS
        and not opts.get("cmd")
        and opts.get("driver") in (None, "pattern")
    ):
        opts["driver"] = "pattern"
        opts.setdefault("level", "tactical")
    if params and params.get("dag"):  # `scope run --dag` too: a node's agent must be one that can take it
        _check_dag_agents(str(params["dag"]))
    if opts.get("skill"):
        _choose_skill_version(project, task, params, opts)
    s = substrate_spawn(project, task, params=params or None, launch_now=False, **opts)
    if worktree:
        from scope_tui.substrate.worktree import prepare_worktree

        prepare_worktree(project, s)
    if s.meta.get("agent"):  # the agent layer is imported only for a task given to an agent
        from scope_tui.agents.lifecycle import prepare_session

        prepare_session(project, s)
    return launch(project, s)


def _check_dag_agents(file: str) -> None:
    """UsageError (`plan.toml:7: tasks.ui.agent: no agent 'carlo' ...`, exit 2) for a DAG node whose
    `agent` is unknown or retired; the agents layer is imported only when a node names one."""
    from pathlib import Path

    from scope_tui.patterns.engines.dag import check_agents, load

    path = Path(file)
    dag = load(path)
    if any(n.agent for n in dag.nodes.values()):
        from scope_tui.agents.lifecycle import check

        check_agents(path, dag, check)


def _choose_skill_version(
    project: Project, task: str, params: dict[str, Any] | None, opts: dict[str, Any]
) -> None:
    """Which version of the skill this task runs (GEPA's Pareto draw) and its task key, kept in meta.json
    as `skill_version` and `task_key` (DAG nodes and bench items pass their own key in params)."""
    from scope_tui.gepa.pareto import choose_version
    from scope_tui.gepa.scores import task_key

    key = str((params or {}).get("task_key") or opts.get("task_key") or task_key(task))
    opts["task_key"] = key
    if opts.get("skill_version") is None:
        version = choose_version(project, str(opts["skill"]), key)
        if version is not None:
            opts["skill_version"] = version


def run_worker(session_dir: StrPath) -> int:
    """What `scope worker DIR` does inside a tmux window: run the session's driver to its end, then let
    the layers that learn from outcomes (skill scores, the agent's memory) see how it ended.

    Returns 0 exactly when the session's end is recorded (the driver's own exit code is in state.json);
    anything else sends the window's shell to the reaper (substrate.server.worker_command).
    """
    from scope_tui.store import keys

    keys.take(session_dir)  # the keys the spawner handed this worker (never in its argv or tmux's env)
    s = sessions.load_dir(session_dir)  # its pane log is attached already (tmux.Tmux.new_window)
    _hold_secret(s.path)
    driver = s.meta.get("driver")
    # a window's Python starts without site-packages (substrate.server.WORKER_CODE): a plain command
    # session needs only the standard library; models, skills and agents need what is installed
    if sys.flags.no_site and (driver != "command" or s.meta.get("skill") or s.meta.get("agent")):
        import site

        site.main()
    if s.meta.get("works_for") and driver != "command":
        from scope_tui.agents.lifecycle import carry

        carry(s.project, s)  # a mapper, checker or child of an agent's task: its memory for this task
    elif (
        s.meta.get("agent")
        and driver != "command"
        and not os.path.exists(os.path.join(s.path, sessions.PROMPT))
    ):
        # an agent's task spawned below the agents layer (a DAG node or map-reduce part given to an agent,
        # the built-in `spawn` tool's `agent`): prepared here, as api.spawn prepares the others
        prepared = _prepare_here(s)
        if prepared is None:
            return 0
        s = prepared
    if driver == "builtin":
        from scope_tui.workers import tools

        spawner = s.meta

        def may_take(name: str) -> None:  # the `spawn` tool's `agent` is refused at once when it cannot
            _check_agent(name)
            from scope_tui.agents.lifecycle import check_spawn

            check_spawn(spawner, name)

        tools.check_agent = may_take
    if s.meta.get("agent") and driver in ("pattern", "orchestrator"):
        from scope_tui.ooda import escalation

        escalation.before_person = _route_escalation  # `reports to`: the agent's manager hears it first
    if driver == "pattern":
        from scope_tui.ooda.supervisor import run_tactical

        # the parts of an agent's run go to the agents whose strengths fit them (agents.assign)
        code = run_tactical(
            s, _assign_by_strength if s.meta.get("agent") or s.meta.get("works_for") else None
        )
    elif driver == "eval":
        from scope_tui.gepa.trial import run as run_eval

        code = run_eval(s.dir)
    elif driver == "orchestrator":
        from scope_tui.ooda.orchestrator import run_strategic

        code = run_strategic(s)
    else:
        from scope_tui import workers

        code = workers.run(s)
    end = sessions.load_dir(s.path)
    if end.terminal:
        # only sessions that used a skill or an agent have anything to learn from (keeps plain workers lean)
        project = end.project
        if end.meta.get("skill"):
            from scope_tui.gepa.scores import record_outcome

            record_outcome(project, end.dir)
        if end.meta.get("agent"):
            from scope_tui.agents.lifecycle import after_terminal

            after_terminal(project, end.dir)
        return 0
    return code or 1


def _assign_by_strength(ctx: Any, abouts: list[str]) -> list[tuple[str | None, str]] | None:
    from scope_tui.agents.assign import pick

    return pick(ctx.project, ctx.meta, abouts)


def _route_escalation(session_dir: Path, reason: str, details: str) -> None:
    from scope_tui.agents.reports import route

    s = sessions.load_dir(session_dir)
    route(s.project, s, reason, details)


def _check_agent(name: str) -> None:
    from scope_tui.agents.lifecycle import check

    check(name)


def _prepare_here(s: sessions.Session) -> sessions.Session | None:
    """prepare_session in the agent task's own worker; an agent that cannot take it (unknown, retired)
    ends the session failed with why (None), as `scope spawn --agent` would have refused it."""
    from scope_tui.agents.lifecycle import prepare_session

    try:
        prepare_session(s.project, s)
    except UsageError as exc:
        sessions.set_status(s.path, "failed", reason=str(exc), exit_code=2)
        return None
    return sessions.load_dir(s.path)


def _hold_secret(session_dir: str) -> None:
    """The worker takes its session's secret from the 0600 file (never from an argv or tmux's
    environment): what it runs (Claude Code and its hooks, a command) presents it as SCOPE_SESSION_TOKEN."""
    try:
        with open(os.path.join(session_dir, sessions.TOKEN), encoding="utf-8") as fh:
            os.environ["SCOPE_SESSION_TOKEN"] = fh.read().strip()
    except OSError:
        os.environ.pop("SCOPE_SESSION_TOKEN", None)  # never a parent's secret


def kill(project: Project, sid: str, *, why: str = "killed by a person", tmux: Any = None) -> list[str]:
    """Kill `sid` and its subtree (substrate.control.kill), then let each killed session's agent learn
    that it ended (the worker never reaches run_worker's end). Returns the killed ids. `tmux`: the
    control room's client (`tmux_control(...).commands`) to close the windows through."""
    from scope_tui.agents.lifecycle import after_terminal
    from scope_tui.substrate.control import kill as substrate_kill

    killed = substrate_kill(project, sid, why=why, tmux=tmux)
    for k in killed:
        after_terminal(project, project.session_dir(k))
    return killed


def reap(root: Path, sid: str, exit_status: str, signal: str = "", pane: str = "") -> bool:
    """What tmux's pane-died hook runs: mark a worker that died without a terminal status failed
    (crashed), then run its agent's update. True when this call marked it."""
    from scope_tui.substrate.reaper import reap as substrate_reap

    reaped = substrate_reap(root, sid, exit_status, signal, pane)
    d = root / "sessions" / sid
    # also when a reconcile sweep marked it first: the agent update runs once either way;
    # sessions without an agent never import the agent layer (the hook runs on every pane death)
    if d.is_dir() and sessions.load_dir(d).meta.get("agent"):
        from scope_tui.agents.lifecycle import after_terminal

        after_terminal(Project(root), d)
    return reaped


# ---------------------------------------------------------------- who may act (substrate.guard)


def check_spawn(project: Project, **kw: Any) -> None:
    """From inside a session, what a spawn may ask for (substrate.guard.check_spawn); raises UsageError."""
    from scope_tui.substrate.guard import check_spawn as guard

    guard(project, **kw)


def check_subtree(project: Project, target: str) -> None:
    """From inside a session, `target` must be that session or below it; a person may act on any."""
    from scope_tui.substrate.guard import check_subtree as guard

    guard(project, target)


def person_only(project: Project | None = None) -> None:
    """Refuse a person's decision from inside a session (PersonOnly, exit 2)."""
    from scope_tui.substrate.guard import person_only as guard

    guard(project)


def check_secret(session_dir: str) -> None:
    """The caller holds the secret of the session in `session_dir`; else NotThisSession (exit 2)."""
    from scope_tui.substrate.guard import check_secret as guard

    guard(session_dir)


# ---------------------------------------------------------------- sessions: read and act
# Each function imports its layer when called: `scope spawn` and the worker import this module.


def list_sessions(project: Project, ids: list[str] | None = None, *, root: str | None = None) -> list[Any]:
    """The sessions `ids` (all when none; the subtree of `root` when given), reconciled with tmux first
    (a live session whose window or server is gone is marked failed, reason lost)."""
    from scope_tui.substrate.reconcile import reconcile

    if ids:
        listed = [sessions.load(project, i) for i in ids]
    elif root:
        listed = sessions.subtree(project, root)
    else:
        listed = sessions.list_all(project)
    reconcile(project, listed)
    return listed


def wait(project: Project, ids: list[str], *, timeout: float | None = None, any_: bool = False) -> Any:
    """Block until the sessions (or any one of them) end, or `timeout`; a substrate.wait.WaitResult."""
    from scope_tui.substrate.wait import wait as substrate_wait

    return substrate_wait(project, ids, timeout=timeout, any_=any_)


def follow_events(s: sessions.Session, *, follow: bool = False) -> Any:
    """The session's events in batches: what is there now, then (with `follow`) each new batch until the
    session ends."""
    from scope_tui.store.events import EVENTS, EventReader

    reader = EventReader(s.dir / EVENTS)
    yield reader.read_new()
    if not follow:
        return
    from scope_tui.substrate.watch import ticks

    for _ in ticks(s.dir):
        yield reader.read_new()
        if sessions.load_dir(s.dir).terminal:
            yield reader.read_new()
            return


def reconcile(project: Project, listed: list[sessions.Session], *, tmux: Any = None) -> None:
    """Mark the live sessions among `listed` whose window or tmux server is gone failed (reason lost):
    one `list-panes -a` for all of them (through `tmux`, the room's control client, when given)."""
    from scope_tui.substrate.reconcile import reconcile as substrate_reconcile

    substrate_reconcile(project, listed, tmux=tmux)


def tmux_running(project: Project) -> bool:
    """Whether the project's tmux server is up: its socket answers (a connect, no tmux call; kill-server
    leaves the socket file behind). A socket this process may not open counts as up."""
    from scope_tui.substrate.server import tmux_for
    from scope_tui.tmux import server_gone

    return server_gone(tmux_for(project).socket) is not True


def stop_tmux(project: Project) -> None:
    """Stop the project's tmux server: every window in it ends (their sessions' history stays)."""
    from scope_tui.substrate.server import tmux_for

    tmux_for(project).kill_server()


def tmux_control(project: Project, events: Any) -> Any:
    """A started tmux control-mode client on the project's server (substrate.control_mode.ControlClient),
    telling `events` (output, window_closed, pane_died, exited) what happens; raises ScopeError when
    control mode cannot be had (no server, an old tmux)."""
    from scope_tui.substrate.control_mode import ControlClient
    from scope_tui.substrate.server import tmux_for

    client = ControlClient(tmux_for(project).socket, events)
    client.start()
    return client


def capture_pane(project: Project, target: str) -> str:
    """What a pane shows now, with its colours (tmux capture-pane -e)."""
    from scope_tui.substrate.server import tmux_for

    return tmux_for(project).capture(target, escapes=True)


def file_watcher(root: Path) -> Inotify:
    """An inotify watch of the project's sessions (substrate.watch.Inotify); OSError when inotify is out."""
    from scope_tui.substrate.watch import Inotify

    return Inotify(root)


def __getattr__(name: str) -> Any:
    if name == "StateWatcher":  # the one watcher of `.scope/` (the room's and `scope watch`'s), loaded lazily
        from scope_tui.substrate.statewatch import StateWatcher

        return StateWatcher
    raise AttributeError(name)


def watch_stream(
    project: Project,
    emit: Any,
    *,
    since: dict[str, int] | None = None,
    once: bool = False,
    alive: float | None = None,
) -> Any:
    """The coroutine behind `scope watch`: `emit(records)` for every state change and event (substrate.feed)."""
    from scope_tui.substrate.feed import stream

    return stream(project, emit, since=since, once=once, alive=alive)


def keep_path(path: str) -> bool:
    """Whether a changed path under `.scope/` is worth a look (not a writer's temp file)."""
    from scope_tui.substrate.watch import keep_path as keep

    return keep(path)


def redirect(project: Project, sid: str, message: str) -> sessions.Session:
    """A message into a running session's inbox (and its pane, for a Claude Code session)."""
    from scope_tui.substrate.control import redirect as substrate_redirect

    return substrate_redirect(project, sid, message)


def attach_argv(project: Project, sid: str) -> list[str]:
    """The tmux command line that shows session `sid`'s window; for `NAME:ID`, `ssh -t NAME scope attach
    ID` (the host's own tmux, through the master connection)."""
    from scope_tui.substrate.control import attach_argv as substrate_attach_argv

    name, bare = split_host_id(sid)
    if name is not None:
        return host_argv(project, name, ["attach", bare], tty=True)
    return substrate_attach_argv(project, sid)


def clean(project: Project, older_than: str | None = None) -> list[str]:
    """Remove ended sessions (older than an age such as 2h or 3d when given); the removed ids."""
    from scope_tui.substrate.control import clean as substrate_clean
    from scope_tui.substrate.control import parse_age

    return substrate_clean(project, parse_age(older_than) if older_than else 0.0)


def doctor() -> list[Any]:
    """(ok, what, fix) checks of tmux, the store, the model key and Claude Code."""
    from scope_tui.substrate.doctor import checks

    return checks()


def trajectory(s: sessions.Session) -> list[dict[str, Any]]:
    """An RLM session's trajectory lines (the reference logger's JSONL format); [] for other sessions."""
    from scope_tui.patterns.rlm import trajectory as t

    return t.read(s.dir)


def render_trajectory(entries: list[dict[str, Any]], *, limit: int = 1200) -> str:
    """The trajectory as text: iteration, code, output, sub-calls and the final answer."""
    from scope_tui.patterns.rlm import trajectory as t

    return t.render(entries, limit=limit)


def worktree_diff(s: sessions.Session, *, color: bool = False, stat: bool = False) -> str:
    """What a --worktree session changed, as git shows it."""
    from scope_tui.substrate.worktree import diff

    return diff(s, color=color, stat=stat)


def merge(s: sessions.Session, *, squash: bool = False, into: str | None = None) -> Any:
    """A finished --worktree session's branch merged into the branch it started from, all or nothing."""
    from scope_tui.substrate.merge import merge as merge_branch

    return merge_branch(s, squash=squash, into=into)


def open_pr(s: sessions.Session, *, into: str | None = None) -> str:
    """The session's branch pushed and a pull request opened with gh (or how to, without it)."""
    from scope_tui.substrate.merge import open_pr as pr

    return pr(s, into=into)


def deliver_alerts(project: Project, *, wait: bool = True) -> str:
    """Send what `.scope/outbox/` holds to the channels of `[notify]` (the room: wait=False)."""
    from scope_tui.substrate.notify import deliver

    return deliver(project, wait=wait)


def resume(project: Project, sid: str | None, *, rerun: bool = False) -> list[tuple[str, str]]:
    """Lost sessions continued as new ones (resumed_from); with sid None, every lost session."""
    from scope_tui.substrate import resume as r

    if sid is None:
        return r.resume_all(project, rerun=rerun)
    return [(sid, r.resume(project, sid, rerun=rerun).id)]


def keep_stdin(project: Project, data: bytes) -> str:
    """`--context -`: stdin kept in a file for the session to take (the RLM engine moves it in)."""
    import time

    from scope_tui.store.atomic import write_text

    path = project.root / f".stdin-{os.getpid()}-{time.time_ns()}.txt"
    write_text(path, data)
    return str(path)


def hook(event: str, raw: str, session_dir: Path) -> dict[str, Any] | None:
    """A Claude Code hook's JSON (stdin `raw`) recorded for its session; what to answer claude, if anything.
    Bad JSON is recorded as an error event, never raised."""
    import json

    from scope_tui.store import events

    try:
        payload = json.loads(raw or "{}")
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        try:
            events.append(
                session_dir, "error", error=f"hook {event}: bad JSON on stdin: {exc}", source="hook"
            )
        except OSError:
            pass
        return None
    from scope_tui.workers.claude_hooks import handle

    return handle(event, payload, session_dir)


def current_session(project: Project) -> str | None:
    """The id of the session this process runs in (SCOPE_SESSION_ID), when it is one of `project`'s."""
    from scope_tui.substrate.spawn import current_session as substrate_current

    return substrate_current(project)


def escalate(s: sessions.Session, reason: str, details: str = "") -> Any:
    """A live session asks for help: an escalation with a reason into its parent's inbox (the person's, at
    the top); the ooda.escalation.Escalation."""
    from scope_tui.ooda.escalation import escalate as ooda_escalate

    return ooda_escalate(s.dir, reason, details)


# ---------------------------------------------------------------- patches


def list_patches(project: Project, status: str | None = None) -> list[dict[str, Any]]:
    """The patches in `.scope/patches/` (with `status` only, when given), oldest first."""
    from scope_tui.gepa import patches

    return patches.list_patches(project, status)


def patch_files(project: Project) -> dict[str, dict[str, Any]]:
    """Every patch file by id, a broken one as status "corrupt" with its reason (gepa.patches.patch_files)."""
    from scope_tui.gepa import patches

    return patches.patch_files(project)


def load_patch(project: Project, pid: str) -> dict[str, Any]:
    """One patch; UsageError for an unknown id."""
    from scope_tui.gepa import patches

    return patches.load_patch(project, pid)


def approve_patch(
    project: Project, pid: str, *, by: str = "person", text: str | None = None, note: str | None = None
) -> int:
    """Approve a pending patch (`text` replaces its proposed text); the version it produced
    (gepa.patches.approve)."""
    from scope_tui.gepa import patches

    return patches.approve(project, pid, by=by, text=text, note=note)


def reject_patch(project: Project, pid: str, reason: str, *, by: str = "person") -> dict[str, Any]:
    """Reject a pending patch with a reason; the patch (gepa.patches.reject)."""
    from scope_tui.gepa import patches

    return patches.reject(project, pid, reason, by=by)


def patch_test(patch: dict[str, Any]) -> str:
    """What a patch's test found: "v2 3/3 · v1 1/3 · +$0.04", "testing" or "untested" (gepa.trial)."""
    from scope_tui.gepa import trial

    return trial.summary(patch)


def rate_run(project: Project, sid: str, verdict: str, why: str = "") -> dict[str, Any] | None:
    """The person's verdict (good/bad) on a finished run, scored for its skill version (gepa.scores.rate);
    the caller refuses it inside a session (person_only)."""
    from scope_tui.gepa import scores

    return scores.rate(project, sid, verdict, why)


# ---------------------------------------------------------------- skills


def shipped_skills() -> Path:
    """The folder of the skills Scope ships."""
    from scope_tui.patterns.skill_files import SHIPPED

    return SHIPPED


def skill_names(project: Project | None) -> list[str]:
    """The names of every skill (shipped and the project's), sorted."""
    from scope_tui.patterns.skill_files import names

    return names(project)


def load_skill(project: Project | None, ref: str, *, agent: str | None = None) -> Any:
    """Skill `ref` (NAME or NAME@vN), an agent's own first when `agent` is named; UsageError naming the
    known skills when there is no such skill."""
    from scope_tui.patterns.skill_files import load

    return load(project, ref, agent_skill_root=agent_skill_root(agent))


def list_skills(project: Project | None, *, agent: str | None = None) -> tuple[dict[str, Any], list[Any]]:
    """(the latest version of every skill by name, the broken files skipped)."""
    from scope_tui.patterns.skill_files import load_all

    return load_all(project, agent_skill_root(agent))


def skill_rules(skill: Any) -> list[str]:
    """A skill's rules as lines a person reads."""
    from scope_tui.patterns.rules import for_skill

    return for_skill(skill).describe()


def explain_selection(
    project: Project | None,
    task: str,
    params: dict[str, Any],
    *,
    model: str | None = None,
    agent: str | None = None,
    use_model: bool = True,
) -> tuple[Any, Any]:
    """(the task's profile, the WHEN selection over the skills with each one's score and reasons)."""
    from scope_tui.patterns.profile import profile
    from scope_tui.patterns.when import select

    prof = profile(task, params)
    sel = select(project, task, prof, model, agent_skill_root=agent_skill_root(agent), use_model=use_model)
    return prof, sel


def selection_event(sel: Any) -> dict[str, Any]:
    """A selection as the `selection` event (and `scope skills --explain --json`) records it."""
    from scope_tui.patterns.when import selection_event as event

    return event(sel)


def skill_versions(project: Project | None, name: str, *, agent: str | None = None) -> list[dict[str, Any]]:
    """Every version of skill `name` with its lineage and scores: parent, origin, patches, tasks, successes
    (the sum of its verified scores), reinforced (repeats of its lines' deviations), deviations, cost, Pareto state and its chance of the next task. UsageError for an unknown skill."""
    from scope_tui.patterns import skill_files

    root = agent_skill_root(agent)
    vs = skill_files.versions(project, name, root)
    if not vs:
        skill_files.load(project, name, agent_skill_root=root)  # raises the helpful UsageError
    lin = skill_files.lineage(project, name, root).get("versions", {})
    from scope_tui.gepa import pareto
    from scope_tui.gepa.scores import value

    try:  # stable or evolving, and the chance of getting the next task (GEPA's Pareto draw)
        states = pareto.states(project, name) if root is None and project else {}
        chances = pareto.chances(project, name) if root is None and project else {}
    except Exception:
        states, chances = {}, {}
    rows = []
    for s in vs:
        entry = lin.get(str(s.version), {})
        scores = entry.get("scores") or {}
        rows.append(
            {
                "version": s.version,
                "parent": entry.get("parent"),
                "origin": entry.get("origin", "?"),
                "patches": entry.get("patches", []),
                "tasks": len(scores),
                "successes": round(sum(value(v) for v in scores.values() if isinstance(v, dict)), 2),
                "reinforced": sum(int(n) for n in (entry.get("reinforced") or {}).values()),
                "deviations": sum(
                    int(v.get("deviations", 0)) for v in scores.values() if isinstance(v, dict)
                ),
                "cost": round(
                    sum(float(v.get("cost", 0.0)) for v in scores.values() if isinstance(v, dict)), 4
                ),
                "state": states.get(s.version, "-"),
                "chance": chances.get(s.version),
                "path": str(s.path),
            }
        )
    return rows


# ---------------------------------------------------------------- agents


def agents_home() -> Path:
    """The agents home: $SCOPE_AGENTS_DIR, else ~/.scope/agents (agents.home owns it)."""
    from scope_tui.agents.home import agents_dir

    return agents_dir()


def agent_names() -> list[str]:
    """The persistent agents in the agents home, by name."""
    from scope_tui.agents import home

    return home.names()


def agent_skill_root(agent: str | None) -> Path | None:
    """The folder of `agent`'s own skills (None for no agent); UsageError when there is no such agent."""
    if not agent:
        return None
    from scope_tui.agents import home
    from scope_tui.store.errors import UsageError

    d = home.agent_dir(agent)
    if not d.is_dir():
        raise UsageError(f"no agent {agent!r} in {home.agents_dir()} (try 'scope agent list')")
    return d / "skills"


def agent_summary(name: str, project: Project | None = None, *, pull: bool = True) -> dict[str, Any]:
    """Everything about agent `name` (agents.summary.summarize); UsageError when there is no such agent.
    `pull=False` reads without pulling approved patches into its memory (a reader that never writes)."""
    from scope_tui.agents.summary import summarize

    return summarize(name, project, pull=pull)


def describe_relationship(other: str, entry: dict[str, Any]) -> str:
    from scope_tui.agents.relationships import describe

    return describe(other, entry)


def relationship_outcomes(entry: dict[str, Any], last: int = 5) -> list[str]:
    """The newest outcomes of shared work in a relationship, one line each (oldest first)."""
    from scope_tui.agents.relationships import outcome_line

    return [outcome_line(o) for o in (entry.get("outcomes") or [])[-last:] if isinstance(o, dict)]


def new_agent(name: str, **fields: str) -> Path:
    """Create agent `name` (junior) with its identity fields; its folder."""
    from scope_tui.agents import identity

    return identity.create(name, **fields)


def agent_identity_file(name: str) -> Path:
    """The identity.md a person edits; UsageError when there is no such agent."""
    from scope_tui.agents import home

    return home.require(name) / "identity.md"


def retire_agent(name: str, *, undo: bool = False) -> Path:
    """Retire agent `name` (kept on disk), or make it active again; its folder."""
    from scope_tui.agents import home, identity

    d = home.require(name)
    identity.set_field(name, "status", "active" if undo else "retired")
    return d


def teach(giver: str, to: str, skill: str, project: Project | None) -> str:
    """A senior or staff agent gives another agent one of its own skills; the skill's name there."""
    from scope_tui.agents import home, identity, own_skills
    from scope_tui.agents.summary import summarize
    from scope_tui.store.errors import UsageError

    stage = summarize(giver, None, pull=False)["stage"]
    if stage not in ("senior", "staff"):
        raise UsageError(f"{giver} is {stage}: only a senior or staff agent creates skills for others")
    to_dir = home.require(to)
    if identity.status(to) == "retired":
        raise UsageError(f"agent {to!r} is retired")
    return own_skills.give(home.agent_dir(giver), giver, to_dir, skill, project)


def review_patch(project: Project, pid: str, verdict: str, why: str) -> dict[str, Any]:
    """From inside a staff agent's session: its review of a junior's patch, kept on the patch as a
    proposal to the person; the patch stays undecided. Refused outside a session (the person decides
    with approve or reject), from any other agent, or for a patch that is not a junior's."""
    from scope_tui.agents.lifecycle import review_patch as check
    from scope_tui.gepa.patches import add_review, load_patch

    if verdict not in ("approve", "reject"):
        raise UsageError(f"a review says approve or reject, not {verdict!r}")
    sid = current_session(project)
    if not sid:
        raise UsageError(
            "a review is a staff agent's proposal from inside its session; you decide: "
            "'scope patches approve|reject ID'"
        )
    check_secret(str(project.session_path(sid)))  # a session reviews as itself, never as another
    patch = load_patch(project, pid)
    return add_review(project, pid, check(project, sid, patch, verdict, why))


def delegate(name: str, task: str) -> str | None:
    """Which agent `name` hands `task` to, by its relationships; None when none fits."""
    from scope_tui.agents.delegate import pick

    return pick(name, task)


def offline_models(project: Project) -> None:
    """Every model call of `project`'s sessions on the offline model, a key set or not (the demo's)."""
    from scope_tui.store import config

    config.update(project.config_path, {"models": {"backend": "offline"}})


def allow_command_workers(project: Project) -> None:
    """The person's choice that sessions of `project` may start shell workers (`scope spawn --cmd`):
    written to its config and trusted at once (the demo, made by the person who runs it, uses this)."""
    from scope_tui.store import config, trust

    config.update(project.config_path, {"sessions": {"allow_command_workers": True}})
    trust.trust(project.home_path, config.read_raw(project.config_path))


# --- other hosts (substrate/hosts.py): ssh to a Scope of their own ----------------------------------------
def hosts(project: Project) -> dict[str, Any]:
    """The project's configured hosts by name (substrate.hosts.Host); none while it is untrusted."""
    from scope_tui.substrate.hosts import configured

    return configured(project)


def host(project: Project, name: str) -> Any:
    """One configured host; UsageError naming what to do when there is none (or it is not trusted)."""
    from scope_tui.substrate.hosts import get

    return get(project, name)


def host_check(project: Project, name: str) -> tuple[list[str], list[str]]:
    """(found, missing) on the host for Scope to run there: Python, tmux, Scope of this version."""
    from scope_tui import __version__
    from scope_tui.substrate.hosts import setup_check

    return setup_check(project, host(project, name), __version__)


def host_run(project: Project, name: str, remote: list[str], *, stdin: bytes | None = None) -> Any:
    """`scope REMOTE…` on the host, through its master connection; a CompletedProcess (255: ssh failed)."""
    from scope_tui.substrate.hosts import run

    return run(project, host(project, name), remote, stdin=stdin)


def host_argv(project: Project, name: str, remote: list[str], *, tty: bool = False) -> list[str]:
    """The ssh command line that runs `scope REMOTE…` on the host (attach uses it with a terminal)."""
    from scope_tui.substrate.hosts import ssh_argv

    return ssh_argv(project, host(project, name), remote, tty=tty)


def host_connection(project: Project, name: str, op: str = "check") -> bool:
    """`check` (is the host's master connection up?) or `exit` (end it)."""
    from scope_tui.substrate.hosts import control

    return control(project, host(project, name), op)


def host_ssh_failed(project: Project, name: str, proc: Any) -> str:
    """The line that says why ssh to the host failed (exit 255)."""
    from scope_tui.substrate.hosts import ssh_failed

    return "scope: " + ssh_failed(host(project, name), proc)


def on_host(project: Project, ref: str, command: str, *extra: str, stdin: bytes | None = None) -> str:
    """`scope COMMAND ID EXTRA…` on the host `ref` (`NAME:ID`) names, as the CLI forwards it; what it
    printed. Raises ScopeError with the host's own one line when it refused (or ssh failed)."""
    from scope_tui.store.errors import ScopeError

    name, sid = split_host_id(ref)
    if name is None:
        raise UsageError(f"{ref} is no NAME:ID of another host")
    proc = host_run(project, name, [command, sid, *extra], stdin=stdin)
    if proc.returncode != 0:
        if proc.returncode == 255:
            raise ScopeError(host_ssh_failed(project, name, proc).removeprefix("scope: "))
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ScopeError(f"{name}: {err[-1].removeprefix('scope: ') if err else f'{command} failed'}")
    return proc.stdout.decode(errors="replace")


def split_host_id(ref: str) -> tuple[str | None, str]:
    """`NAME:3.1` -> ("NAME", "3.1"); a plain id -> (None, id)."""
    from scope_tui.substrate.hosts import split_id

    return split_id(ref)
