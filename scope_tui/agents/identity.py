"""identity.md: who an agent is. Markdown a person edits freely; `- key: value` lines are its fields.

# alice

- created: 2026-11-27
- status: active            (active | retired)
- preferences: Prefer RLM for exploration
- strengths: Good at auth systems
- weaknesses: frontend
- working style: I peek deeply before acting
- reports to: bob            (the agent an escalation goes to before the person; agents/reports.py)

## Notes
Anything here goes into every prompt of this agent.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from scope_tui.agents import home
from scope_tui.store.errors import UsageError

IDENTITY = "identity.md"
FIELDS = ("created", "status", "preferences", "strengths", "weaknesses", "working style", "reports to")
_FIELD = re.compile(r"^\s*[-*]\s*([A-Za-z][A-Za-z _-]*?)\s*:\s*(.*?)\s*$")


def render(name: str, fields: dict[str, str], notes: str = "") -> str:
    lines = [f"# {name}", ""]
    for k in FIELDS:
        lines.append(f"- {k}: {fields.get(k, '')}".rstrip())
    lines += [
        "",
        "## Notes",
        "",
        notes.strip() or "(anything written here goes into every prompt of this agent)",
        "",
    ]
    return "\n".join(lines)


def create(
    name: str,
    *,
    preferences: str = "",
    strengths: str = "",
    weaknesses: str = "",
    style: str = "",
    reports_to: str = "",
) -> Path:
    """Write a new agent's folder (identity.md, skills/, memory/, relationships.json); returns it.

    Raises UsageError for a bad name or an agent that already exists (retired ones included).
    """
    d = home.agent_dir(name)
    if (d / IDENTITY).exists():
        raise UsageError(f"agent {name!r} already exists (see 'scope agent show {name}')")
    (d / "skills").mkdir(parents=True, exist_ok=True)
    (d / "memory" / "contexts").mkdir(parents=True, exist_ok=True)
    fields = {
        "created": time.strftime("%Y-%m-%d"),
        "status": "active",
        "preferences": preferences,
        "strengths": strengths,
        "weaknesses": weaknesses,
        "working style": style,
        "reports to": reports_to,
    }
    home.write(d / "memory" / "heuristics.json", {"heuristics": [], "pulled": []})
    home.write(d / "memory" / "failures.json", {"failures": []})
    home.write(d / "relationships.json", {})
    home.write(
        d / "stats.json", {"tasks": 0, "done": 0, "failed": 0, "killed": 0, "stage": "junior", "history": []}
    )
    home.load_config()  # writes the agents home's config.toml with the defaults on first use
    home.write_md(d / IDENTITY, render(name, fields))  # last: an agent exists once identity.md does
    return d


def read(name: str) -> tuple[dict[str, str], str]:
    """(fields, whole text) of identity.md; fields a person removed are simply absent."""
    text = (home.agent_dir(name) / IDENTITY).read_text(errors="replace")
    fields: dict[str, str] = {}
    for ln in text.splitlines():
        if ln.startswith("## "):
            break  # fields live in the first section; notes may hold anything
        m = _FIELD.match(ln)
        if m:
            fields[m.group(1).strip().lower()] = m.group(2)
    return fields, text


def status(name: str) -> str:
    return read(name)[0].get("status", "active") or "active"


def set_field(name: str, key: str, value: str) -> None:
    """Change one `- key: value` line in place (added to the field list if absent), keeping the rest."""
    path = home.agent_dir(name) / IDENTITY
    lines = path.read_text(errors="replace").splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("## "):
            break
        m = _FIELD.match(ln)
        if m and m.group(1).strip().lower() == key:
            lines[i] = f"- {key}: {value}"
            break
    else:
        at = next((i for i, ln in enumerate(lines) if _FIELD.match(ln)), 1)
        lines.insert(at, f"- {key}: {value}")
    home.write_md(path, "\n".join(lines) + "\n")
