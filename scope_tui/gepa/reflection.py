"""Micro-reflection: a short text (what went wrong, why it matters, the adjustment) that reaches the worker
before its next action, and the rule line a patch would add to the skill.

Offline it comes from a template per deviation kind; with a model it is written by the model in the
spirit of GEPA's reflection prompt (the skill, the recent events, the deviation), and falls back to the
template on any model error.
"""

from __future__ import annotations

import json
from typing import Any

from scope_tui.gepa.deviation import Deviation

WHY: dict[str, str] = {
    "sequence": "Without looking first you do not know the context's structure, so a child's task may be "
    "too broad or miss the parts that matter.",
    "depth": "Each level of recursion multiplies cost and loses context; past the limit answers get worse, "
    "not better.",
    "scope": "A child given as much as its parent makes no progress: the recursion never shrinks the problem.",
    "fan_out": "Too many children at once exhaust the budget and the machine, and their results arrive "
    "faster than they can be checked.",
    "grep_broad": "A pattern with that many hits does not narrow anything: reading or diving into all of "
    "them is the full scan the pattern is meant to avoid.",
    "empty_dives": "Most dives are finding nothing: the way the context is being cut is wrong, not the dives.",
    "budget": "At this pace the budget runs out long before the work is done.",
}

ADJUST: dict[str, str] = {
    "sequence": "Before the next spawn, peek at the context's structure (its size, its first lines, its "
    "sections) or grep it, and say what you learned. Then spawn on a specific part.",
    "depth": "Do not recurse further: answer at this level with what you have, or hand back to your parent.",
    "scope": "Split the task first (by module, section or file) and give each child one strictly smaller part.",
    "fan_out": "Wait for running children to finish before starting more.",
    "grep_broad": "Narrow the pattern (anchor it, add a word, restrict the files) before acting on the hits.",
    "empty_dives": "Stop diving; try different grep patterns or a different partition first.",
    "budget": "Stop widening the search: finish the most promising part and report what you have.",
}

RULE_LINE: dict[str, str] = {
    "sequence": "ALWAYS peek at the context's structure (or grep it) before spawning a sub-agent.",
    "depth": "NEVER recurse deeper than {limit} levels; answer at the current level instead.",
    "scope": "NEVER give a child a task as large as your own; split by module, section or file first.",
    "fan_out": "NEVER run more than {limit} children at once; wait for some to finish before spawning more.",
    "grep_broad": "ALWAYS narrow a grep that returns more than {limit} hits before acting on it.",
    "empty_dives": "ALWAYS change the grep patterns when more than {limit:.0%} of dives come back empty.",
    "budget": "ALWAYS report what you have once half the budget is spent with little progress.",
}


_HEADERS = ("deviation detected", "skill:", "expected:", "actual:", "why this matters:")


def adjustment(text: str) -> str:
    """The actionable sentence of a reflection: its ADJUSTMENT line (a model's too), never the
    "DEVIATION DETECTED" header; failing that, the first line that is not a header."""
    lines = [ln.strip().lstrip("*# ").strip() for ln in str(text or "").splitlines() if ln.strip()]
    for ln in lines:
        if ln.upper().startswith("ADJUSTMENT:"):
            return ln.split(":", 1)[1].strip()
    return next((ln for ln in lines if not ln.lower().startswith(_HEADERS)), "")


def rule_line(dev: Deviation) -> str:
    """The ALWAYS/NEVER line a patch adds to the skill's "## Learned rules" for this deviation."""
    tmpl = RULE_LINE.get(dev.kind, "ALWAYS follow the rule '{rule}': expected {expected}.")
    try:
        return tmpl.format(limit=dev.limit, rule=dev.rule, expected=dev.expected)
    except (ValueError, TypeError, KeyError):
        return f"ALWAYS follow the rule '{dev.rule}': expected {dev.expected}."


def template(dev: Deviation, skill: str | None) -> str:
    """The offline micro-reflection for `dev`."""
    return "\n".join(
        [
            "DEVIATION DETECTED",
            "",
            f"Skill: {skill or '(none)'}",
            f"Expected: {dev.expected}",
            f"Actual: {dev.actual}",
            "",
            f"Why this matters: {WHY.get(dev.kind, 'the skill asks for it.')}",
            "",
            f"ADJUSTMENT: {ADJUST.get(dev.kind, 'Follow the rule ' + repr(dev.rule) + ' from here on.')}",
        ]
    )


PROMPT = """You are reflecting on one step of an AI agent that follows a skill (an orchestration pattern).
The agent was about to break one of the skill's rules. Write a micro-reflection for the agent, to read
before its next action: at most six short lines, starting with "DEVIATION DETECTED", then what went wrong,
why it matters for this task, and one line starting "ADJUSTMENT:" saying concretely what to do next.
Then, on a last line starting "RULE:", one ALWAYS or NEVER sentence that, added to the skill, would have
prevented this.

Skill {skill}:
```
{skill_text}
```

Recent events of the agent (oldest first):
```
{events}
```

Deviation: kind={kind} rule={rule}
Expected: {expected}
Actual: {actual}
"""


def _brief_events(evs: list[dict[str, Any]], n: int = 15) -> str:
    keep = ("type", "tool", "kind", "title", "child", "hits", "status", "phase", "input")
    lines = []
    for e in evs[-n:]:
        lines.append(json.dumps({k: e[k] for k in keep if k in e}, default=str)[:300])
    return "\n".join(lines) or "(none)"


def write(
    dev: Deviation, skill: str | None, skill_text: str, evs: list[dict[str, Any]], model: Any = None
) -> tuple[str, str, str]:
    """(reflection text, rule line for the patch, author: "model:<name>" or "template").

    With `model` (a models.base.Model) the text is the model's; any failure falls back to the template."""
    if model is not None:
        try:
            reply = model.complete(
                [
                    {
                        "role": "user",
                        "content": PROMPT.format(
                            skill=skill,
                            skill_text=skill_text[:6000],
                            events=_brief_events(evs),
                            kind=dev.kind,
                            rule=dev.rule,
                            expected=dev.expected,
                            actual=dev.actual,
                        ),
                    }
                ],
                max_tokens=400,
                purpose="reflection",
            )
            text = (reply.text or "").strip()
            if text:
                body, rule = [], None
                for ln in text.splitlines():
                    if ln.strip().upper().startswith("RULE:"):
                        rule = ln.split(":", 1)[1].strip()
                    else:
                        body.append(ln)
                rule_ok = rule and rule.split()[0].upper().strip("*") in ("ALWAYS", "NEVER")
                return (
                    "\n".join(body).strip(),
                    (rule if rule_ok else rule_line(dev)) or rule_line(dev),
                    f"model:{getattr(model, 'name', '?')}",
                )
        except Exception:  # a reflection must never stop the worker; the template says the same
            pass
    return template(dev, skill), rule_line(dev), "template"
