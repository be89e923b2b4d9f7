"""An agent's own skills: a skill root (`<agent>/skills/<name>/vN.md` + lineage.json) read with the
patterns layer's loader, matched against a task before the base patterns, extracted from what worked.

lineage.json of an own skill holds the loader's `versions` plus the agent's bookkeeping:
    {"name", "versions": {"1": {...}}, "owner": "alice", "forked_from": "rlm" | null,
     "created_after": "task 3.2 in /path/to/project", "keywords": [...],
     "uses": 4, "successes": 3, "status": "evolving" | "stable", "given_by": null}
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.agents import home
from scope_tui.patterns import skill_files
from scope_tui.store import events, ids, sessions
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project

SKILLS = "skills"


def root(d: Path) -> Path:
    return d / SKILLS


def own(d: Path, project: Project | None) -> tuple[dict[str, skill_files.Skill], list[str]]:
    """The agent's own skills (latest version each) and one line per broken file in its root."""
    r = root(d)
    found, errors = skill_files.load_all(project, agent_skill_root=r)
    mine = {n: s for n, s in found.items() if s.root is not None and Path(s.root) == r}
    problems = [str(e) for e in errors if r in Path(e.file).parents]
    return mine, problems


def read_lineage(d: Path, name: str) -> dict[str, Any]:
    r = home.read_json(root(d) / name / skill_files.LINEAGE, {"name": name, "versions": {}})
    v = r.value
    v.setdefault("uses", 0)
    v.setdefault("successes", 0)
    v.setdefault("status", "evolving")
    return v


def _update_lineage(d: Path, name: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """The agent's bookkeeping in lineage.json, through its one writer (patterns.skill_files, its lock)."""

    def edit(data: dict[str, Any]) -> None:
        for k, v in (("uses", 0), ("successes", 0), ("status", "evolving")):
            data.setdefault(k, v)
        change(data)

    return skill_files.update_lineage(root(d), name, edit)


# --- matching --------------------------------------------------------------------------------------
def judge(criterion: str, prof: dict[str, Any]) -> bool | None:
    """True / False for a predicate the profile decides (the patterns layer's safe evaluator); None for prose."""
    from scope_tui.patterns.when import NotPredicate, predicate

    try:
        return predicate(criterion, prof)
    except (NotPredicate, TypeError, ZeroDivisionError):
        return None


@dataclass
class Candidate:
    name: str
    version: int
    score: float
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "skill": self.name,
            "version": self.version,
            "score": round(self.score, 2),
            "reasons": self.reasons,
        }


def score(
    sk: skill_files.Skill, task: str, prof: dict[str, Any], heuristics: list[dict[str, Any]]
) -> Candidate:
    """How well one own skill fits the task: its keywords and WHEN criteria, nudged by heuristics."""
    words = set(home.keywords(task, limit=64))
    c = Candidate(sk.name, sk.version, 0.0)
    kws = [home.stem(str(k).lower()) for k in (sk.front.get("keywords") or [])]
    parts: list[float] = []
    if kws:
        hit = [k for k in kws if k in words]
        parts.append(len(hit) / len(kws))
        c.reasons.append(f"keywords {len(hit)}/{len(kws)}" + (f" ({', '.join(hit)})" if hit else ""))
    for crit in sk.when:
        verdict = judge(crit, prof)
        if verdict is None:
            from scope_tui.patterns.when import judge_numbers

            sized = judge_numbers(crit, prof)  # a size the prose names, against the measured profile
            if sized is not None:
                parts.append(1.0 if sized[0] else 0.0)
                c.reasons.append(f"{crit[:40]!r}: {'yes' if sized[0] else 'no'} ({sized[1]})")
                continue
            cw = set(home.keywords(crit, limit=32))
            if cw and not kws:  # prose criterion: judged by shared words (offline)
                share = len(cw & words) / len(cw)
                parts.append(share)
                c.reasons.append(f"prose {crit[:40]!r}: {share:.0%} of its words")
            continue
        parts.append(1.0 if verdict else 0.0)
        c.reasons.append(f"{crit}: {'yes' if verdict else 'no'}")
        if not verdict:
            parts.append(0.0)  # a failed predicate weighs twice
    c.score = sum(parts) / len(parts) if parts else 0.0
    for h in heuristics:
        text = str(h.get("text", "")).lower()
        if sk.name in text and words & set(home.keywords(text, limit=32)):
            c.score += 0.1
            c.reasons.append(f"heuristic {h.get('id', '?')} favours it")
            break
    return c


def match(
    d: Path,
    project: Project | None,
    task: str,
    prof: dict[str, Any],
    heuristics: list[dict[str, Any]],
    threshold: float,
) -> tuple[Candidate | None, list[Candidate], list[str]]:
    """(best own skill at or above `threshold` or None, every candidate best first, problems)."""
    mine, problems = own(d, project)
    cands = sorted((score(sk, task, prof, heuristics) for sk in mine.values()), key=lambda c: -c.score)
    best = cands[0] if cands and cands[0].score >= threshold else None
    return best, cands, problems


# --- use and growth of a skill ---------------------------------------------------------------------
def record_use(d: Path, name: str, success: bool, cfg: dict[str, Any]) -> dict[str, Any]:
    """Count one use of an own skill; it turns stable after enough successful uses."""
    s = cfg.get("skills", {})

    def count(lin: dict[str, Any]) -> None:
        lin["uses"] = int(lin.get("uses", 0)) + 1
        lin["successes"] = int(lin.get("successes", 0)) + (1 if success else 0)
        rate = lin["successes"] / lin["uses"]
        if lin["uses"] >= int(s.get("stable_after_uses", 5)) and rate >= float(
            s.get("stable_success_rate", 0.8)
        ):
            lin["status"] = "stable"
        elif lin.get("status") == "stable" and rate < float(s.get("stable_success_rate", 0.8)):
            lin["status"] = "evolving"
        lin["last_used"] = round(time.time(), 3)

    return _update_lineage(d, name, count)


# --- extraction ------------------------------------------------------------------------------------
def trajectory(project: Project, s: sessions.Session) -> list[str]:
    """What the session and its descendants did, as short steps in order: decisions, patterns, spawns,
    commands and tool uses (with what they ran), repeats folded into counts; model calls left out."""
    subtree = [x for x in sessions.list_all(project) if x.id == s.id or ids.is_descendant(x.id, s.id)]
    steps: list[str] = []
    last_kind, run = "", 0

    def flush() -> None:
        nonlocal last_kind, run
        if last_kind:
            steps.append(f"{last_kind} (×{run})" if run > 1 else last_kind)
        last_kind, run = "", 0

    for x in subtree:
        where = (
            ""
            if x.id == s.id
            else f" (in {x.id}{', ' + str(x.meta.get('role')) if x.meta.get('role') else ''})"
        )
        if x.id != s.id and x.meta.get("skill"):
            flush()
            steps.append(f"child {x.id} follows pattern {x.meta['skill']}: {x.title[:60]}")
        for e in events.read_all(x.dir):
            t = e.get("type")
            if t == "llm_call":
                continue
            if t in ("peek", "grep", "partition", "tool_call"):
                kind = _action(e) + where
                if kind == last_kind:
                    run += 1
                else:
                    flush()
                    last_kind, run = kind, 1
                continue
            flush()
            if t == "decision" and e.get("by") == "agent":
                continue  # the agent's own skill choice, not part of what worked
            if t == "decision":
                what = str(e.get("what") or e.get("choice") or e.get("decision") or e.get("chosen") or "")
                skill = str(e.get("skill") or "")
                if skill and skill not in what:
                    what = f"{what} ({skill})" if what else skill
                why = str(e.get("why") or e.get("reason") or "")[:120]
                if what or why:
                    steps.append(f"decided {what}{' because ' + why if why else ''}{where}".strip())
            elif t == "spawn" and e.get("child"):
                steps.append(f"spawned {e['child']}: {str(e.get('title', ''))[:60]}")
            elif t == "exec" and e.get("cmd"):
                steps.append(f"ran `{str(e['cmd'])[:80]}`{where}")
            elif t == "verdict":
                steps.append(f"checker verdict: {'accepted' if e.get('accepted') else 'rejected'}{where}")
        flush()
    out: list[str] = []
    for st in steps:  # drop immediate repeats
        if not out or out[-1] != st:
            out.append(st)
    return out[:30]


def _action(e: dict[str, Any]) -> str:
    """'grep: `grep -c ERROR log.txt`' — an action event with what it ran, when the event says."""
    raw = e.get("input")
    inp: dict[str, Any] = raw if isinstance(raw, dict) else {}
    what = e.get("cmd") or e.get("code") or inp.get("command") or inp.get("path") or inp.get("pattern")
    tool = e.get("tool") or ""
    if tool == "finish":
        return "finished with the result"
    kind = str(e.get("type", "")).replace("_", " ")
    label = f"{kind} ({tool})" if tool and tool not in ("bash",) and kind == "tool call" else kind
    if what:
        first = str(what).strip().splitlines()[0] if str(what).strip() else ""
        return f"{label}: `{first[:80]}`"
    return label


def unique_name(d: Path, project: Project | None, words: list[str]) -> str:
    base = "-".join(words[:2]) or "skill"
    base = re.sub(r"[^a-z0-9_-]+", "-", base.lower()).strip("-")[:30] or "skill"
    known, _ = skill_files.load_all(project, agent_skill_root=root(d))
    name, n = base, 2
    while name in known or (root(d) / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def render(
    name: str,
    agent: str,
    task: str,
    words: list[str],
    base: str | None,
    steps: list[str],
    origin: str,
    body: str | None = None,
    rules: dict[str, Any] | None = None,
) -> str:
    """A skill file in the shipped format (TOML front matter, then the prompt); `rules` (the parent
    skill's, so the deviation detector and GEPA's loop refine it like any other) as its [rules] table."""
    desc = f"{agent}'s own skill, {origin}"
    when = [f"The task is about {', '.join(words[:4])}"] if words else []
    fm = [
        "+++",
        f"name = {json.dumps(name)}",
        "version = 1",
        f"description = {json.dumps(desc)}",
        f"when = {json.dumps(when)}",
        f"keywords = {json.dumps(words)}",
        f"base = {json.dumps(base or '')}",
        f"owner = {json.dumps(agent)}",
    ]
    flat = {k: v for k, v in (rules or {}).items() if isinstance(v, (bool, int, float, str, list))}
    if flat:
        fm += ["", "[rules]"] + [f"{k} = {json.dumps(v)}" for k, v in flat.items()]
    fm += ["+++"]
    if body is None:
        first = sessions.first_line(task, 100)
        lines = [
            f"# {name}",
            "",
            f'A procedure that worked for: "{first}".',
            "",
        ]
        if base:
            lines += [f"Start from the {base} pattern; what follows is how it went when it worked.", ""]
        lines.append("## What worked, in order")
        lines.append("")
        lines += [f"{i}. {st}" for i, st in enumerate(steps, 1)] or [
            "1. Do the task directly, then check the result."
        ]
        lines += ["", "Repeat what worked; where this task differs, say so before you deviate.", ""]
        body = "\n".join(lines)
    return "\n".join(fm) + "\n" + body


def extract(
    d: Path, agent: str, project: Project, s: sessions.Session, *, model_text: str | None = None
) -> skill_files.Skill:
    """Save a new own skill (v1, evolving) made from what the successful session did; returns it."""
    task = s.task()
    words = home.keywords(task, limit=4)  # few, distinctive: half of them must recur to match
    library = skill_files.load_all(project)[0]
    base = s.meta.get("skill") if s.meta.get("skill") in library else None
    steps = trajectory(project, s)
    name = unique_name(d, project, words)
    origin = f"created after task {s.id}" + (f", forked from {base}" if base else "")
    rules: dict[str, Any] = {}
    if base:  # the parent's rules as the task ran them (its version), learned ones included
        try:
            rules = skill_files.load(project, str(base), s.meta.get("skill_version")).rules
        except UsageError:
            rules = dict(library[str(base)].rules)
    text = render(name, agent, task, words, base, steps, origin, body=model_text, rules=rules)
    skill = skill_files.write_version(
        project, name, text, {"origin": "agent", "parent": None}, agent_skill_root=root(d)
    )
    fields = {
        "owner": agent,
        "forked_from": base,
        "created_after": f"task {s.id} in {project.home}",
        "keywords": words,
        "uses": 0,
        "successes": 0,
        "status": "evolving",
        "given_by": None,
    }
    _update_lineage(d, name, lambda lin: lin.update(fields))
    return skill


def give(giver_dir: Path, giver: str, to_dir: Path, name: str, project: Project | None) -> str:
    """Copy the giver's latest version of own skill `name` into another agent's skills (as its v1,
    lineage "given by <giver>"); returns the name it got there."""
    mine, _ = own(giver_dir, project)
    if name not in mine:
        from scope_tui.store.errors import UsageError

        raise UsageError(f"{giver} has no own skill {name!r} (see 'scope agent show {giver}')")
    sk = mine[name]
    assert sk.path is not None
    target = name
    n = 2
    while (root(to_dir) / target).exists():
        target, n = f"{name}-{n}", n + 1
    text = sk.path.read_text()
    if target != name:
        text = text.replace(f"name = {json.dumps(name)}", f"name = {json.dumps(target)}", 1)
    skill_files.write_version(  # with an agent root the project only numbers versions; None is fine there
        project,  # type: ignore[arg-type]
        target,
        text,
        {"origin": "agent", "parent": None},
        agent_skill_root=root(to_dir),
    )
    src = read_lineage(giver_dir, name)
    fields = {
        "owner": to_dir.name,
        "forked_from": src.get("forked_from"),
        "given_by": giver,
        "source_skill": name,
        "created_after": f"given by {giver} ({name} v{sk.version})",
        "keywords": src.get("keywords", []),
        "uses": 0,
        "successes": 0,
        "status": "evolving",
    }
    _update_lineage(to_dir, target, lambda lin: lin.update(fields))
    return target
