"""The lifecycle of a task given to a persistent agent: prepared at spawn, learned from at the end.

prepare_session (api.spawn, before launch): pulls approved patches into the agent's heuristics, matches
the task against the agent's own skills first (a `decision` event says which and why), and writes the
session's prompt.md (identity, own skill, project memory, heuristics, failures to avoid).

after_terminal (whoever wrote the terminal status: api.run_worker, api.kill, api.reap): runs once per
session (an O_EXCL marker file), then grows experience, records the outcome, extracts a new own skill
from a novel success, records what not to do from a failure, updates relationships, and may propose a
heuristics consolidation. It writes one `agent_update` event into the session saying what changed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from scope_tui.agents import growth, home, identity, memory, own_skills, relationships
from scope_tui.store import events, ids, sessions
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project

MARKER = ".agent_updated"
FAILED = ("failed", "escalated")


def check(name: str | None) -> None:
    """Raise UsageError when `name` is not an agent that can take a task (unknown or retired)."""
    if not name:
        return
    home.require(name)
    if identity.status(name) == "retired":
        raise UsageError(
            f"agent {name!r} is retired (its folder is kept; 'scope agent edit {name}' to bring it back)"
        )


def check_spawn(spawner: dict[str, Any], name: str) -> None:
    """Raise UsageError when the agent whose session `spawner` (its meta) is may not hand agent `name`
    a task: only a senior or staff agent spawns a junior. A pattern engine's or an orchestrator's pick
    (a DAG node the person named, a part given by strength) is Scope's procedure, not the agent's."""
    boss = spawner.get("agent") or spawner.get("works_for")
    if not boss or boss == name or spawner.get("driver") in ("pattern", "orchestrator"):
        return
    if not home.exists(str(boss)) or growth.current_stage(name) != "junior":
        return
    stage = growth.current_stage(str(boss))
    if stage not in ("senior", "staff"):
        raise UsageError(
            f"{boss} is {stage}: only a senior or staff agent may spawn a junior ({name} is junior); "
            "do it yourself, or escalate"
        )


def review_patch(
    project: Project, reviewer_sid: str, patch: dict[str, Any], verdict: str, why: str
) -> dict[str, Any]:
    """A staff agent's review of a junior's patch, as a proposal to the person (never a decision): the
    review record for gepa.patches.add_review; UsageError when the reviewer is not staff or the patch is
    not a junior's."""
    me = sessions.load(project, reviewer_sid).meta
    boss = me.get("agent") or me.get("works_for")
    if not boss or not home.exists(str(boss)):
        raise UsageError(
            f"session {reviewer_sid} works for no agent: only a staff agent reviews a junior's patch"
        )
    stage = growth.current_stage(str(boss))
    if stage != "staff":
        raise UsageError(f"{boss} is {stage}: only a staff agent may review a junior's patch")
    src = patch.get("session")
    author = None
    if src and project.session_dir(str(src)).is_dir():
        m = sessions.load(project, str(src)).meta
        author = m.get("agent") or m.get("works_for")
    if not author or not home.exists(str(author)):
        raise UsageError(f"patch {patch['id']} is no agent's: only a junior's patch is reviewed by staff")
    if growth.current_stage(str(author)) != "junior":
        raise UsageError(
            f"patch {patch['id']} is {author}'s, who is {growth.current_stage(str(author))}: staff review a junior's"
        )
    return {
        "by": str(boss),
        "stage": stage,
        "author": str(author),
        "verdict": verdict,
        "why": why,
        "session": reviewer_sid,
    }


def _report(session_dir: Path | None, name: str, problems: list[str], *, stderr: bool = True) -> None:
    """A broken hand-edited file is reported (event and a line on stderr), never fatal."""
    if not problems:
        return
    if session_dir is not None:
        events.append(session_dir, "agent_problem", agent=name, problems=problems)
    if stderr:
        for p in problems:
            print(f"scope: agent {name}: {p}", file=sys.stderr)


def task_profile(s: sessions.Session) -> tuple[Any, dict[str, Any]]:
    """(the patterns layer's TaskProfile or None, its fields for WHEN predicates)."""
    params = s.meta.get("params") or {}
    try:
        from scope_tui.patterns.profile import profile

        prof = profile(s.task(), params, Path(s.meta.get("cwd") or "."))
        return prof, prof.fields()
    except Exception:  # an unreadable context must not stop a spawn: judge by the task's words alone
        size = 0
        for p in params.get("context") or []:
            try:
                size += os.path.getsize(p) if os.path.isfile(p) else 0
            except OSError:
                pass
        return None, {"context_tokens": size // 4, "task_chars": len(s.task())}


def base_choice(project: Project, task: str, prof: Any) -> list[str]:
    """What the base pattern library would pick (offline: no model call at spawn), [] when nothing fits."""
    if prof is None:
        return []
    try:
        from scope_tui.patterns.when import select

        return list(select(project, task, prof, use_model=False).composition)
    except Exception:  # the library's own problems are reported by it (scope skills), not here
        return []


# --- spawn time ------------------------------------------------------------------------------------
def catch_up(project: Project, name: str) -> list[str]:
    """Learn now from the agent's sessions in `project` that ended without it: after a reboot or a killed
    tmux server no worker is left to run after_terminal, and the reconcile that marks them lost sits in a
    layer below the agents. Returns their ids."""
    from scope_tui.substrate.reconcile import reconcile

    listed = sessions.list_all(project)
    reconcile(project, listed)  # marks sessions whose pane or server is gone, in `listed` too
    # only a reconcile ends a session without the agent (it marks it lost or crashed): those alone are
    # checked for the marker, which reads their events
    missed = [
        s
        for s in listed
        if s.meta.get("agent") == name
        and s.status == "failed"
        and s.state.get("reason") in ("lost", "crashed")
        and not _marker(s.dir).exists()
    ]
    for s in missed:
        after_terminal(project, s.dir)
    return [s.id for s in missed]


def prepare_session(project: Project, session: sessions.Session) -> None:
    """Before launch: for a session with an agent, write prompt.md and pick the agent's own skill; first,
    the agent learns from any of its sessions here that ended without it (catch_up)."""
    name = session.meta.get("agent")
    if not name:
        return
    check(name)
    catch_up(project, name)
    d = home.agent_dir(name)
    problems: list[str] = []
    cfg = home.load_config(problems)
    with home.Lock(d):
        mine, sk_problems = own_skills.own(d, project)
        problems += sk_problems
        memory.pull_patches(d, name, project, memory.used_skills(d, project) | set(mine), problems)
    hr = memory.read_heuristics(d)
    if hr.problem:
        problems.append(hr.problem)
    heur = hr.value["heuristics"]
    task = session.task()
    threshold = float(cfg["skills"].get("match_threshold", 0.5))
    prof, fields = task_profile(session)
    best, cands, _ = own_skills.match(d, project, task, fields, heur, threshold)
    given = session.meta.get("skill")
    base: list[str] = []
    if best:
        choice = f"own skill {best.name} v{best.version}"
        why = f"{name}'s own skill {best.name} matches ({'; '.join(best.reasons) or 'criteria met'})"
        if given and given != best.name:
            why += (
                f"; --skill {given} was asked for and is kept, {best.name}'s procedure goes into the prompt"
            )
        session.meta["agent_skill"] = {
            "name": best.name,
            "version": best.version,
            "root": str(own_skills.root(d)),
        }
        if not given:
            session.meta["skill"] = best.name
            session.meta["skill_version"] = best.version
            session.meta["skill_root"] = str(own_skills.root(d))
    else:
        choice = "base patterns"
        top = f" (best: {cands[0].name} at {cands[0].score:.2f} < {threshold})" if cands else ""
        base = [given] if given else base_choice(project, task, prof)
        why = f"no own skill of {name} matches this task{top}: base patterns" + (
            f" ({' -> '.join(base)}{' as asked' if given else ', by the library'})" if base else ""
        )
    events.append(
        session.dir,
        "decision",
        by="agent",
        agent=name,
        choice=choice,
        skill=best.name if best else given,
        source="agent" if best else "base",
        base=None if best else base,
        why=why,
        candidates=[c.as_dict() for c in cands[:5]],
    )
    st = growth.read_stats(d)
    stage = (
        growth.stage_for(growth.measures(name, st.value, heur, cfg), cfg)
        if not st.problem
        else str(st.value.get("stage") or "junior")
    )
    lim = growth.asks(stage, cfg)
    if lim:  # a junior asks sooner: its supervisor's monitor (ooda/monitor.py) reads these limits
        session.meta["asks"] = lim
    ver = relationships.verifier(d, name)
    if ver:  # a maker-checker run of this agent's is checked by the agent its relationships name
        session.meta["checker_agent"] = {"name": ver[0], "why": ver[1]}
    write_json(session.dir / sessions.META, session.meta)
    in_play = {best.name} if best else {*base, *([given] if given else [])}
    write_text(
        session.dir / sessions.PROMPT,
        render_prompt(project, session, name, d, cfg, heur, best, problems, in_play),
    )
    _report(session.dir, name, problems)


def carry(project: Project, session: sessions.Session) -> None:
    """A session that works for an agent's task without being one (a pattern engine's mapper or checker,
    an orchestrator's child, what the agent's own worker spawns: meta `works_for`, set by substrate.spawn
    from the parent) gets the agent's prompt.md too, chosen for its own task and the skills in play.
    It grows no stats and makes no skill: the agent's task is the session that names it in `agent`.
    A command worker calls no model and gets nothing."""
    name = session.meta.get("works_for")
    if not name or session.meta.get("driver") == "command" or (session.dir / sessions.PROMPT).exists():
        return
    try:
        check(str(name))
    except UsageError as exc:
        events.append(session.dir, "agent_problem", agent=name, problems=[str(exc)])
        return
    d = home.agent_dir(str(name))
    problems: list[str] = []
    cfg = home.load_config(problems)
    hr = memory.read_heuristics(d)
    if hr.problem:
        problems.append(hr.problem)
    heur = hr.value["heuristics"]
    _, fields = task_profile(session)
    threshold = float(cfg["skills"].get("match_threshold", 0.5))
    mine = session.meta.get("agent_skill") or {}
    if mine.get("name"):  # the own skill the agent's task runs (inherited from the parent)
        best: own_skills.Candidate | None = own_skills.Candidate(
            str(mine["name"]), int(mine.get("version") or 1), 1.0, ["the task's own skill"]
        )
    else:
        best, _, _ = own_skills.match(d, project, session.task(), fields, heur, threshold)
    in_play = {
        str(x)
        for x in (session.meta.get("skill"), session.meta.get("pattern"), best.name if best else None)
        if x
    }
    text = render_prompt(project, session, str(name), d, cfg, heur, best, problems, in_play)
    write_text(session.dir / sessions.PROMPT, text)
    events.append(session.dir, "agent_carried", agent=name, skills=sorted(in_play), chars=len(text))
    _report(session.dir, str(name), problems, stderr=False)


def applies(rec: dict[str, Any], project: Project, in_play: set[str]) -> bool:
    """A heuristic or failure applies to a task when it is of this project (or of none) and of a skill in
    play (or of none): a map-reduce rule reaches a map-reduce mapper, not a ralph iteration."""
    proj, skill = rec.get("project"), rec.get("skill")
    return (not proj or proj == str(project.home)) and (not skill or skill in in_play)


def _bounded(lines: list[str], budget: list[int]) -> list[str]:
    """The newest lines that fit in what is left of the memory's budget (chars), in their order."""
    kept: list[str] = []
    for line in reversed(lines):
        if len(line) + 1 > budget[0]:
            break
        budget[0] -= len(line) + 1
        kept.append(line)
    return kept[::-1]


def render_prompt(
    project: Project,
    session: sessions.Session,
    name: str,
    d: Path,
    cfg: dict[str, Any],
    heur: list[dict[str, Any]],
    best: own_skills.Candidate | None,
    problems: list[str],
    in_play: set[str] | None = None,
) -> str:
    """prompt.md: who the agent is and what it has learned, for every driver to add to its prompt.

    Memory is filtered to what applies (`applies`: this project, the skills in play) and bounded by
    [memory] prompt_tokens (about four characters a token), newest first."""
    in_play = set(in_play or ())
    budget = [int(cfg["memory"].get("prompt_tokens", 1500)) * 4]
    st = growth.read_stats(d)
    if st.problem:
        problems.append(st.problem)
    stats = st.value
    try:
        _, id_text = identity.read(name)
    except OSError as exc:
        id_text = f"(identity.md unreadable: {exc})"
        problems.append(f"identity.md: {exc}")
    out = [
        f"# You are {name}, a persistent agent",
        "",
        f"Stage {stats.get('stage', 'junior')}; {stats.get('tasks', 0)} tasks so far, "
        f"{growth.success_rate(stats):.0%} of judged ones successful. You keep what you learn between tasks.",
        "",
        "## Your identity",
        "",
        id_text.strip(),
        "",
    ]
    loads_itself = session.meta.get("skill") == best.name if best else False
    if best is not None and not (loads_itself and session.meta.get("driver") in ("builtin", "claude")):
        # the builtin and claude drivers load meta skill themselves (from skill_root): no second copy
        try:
            from scope_tui.patterns import skill_files

            sk = skill_files.load(project, best.name, agent_skill_root=own_skills.root(d))
            out += [f"## Your own skill for this task: {best.name} v{best.version}", "", sk.body.strip(), ""]
        except UsageError as exc:
            problems.append(str(exc))
    ctx = memory.read_context(d, project)
    if ctx.problem:
        problems.append(ctx.problem)
    elif ctx.value.get("tasks"):
        c = ctx.value
        used = ", ".join(sorted(c.get("skills_used") or {})) or "none"
        out += [
            "## This project",
            "",
            f"You have done {c['tasks']} tasks here ({c.get('done', 0)} done, "
            f"{c.get('failed', 0)} failed); skills used here: {used}.",
        ]
        out += [f"- note: {n}" for n in (c.get("notes") or [])[-5:]]
        out += [f"- recent: {r}" for r in (c.get("recent") or [])[-3:]]
        out.append("")
    k = int(cfg["memory"].get("prompt_heuristics", 20))
    fr = memory.read_failures(d)
    if fr.problem:
        problems.append(fr.problem)
    fails = [f for f in fr.value["failures"] if applies(f, project, in_play)]
    fails = fails[-int(cfg["memory"].get("prompt_failures", 10)) :]
    avoid = _bounded([f"- {f.get('avoid') or f.get('task', '')}" for f in fails], budget)
    rules = [f"- {h.get('text', '')}" for h in heur if applies(h, project, in_play)][-k:]
    rules = _bounded(rules, budget)
    if rules:
        out += ["## Heuristics you have learned", "", *rules, ""]
    if avoid:
        out += ["## Failures to avoid", "", *avoid, ""]
    rr = relationships.read(d)
    if rr.problem:
        problems.append(rr.problem)
    rels = {k: v for k, v in rr.value.items() if isinstance(v, dict) and k != name}
    if rels:
        out += ["## Who you work with", ""]
        out += [f"- {relationships.describe(k, v)}" for k, v in sorted(rels.items())]
        out += [
            "",
            "Hand a part to one of them with `scope spawn --agent NAME TASK` (then `scope wait ID`).",
            "",
        ]
    return "\n".join(out)


# --- the end of a task -----------------------------------------------------------------------------
def _marker(session_dir: Path) -> Path:
    """The file that says the agent has learned from this run of the session (a restart starts a new run)."""
    runs = sum(1 for e in events.read_all(session_dir) if e.get("type") == "restart")
    return session_dir / (MARKER if not runs else f"{MARKER}.{runs}")


def _once(session_dir: Path) -> bool:
    """True for the first caller per run of the session (a restart starts a new run: a new attempt)."""
    marker = _marker(session_dir)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.write(fd, f"{time.time():.3f} {os.getpid()}\n".encode())
    os.close(fd)
    return True


def _children(project: Project, sid: str) -> list[sessions.Session]:
    return [x for x in sessions.list_all(project) if ids.parent_of(x.id) == sid and not x.corrupt]


def _handed(project: Project, s: sessions.Session) -> list[sessions.Session]:
    """The tasks of other agents under this one with no agent's task between: what the agent handed out
    itself (a spawn) or through its run (a DAG node or a map-reduce part given to an agent by strength)."""
    below = [x for x in sessions.list_all(project) if x.id.startswith(s.id + ".") and not x.corrupt]
    tasks = [x.id for x in below if x.meta.get("agent")]
    return [x for x in below if x.meta.get("agent") and not any(x.id.startswith(t + ".") for t in tasks)]


def _skills_used(project: Project, s: sessions.Session) -> list[str]:
    used = [s.meta.get("skill")] + [x.meta.get("skill") for x in _children(project, s.id)]
    return sorted({str(u) for u in used if u})


def _deviations(project: Project, s: sessions.Session) -> list[str]:
    """The deviation signatures of the run: its own and its workers' (a heuristic's effect is judged on them)."""
    found: list[str] = []
    for x in [s, *_children(project, s.id)]:
        for e in events.read_all(x.dir):
            sig = e.get("signature") if e.get("type") == "deviation" else None
            if sig and str(sig) not in found:
                found.append(str(sig))
    return found


def _verified(s: sessions.Session) -> dict[str, Any] | None:
    """The learning layer's verdict on the session (score, verifier, detail), None without a verifier."""
    try:
        from scope_tui.gepa.scores import verify

        v = verify(s)
    except Exception:  # a verifier that cannot run says nothing about the agent
        return None
    return None if v is None else {**v, "score": float(v["score"])}


def _avoid(s: sessions.Session, project: Project, verified: dict[str, Any] | None = None) -> str:
    """One line of what not to do. A reflection's adjustment comes first (the model's when one wrote it,
    gepa.online); failing that the session's reason, its last error and its approach."""
    reason = s.state.get("reason") or (
        f"{verified['verifier']}: {verified['detail']}" if verified and s.status == "done" else s.status
    )
    from scope_tui.gepa.reflection import adjustment

    for e in reversed(events.read_all(s.dir)):
        if e.get("type") == "reflection":
            adj = str(e.get("adjustment") or adjustment(str(e.get("text") or "")))
            if adj.strip():
                return f"'{sessions.first_line(s.task(), 60)}' failed ({reason}); next time: {adj[:200]}"
    last_err = ""
    for e in reversed(events.read_all(s.dir)):
        if e.get("type") in ("error", "escalation", "deviation"):
            last_err = str(e.get("error") or e.get("details") or e.get("actual") or e.get("reason") or "")
            break
    approach = "; ".join(own_skills.trajectory(project, s)[:4])
    line = f"'{sessions.first_line(s.task(), 60)}' failed ({reason})"
    if s.meta.get("skill"):
        line += f" with skill {s.meta['skill']}"
    if last_err:
        line += f": {last_err[:120]}"
    if approach:
        line += f". Do not repeat: {approach[:200]}"
    return line


def _verdict(s: sessions.Session) -> tuple[bool, str]:
    """(whether the checker session `s` accepted the work, what failed: gates and criteria, one line)."""
    got: dict[str, Any] = {}
    for e in reversed(events.read_all(s.dir)):
        if e.get("type") == "verdict" and "accepted" in e:
            got = e
            break
    if not got:
        r = home.read_json(s.dir / "verdict.json", {})
        got = r.value if not r.problem and "accepted" in r.value else {"accepted": s.status == "done"}
    failed = [f"gate {g}" for g in got.get("failed_gates") or []] + [
        f"criterion {c}" for c in got.get("failed_criteria") or []
    ]
    detail = ("failed " + ", ".join(map(str, failed)))[:200] if failed else ""
    return bool(got["accepted"]), detail


def _model_skill_text(project: Project, s: sessions.Session, steps: list[str]) -> str | None:
    """A model writes the new skill's prompt when one is configured (not offline); None otherwise."""
    try:
        from scope_tui.models import for_session
        from scope_tui.models.select import OFFLINE, backend_for
        from scope_tui.store import config

        requested = str(s.meta["model"]) if s.meta.get("model") else None
        if backend_for(config.load(project.config_path), requested) == OFFLINE:
            return None  # offline: the skill is written from the trajectory's events instead
        model = for_session(project, s.meta, "operational")
        ask = (
            "Write a short reusable skill prompt (Markdown, no front matter) from this successful run.\n"
            f"Task: {s.task()[:2000]}\nSteps that worked:\n" + "\n".join(f"- {x}" for x in steps)
        )
        reply = model.complete(
            [{"role": "user", "content": ask}], system="You distil procedures.", max_tokens=800
        )
        text = str(getattr(reply, "text", "") or "").strip()
        return text + "\n" if text else None
    except Exception:
        return None


def _refine(
    project: Project, s: sessions.Session, d: Path, name: str, verified: dict[str, Any]
) -> str | None:
    """Propose what a verified success of own skill `name` teaches as a line of its Learned rules, through
    the path learning uses (gepa.patches: a candidate version tested against its parent, then the
    person's approval or auto_approve writes the next version; none is overwritten). The line is the
    model's when one is configured, else what the run did. Returns the patch id, or None."""
    from scope_tui.gepa.patches import propose_rule

    steps = own_skills.trajectory(project, s)
    task = sessions.first_line(s.task(), 60)
    line = _model_refinement(project, s, d, name, steps) or (
        f"Verified on '{task}' ({verified['verifier']} {verified['score']:.2f}): "
        + ("; ".join(steps[:4]) or "the procedure as written")[:200]
    )
    patch = propose_rule(
        project,
        name,
        sessions.first_line(line, 300),
        session=s.id,
        root=own_skills.root(d),
        signature="refine:" + "-".join(home.keywords(s.task(), 4)),
        kind="refinement",
    )
    return str(patch["id"]) if patch else None


def _model_refinement(
    project: Project, s: sessions.Session, d: Path, name: str, steps: list[str]
) -> str | None:
    """One line a model writes to improve own skill `name` from a verified success; None offline."""
    try:
        from scope_tui.models import for_session
        from scope_tui.models.select import OFFLINE, backend_for
        from scope_tui.patterns import skill_files
        from scope_tui.store import config

        requested = str(s.meta["model"]) if s.meta.get("model") else None
        if backend_for(config.load(project.config_path), requested) == OFFLINE:
            return None
        body = skill_files.load(project, name, agent_skill_root=own_skills.root(d)).body
        ask = (
            "This skill worked, and its verifier passed it, on the task below. Write ONE line to add to "
            "its Learned rules that keeps what made it work for tasks like this (no preamble).\n\n"
            f"Skill:\n{body[:3000]}\n\nTask: {s.task()[:1000]}\nSteps that worked:\n"
            + "\n".join(f"- {x}" for x in steps)
        )
        reply = for_session(project, s.meta, "operational").complete(
            [{"role": "user", "content": ask}], system="You refine procedures.", max_tokens=200
        )
        text = str(getattr(reply, "text", "") or "").strip().strip("-* ").strip()
        return sessions.first_line(text, 300) if text else None
    except Exception:
        return None


def after_terminal(project: Project, session_dir: Path) -> None:
    """Once the session is terminal: the agent's update (experience, memory, skills, relationships)."""
    s = sessions.load_dir(session_dir)
    name = s.meta.get("agent")
    if not name or s.corrupt or not s.terminal:
        return
    if not home.exists(name):
        events.append(session_dir, "agent_problem", agent=name, problems=[f"no agent {name!r} any more"])
        return
    if not _once(session_dir):
        return
    d = home.agent_dir(name)
    problems: list[str] = []
    cfg = home.load_config(problems)
    update: dict[str, Any] = {"agent": name, "status": s.status}
    others: list[tuple[str, dict[str, Any]]] = []
    verified = _verified(s)
    with home.Lock(d):
        # a success is one its verifier (gepa.scores: checks, a checker's verdict, expect, the person)
        # did not fail: ending done with a failing check teaches what not to do, not a skill
        success = s.status == "done" and (verified is None or verified["score"] >= 0.5)
        if verified is not None:
            update["verified"] = {k: verified[k] for k in ("score", "verifier", "detail")}
        # experience
        st = growth.read_stats(d)
        stats = st.value
        if st.problem:
            problems.append(st.problem)
        else:
            stats["tasks"] += 1
            key = "done" if success else "failed" if s.status in FAILED else "killed"
            stats[key] += 1
            stats["history"] = (
                stats["history"]
                + [
                    {
                        "session": s.id,
                        "project": str(project.home),
                        "status": s.status,
                        "skill": s.meta.get("skill"),
                        "score": verified["score"] if verified is not None else None,
                        "deviations": _deviations(project, s),
                        "t": round(time.time(), 3),
                    }
                ]
            )[-growth.HISTORY :]
        update["experience"] = stats["tasks"]
        # project context
        used = _skills_used(project, s)
        ctx = memory.read_context(d, project)
        if ctx.problem:
            problems.append(ctx.problem)
        else:
            c = ctx.value
            c["tasks"] += 1
            c["done" if success else "failed"] = c.get("done" if success else "failed", 0) + (
                1 if success or s.status in FAILED else 0
            )
            for u in used:
                c["skills_used"][u] = int(c["skills_used"].get(u, 0)) + 1
            c["recent"] = (c["recent"] + [f"{s.id} {s.status}: {sessions.first_line(s.task(), 60)}"])[-10:]
            home.write(memory.context_path(d, project), c)
        # own skills: used one, or a novel success becomes one
        mine, sk_problems = own_skills.own(d, project)
        problems += sk_problems
        used_own = (s.meta.get("agent_skill") or {}).get("name")
        if used_own and used_own in mine:
            lin = own_skills.record_use(d, used_own, success, cfg)
            update["skill_used"] = {"name": used_own, "uses": lin["uses"], "status": lin["status"]}
            if success and verified is not None:  # a verified success refines the skill it ran with
                pid = _refine(project, s, d, used_own, verified)
                if pid:
                    update["refinement_patch"] = pid
        elif success:
            steps = own_skills.trajectory(project, s)
            sk = own_skills.extract(d, name, project, s, model_text=_model_skill_text(project, s, steps))
            update["new_skill"] = {"name": sk.name, "version": sk.version, "status": "evolving"}
        # memory: failures and reflections
        if s.status in FAILED or not success and s.status == "done":
            rec = {
                "task": sessions.first_line(s.task(), 100),
                "session": s.id,
                "project": str(project.home),
                "status": s.status,
                "reason": s.state.get("reason") or (verified or {}).get("detail"),
                "skill": s.meta.get("skill"),
                "avoid": _avoid(s, project, verified),
            }
            if memory.add_failure(d, rec, problems):
                update["failure_recorded"] = rec["avoid"]
        new_h = []
        for e in events.read_all(session_dir):
            if e.get("type") == "reflection":
                from scope_tui.gepa.reflection import adjustment

                # the heuristic is the reflection's actionable sentence, keyed by its deviation
                text = str(e.get("adjustment") or adjustment(str(e.get("text") or e.get("reflection") or "")))
                if text.strip():
                    new_h.append(
                        {
                            "text": sessions.first_line(text, 200),
                            "source": "reflection",
                            "ref": f"{s.id}#{e.get('seq')}",
                            "skill": s.meta.get("skill"),
                            "project": str(project.home),
                            **({"key": str(e["signature"])} if e.get("signature") else {}),
                        }
                    )
        if success and s.meta.get("skill") and not used_own:
            words = ", ".join(home.keywords(s.task(), 4))
            new_h.append(
                {
                    "text": f"{s.meta['skill']} worked for a task about {words}",
                    "source": "success",
                    "ref": s.id,
                    "skill": s.meta.get("skill"),
                    "project": str(project.home),
                }
            )
        added = memory.add_heuristics(d, new_h, problems) if new_h else 0
        pulled = memory.pull_patches(d, name, project, set(used) | set(mine), problems)
        if added or pulled:
            update["heuristics_added"] = added
            update["patches_pulled"] = pulled
        limit = int(cfg["memory"].get("consolidate_after", 40))
        pid = memory.maybe_consolidate(d, name, project, limit, problems, session=s.id)
        if pid:
            update["consolidation_patch"] = pid
        # relationships: whom it spawned, whom it verified
        rels = []
        for ch in _handed(project, s):
            other = ch.meta.get("agent")
            if other and other != name:
                v = _verified(ch)  # the part's verifier, when it has one, says whether it worked
                ok = ch.status == "done" and (v is None or v["score"] >= 0.5)
                result = ch.status if v is None else f"{ch.status}, {v['verifier']} scored {v['score']:.2f}"
                relationships.update(
                    d,
                    other,
                    problems,
                    spawned=1,
                    spawned_ok=int(ok),
                    topics=home.keywords(ch.task(), 3),
                    outcome={"what": "I handed them", "session": ch.id, "result": result, "ok": ok},
                )
                rels.append(f"spawned {other} ({ch.id}, {result})")
        if s.meta.get("role") == "checker" and s.parent:
            accepted, detail = _verdict(s)
            for sib in _children(project, s.parent):
                m = sib.meta.get("agent") or sib.meta.get("works_for")
                if s.meta.get("verifies") and sib.id != s.meta["verifies"]:
                    continue  # a checker judges one attempt: the maker it was given
                if sib.meta.get("role") == "maker" and m and m != name:
                    said = {"session": sib.id, "result": "accepted" if accepted else "rejected", "by": s.id}
                    if detail:
                        said["detail"] = detail
                    relationships.update(
                        d,
                        m,
                        problems,
                        verifies=True,
                        verified=1,
                        accepted=int(accepted),
                        outcome={"what": "I verified", **said},
                    )
                    others.append(
                        (
                            m,
                            {
                                "verified_by": 1,
                                "accepted_by": int(accepted),
                                "outcome": {"what": f"{name} verified", **said},
                            },
                        )
                    )
                    rels.append(f"verified {m} ({sib.id}: {said['result']})")
        if rels:
            update["relationships"] = rels
        # stage
        hr = memory.read_heuristics(d)
        m = growth.measures(name, stats, hr.value["heuristics"], cfg)
        stage = growth.stage_for(m, cfg)
        if not st.problem:
            if stage != stats.get("stage"):
                update["stage_change"] = f"{stats.get('stage')} -> {stage}"
            stats["stage"] = stage
            home.write(d / growth.STATS, stats)
        update["stage"] = stage
    if s.status == "escalated" and not s.parent:  # it went to the person; `reports to`: the manager too
        from scope_tui.agents.reports import route

        try:
            routed = route(
                project, s, str(s.state.get("reason") or "stuck"), str(s.state.get("details") or "")
            )
        except Exception as exc:  # the person has heard it already (the status); a routing error is said
            problems.append(f"routing the escalation: {exc}")
            routed = None
        if routed:
            update["escalation_routed"] = routed
    for other, changes in others:  # the other side of a verification, under that agent's own lock
        if home.exists(other):
            od = home.agent_dir(other)
            with home.Lock(od):
                relationships.update(od, name, problems, **changes)
    if problems:
        update["problems"] = problems
    events.append(session_dir, "agent_update", **update)
    _report(None, name, problems, stderr=False)
