"""An agent as a person reads it (CLI `agent list` / `agent show`, the control room's agents screen):
one dict gathered from its files, with every broken file named in `problems` rather than raised."""

from __future__ import annotations

from typing import Any

from scope_tui.agents import growth, home, identity, memory, own_skills, relationships
from scope_tui.store.project import Project


def summarize(name: str, project: Project | None = None, *, pull: bool = True) -> dict[str, Any]:
    """Everything about agent `name`; raises UsageError when there is no such agent.

    With a project, approved patches there are pulled into its heuristics first (an agent's memory
    follows approvals the next time it is loaded).
    """
    d = home.require(name)
    problems: list[str] = []
    cfg = home.load_config(problems)
    fields, _ = identity.read(name)
    if project is not None and pull:
        with home.Lock(d):
            mine, _ = own_skills.own(d, project)
            memory.pull_patches(d, name, project, memory.used_skills(d, project) | set(mine), problems)
    mine, sk_problems = own_skills.own(d, project)
    problems += sk_problems
    skills = []
    for n, sk in sorted(mine.items()):
        lin = own_skills.read_lineage(d, n)
        uses = int(lin.get("uses", 0))
        skills.append(
            {
                "name": n,
                "version": sk.version,
                "status": lin.get("status", "evolving"),
                "uses": uses,
                "success_rate": (int(lin.get("successes", 0)) / uses) if uses else None,
                "origin": lin.get("created_after") or "",
                "forked_from": lin.get("forked_from"),
                "given_by": lin.get("given_by"),
                "path": str(sk.path),
            }
        )
    hr = memory.read_heuristics(d)
    fr = memory.read_failures(d)
    rr = relationships.read(d)
    st = growth.read_stats(d)
    for r in (hr, fr, rr, st):
        if r.problem:
            problems.append(r.problem)
    m = growth.measures(name, st.value, hr.value["heuristics"], cfg)
    stage = growth.stage_for(m, cfg) if not st.problem else st.value.get("stage", "junior")
    contexts = []
    if project is not None:
        c = memory.read_context(d, project)
        if c.problem:
            problems.append(c.problem)
        elif c.value.get("tasks"):
            contexts.append(c.value)
    return {
        "name": name,
        "dir": str(d),
        "identity": fields,
        "status": fields.get("status", "active") or "active",
        "stage": stage,
        "next_stage": growth.next_stage_gap(m, stage, cfg),
        "stage_figures": {k: m[k] for k in growth.MEASURES} | {"detail": m["detail"]},
        "stage_why": growth.explain(m, stage, cfg),
        "experience": int(st.value.get("tasks", 0)),
        "done": int(st.value.get("done", 0)),
        "failed": int(st.value.get("failed", 0)),
        "success_rate": growth.success_rate(st.value),
        "skills": skills,
        "heuristics": hr.value["heuristics"],
        "failures": fr.value["failures"],
        "relationships": {k: v for k, v in rr.value.items() if isinstance(v, dict)},
        "contexts": contexts,
        "problems": problems,
    }
