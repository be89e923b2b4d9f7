"""Who takes a part of an agent's run: a map-reduce part or a DAG node is given to the agent whose
strengths fit it ("spawns Carol for frontend").

Each active agent's identity strengths (and, from the lead's relationships.json, the topics the lead has
handed it before) are matched against what the part is about: its task and its profile (the files it
reads). With a model, one call judges every part against every agent; offline, by shared key terms, an
agent whose weaknesses name the part's terms is passed over. A part no other agent fits better than the
lead stays with the lead. The engine records each pick as an `assign` decision with the why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scope_tui.agents import home, identity, relationships
from scope_tui.models.base import json_object
from scope_tui.store.project import Project


@dataclass
class Agent:
    name: str
    strengths: str
    weaknesses: str
    topics: dict[str, int]  # what the lead has handed it before (relationships.json)


def _terms(text: str) -> set[str]:
    return set(home.keywords(text, limit=400))


def roster(lead: str) -> list[Agent]:
    """The active agents with strengths written down (the lead too), with the lead's topics for each."""
    rel: dict[str, Any] = {}
    if home.exists(lead):
        r = relationships.read(home.agent_dir(lead))
        rel = r.value if not r.problem else {}
    out = []
    for name in home.names():
        try:
            fields, _ = identity.read(name)
        except OSError:
            continue
        if (fields.get("status") or "active") != "active" or not fields.get("strengths", "").strip():
            continue
        got = rel.get(name)
        entry: dict[str, Any] = got if isinstance(got, dict) and name != lead else {}
        topics = {str(k): int(v) for k, v in (entry.get("topics") or {}).items() if isinstance(v, int)}
        out.append(Agent(name, fields.get("strengths", ""), fields.get("weaknesses", ""), topics))
    return out


def offline(lead: str, about: str, agents: list[Agent]) -> tuple[str | None, str]:
    """(the agent whose strengths share the most key terms with `about`, why); (None, why) for the lead."""
    words = _terms(about)
    best: tuple[int, str, list[str], list[str]] | None = None
    passed: list[str] = []
    for a in agents:
        weak = sorted(_terms(a.weaknesses) & words)
        if weak:
            passed.append(f"{a.name} is weak at {', '.join(weak)}")
            continue
        shared = sorted(_terms(a.strengths) & words)
        handed = sorted(t for t in a.topics if t in words)
        n = len(shared) + len(handed)
        if n and (best is None or (n, a.name == lead) > (best[0], best[1] == lead)):
            best = (n, a.name, shared, handed)
    tail = f" ({'; '.join(passed)})" if passed else ""
    if best is None:
        return None, f"no agent's strengths share a key term with it: {lead} keeps it{tail}"
    n, name, shared, handed = best
    why = f"strengths share {', '.join(shared)}" if shared else ""
    if handed:
        why += ("; " if why else "") + f"{lead} has handed it {', '.join(handed)} before"
    if name == lead:
        return None, f"{lead}'s own strengths fit best ({why}): {lead} keeps it{tail}"
    return name, f"{name}: {why} (by key terms){tail}"


def by_model(
    project: Project, meta: dict[str, Any], lead: str, abouts: list[str], agents: list[Agent]
) -> list[tuple[str | None, str]] | None:
    """One call judging every part against every agent; None when no model answer can be had (offline,
    no key, an answer that does not parse)."""
    try:
        from scope_tui.models.select import model_for

        m = model_for(project, meta)  # the run's own model, accounted against its session
        if getattr(m, "name", "") == "offline":
            return None
    except Exception:
        return None
    team = "\n".join(
        f"- {a.name}: strong at {a.strengths}"
        + (f"; weak at {a.weaknesses}" if a.weaknesses.strip() else "")
        + (f"; {lead} has handed it {', '.join(sorted(a.topics))} before" if a.topics else "")
        for a in agents
    )
    parts = "\n".join(f"{i}. {text[:600]}" for i, text in enumerate(abouts))
    prompt = (
        f"The agents ({lead} leads this run):\n{team}\n\nThe parts of the run:\n{parts}\n\n"
        "For each numbered part, which agent's strengths fit it best? Answer with JSON only: "
        '{"0": ["name", "short reason"], ...}; use null for the name when no agent fits.'
    )
    try:
        reply = m.complete(
            [{"role": "user", "content": prompt}],
            system="You assign work to agents by their strengths, tersely.",
            max_tokens=600,
            purpose="agent_assignment",
        )
    except Exception:
        return None
    data = json_object(reply)
    if data is None:
        return None
    known = {a.name for a in agents}
    model = getattr(m, "name", "") or "the model"
    out: list[tuple[str | None, str]] = []
    for i in range(len(abouts)):
        v = data.get(str(i))
        name = v[0] if isinstance(v, list) and v else None
        why = str(v[1]) if isinstance(v, list) and len(v) > 1 else ""
        if name not in known or name == lead:
            out.append((None, f"{lead} keeps it (by {model}: {why or 'no agent fits better'})"))
        else:
            out.append((str(name), f"{name}: {why} (by {model})"))
    return out


def pick(project: Project, meta: dict[str, Any], abouts: list[str]) -> list[tuple[str | None, str]]:
    """For each part (what it is about), (the agent who takes it or None for the lead, why). The lead is
    the agent the run is for (meta agent, or works_for)."""
    lead = str(meta.get("agent") or meta.get("works_for") or "")
    agents = roster(lead)
    if not lead or not [a for a in agents if a.name != lead]:
        return [(None, "no other agent has strengths written down")] * len(abouts)
    return by_model(project, meta, lead, abouts, agents) or [offline(lead, t, agents) for t in abouts]
