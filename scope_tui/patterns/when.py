"""Choosing a pattern: every skill's `when` criteria scored against a task profile, with reasons.

A criterion is a predicate when it parses as a Python expression over the profile's fields
(`context_tokens > 100_000 and not independent_parts`); it is evaluated with a small AST walker,
never eval. Anything else is prose: with a model, one cheap call judges all the prose criteria at once, given the
measured profile; offline, a size the prose names ("(>100K tokens)", "more than 20 files") is compared
with the profile (judge_numbers), and keyword rules are the last resort. Each reason says which.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.models.base import json_object
from scope_tui.patterns.profile import TaskProfile
from scope_tui.store.project import Project

# Offline keyword rules for prose criteria: a skill's own `keywords` front matter adds to these.
KEYWORDS: dict[str, list[str]] = {
    "rlm": [
        "large",
        "huge",
        "log",
        "logs",
        "document",
        "needle",
        "search",
        "find",
        "how many",
        "explore",
        "corpus",
        "grep",
        "count",
    ],
    "map-reduce": [
        "each file",
        "every file",
        "all files",
        "per file",
        "each of",
        "aggregate",
        "summarize all",
        "across",
        "for each",
        "in parallel",
    ],
    "maker-checker": ["test", "tests", "verify", "review", "validate", "check", "rubric", "correct"],
    "ralph": ["until", "keep", "iterate", "repeat", "promise", "done when", "loop"],
    "dag": ["then", "after", "pipeline", "steps", "depends", "workflow", "graph"],
}
# The order of a composition: explore, then scan, then validate (the seed's example).
STAGES = ["rlm", "map-reduce", "maker-checker"]

_CMP = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


class NotPredicate(ValueError):
    """The text is not a predicate over the profile (so it is prose)."""


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, env)
    if isinstance(node, ast.BoolOp):
        vals = (_eval(v, env) for v in node.values)
        return all(vals) if isinstance(node.op, ast.And) else any(vals)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        v = _eval(node.operand, env)
        return (not v) if isinstance(node.op, ast.Not) else -v
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, env)
            fn = _CMP.get(type(op))
            if fn is None or not fn(left, right):
                if fn is None:
                    raise NotPredicate(f"operator {type(op).__name__} is not allowed")
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return _BIN[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise NotPredicate(f"unknown name {node.id!r}")
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool, str, type(None))):
        return node.value
    raise NotPredicate(f"{type(node).__name__} is not allowed in a predicate")


def predicate(text: str, fields: dict[str, Any]) -> bool:
    """Evaluate `text` over `fields`; raises NotPredicate when it is not a predicate (i.e. prose)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise NotPredicate("not an expression") from None
    return bool(_eval(tree, fields))


def is_predicate(text: str, fields: dict[str, Any]) -> bool:
    try:
        predicate(text, fields)
        return True
    except (NotPredicate, TypeError, ZeroDivisionError):
        return False


@dataclass
class Choice:
    """One skill's standing: its score and why."""

    name: str
    version: int
    score: float
    matched: int
    total: int
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "skill": self.name,
            "version": self.version,
            "score": round(self.score, 3),
            "matched": self.matched,
            "criteria": self.total,
            "reasons": self.reasons,
        }


@dataclass
class Selection:
    """Skills in order (best first), the composition chosen, and how prose was judged."""

    task: str
    profile: TaskProfile
    choices: list[Choice]
    composition: list[str]
    judge: str  # "offline (predicates + keywords)" or the model name
    errors: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> str | None:
        return self.composition[0] if self.composition else None

    def choice(self, name: str) -> Choice | None:
        return next((c for c in self.choices if c.name == name), None)


def _keywords(skill: Any) -> list[str]:
    own = skill.front.get("keywords") if isinstance(skill.front.get("keywords"), list) else []
    return [str(k).lower() for k in [*KEYWORDS.get(skill.name, []), *own]]


_MORE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_WORDS = {
    "more than": ">",
    "over": ">",
    "above": ">",
    "greater than": ">",
    "at least": ">=",
    "fewer than": "<",
    "less than": "<",
    "under": "<",
    "below": "<",
    "at most": "<=",
}
_SCALE = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
# "(>100K tokens)", "more than 20 files", "at least 1M tokens of context", "< 5 files"
_NUMBER = re.compile(
    r"(>=|<=|>|<|more than|greater than|at least|at most|fewer than|less than|over|above|under|below)"
    r"\s*(\d[\d,_]*(?:\.\d+)?)\s*([kmg])?\b\s*(?:\w+\s+){0,2}?(tokens?|files?|parts?)\b",
    re.IGNORECASE,
)
_FIELD = {"token": "context_tokens", "file": "files", "part": "parts"}


def judge_numbers(text: str, fields: dict[str, Any]) -> tuple[bool, str] | None:
    """A prose criterion that names a size ("(>100K tokens)", "more than 20 files"), compared with the
    measured profile; None when the prose names no size. Every size named must hold."""
    found = list(_NUMBER.finditer(text))
    if not found:
        return None
    said: list[str] = []
    ok = True
    for m in found:
        op = _WORDS.get(m[1].lower(), m[1])
        limit = float(m[2].replace(",", "").replace("_", "")) * _SCALE.get((m[3] or "").lower(), 1)
        name = _FIELD[m[4].lower().rstrip("s")]
        have = fields.get(name, 0) or 0
        holds = _MORE[op](have, limit)
        ok = ok and holds
        said.append(f"{name}={have:,} {op if holds else _NOT[op]} {limit:,.0f}")
    return ok, "by the measured profile: " + "; ".join(said)


_NOT = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}


def _judge_offline(
    task: str, skill: Any, text: str = "", fields: dict[str, Any] | None = None
) -> tuple[bool, str]:
    """A prose criterion offline: a size it names against the profile first, keywords last."""
    by_numbers = judge_numbers(text, fields or {}) if text else None
    if by_numbers is not None:
        return by_numbers
    low = task.lower()
    hits = [k for k in _keywords(skill) if re.search(rf"(?<![a-z]){re.escape(k)}(?![a-z])", low)]
    if hits:
        return True, "by keywords: " + ", ".join(repr(h) for h in hits[:4])
    return False, "by keywords: none of this skill's in the task"


def _judge_with_model(
    project: Project,
    task: str,
    prose: list[tuple[str, str]],
    model: str | None,
    fields: dict[str, Any] | None = None,
) -> dict[int, tuple[bool, str]] | None:
    """One cheap call judging every prose criterion; None when no model answer can be had."""
    try:
        from scope_tui.models.select import model_for

        m = model_for(project, {"model": model} if model else {}, "operational")
    except Exception:
        return None
    if getattr(m, "name", "") == "offline":
        return None
    listing = "\n".join(f"{i}. [{skill}] {text}" for i, (skill, text) in enumerate(prose))
    facts = ", ".join(
        f"{k}={v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k}={v}"
        for k, v in (fields or {}).items()
        if k not in ("task", "notes")
    )
    prompt = (
        f"Task:\n{task}\n\nMeasured facts about the task and its context: {facts}\n\nFor each numbered criterion, does it hold for this task? Answer with JSON only: "
        f'{{"0": [true, "short reason"], ...}}\n\n{listing}'
    )
    try:
        reply = m.complete(
            [{"role": "user", "content": prompt}],
            system="You judge criteria tersely.",
            max_tokens=600,
            purpose="skill_selection",
        )
        data = json_object(reply)
        if data is None:
            return None
        return {int(k): (bool(v[0]), str(v[1]) if len(v) > 1 else "") for k, v in data.items()}
    except Exception:
        return None


def select(
    project: Project | None,
    task: str,
    profile: TaskProfile,
    model: str | None = None,
    *,
    agent_skill_root: Path | None = None,
    use_model: bool = True,
) -> Selection:
    """Score every skill's `when` against `profile`; order them, and choose one or a composition.

    Predicates count 1 each, prose criteria 1 each when judged to hold (a skill's score is the share
    of its criteria that hold, plus a small bonus per predicate that holds, so hard facts outrank
    keyword hunches). A composition is the explore/scan/validate skills that qualify, in that order;
    otherwise the single best skill; none when nothing qualifies.
    """
    from scope_tui.patterns import skill_files

    loaded, errs = skill_files.load_all(project, agent_skill_root)
    fields = profile.fields()
    prose: list[tuple[str, str]] = []
    for sk in loaded.values():
        prose += [(sk.name, w) for w in sk.when if not is_predicate(w, fields)]
    judged: dict[int, tuple[bool, str]] | None = None
    judge = "offline (predicates + keyword rules)"
    if use_model and prose and project is not None:
        judged = _judge_with_model(project, task, prose, model, fields)
        if judged is not None:
            judge = f"model {model or 'operational'}"
    choices: list[Choice] = []
    pi = 0
    for sk in loaded.values():
        reasons: list[str] = []
        matched = 0
        hard = 0
        for w in sk.when:
            if is_predicate(w, fields):
                ok = predicate(w, fields)
                names = sorted(
                    {
                        n.id
                        for n in ast.walk(ast.parse(w.strip(), mode="eval"))
                        if isinstance(n, ast.Name) and n.id in fields
                    }
                )
                vals = ", ".join(
                    f"{n}={fields[n]:,}"
                    if isinstance(fields[n], int) and not isinstance(fields[n], bool)
                    else f"{n}={fields[n]}"
                    for n in names
                )
                reasons.append(f"{'✓' if ok else '✗'} {w}  ({vals})")
                matched += ok
                hard += ok
            else:
                if judged is not None and pi in judged:
                    ok, why = judged[pi]
                    why = f"by the model: {why}"
                else:
                    ok, why = _judge_offline(task, sk, w, fields)
                pi += 1
                reasons.append(f'{"✓" if ok else "✗"} "{w}"  ({why})')
                matched += ok
        total = len(sk.when) or 1
        score = matched / total + 0.25 * hard
        choices.append(Choice(sk.name, sk.version, score, matched, len(sk.when), reasons))
    choices.sort(key=lambda c: (-c.score, c.name))
    qualified = [c.name for c in choices if c.score > 0]
    by_name = {c.name: c for c in choices}
    staged = [s for s in STAGES if s in qualified and by_name[s].score >= 0.5]
    if profile.has_dag and "dag" in qualified:
        composition = ["dag"]
    elif profile.has_promise and "ralph" in qualified:
        composition = ["ralph"]
    elif len(staged) >= 2:
        composition = staged
    else:
        composition = qualified[:1]
    return Selection(task, profile, choices, composition, judge, [str(e) for e in errs])


def selection_event(sel: Selection) -> dict[str, Any]:
    """The fields of the `decision` event a caller records: `events.append(d, "decision", **selection_event(sel))`."""
    return {
        "what": "skill",
        "chosen": sel.chosen,
        "composition": sel.composition,
        "why": (" -> ".join(sel.composition) or "no skill qualifies") + f" (judged {sel.judge})",
        "judge": sel.judge,
        "scores": {c.name: round(c.score, 3) for c in sel.choices},
        "reasons": {c.name: c.reasons for c in sel.choices},
        "profile": sel.profile.fields(),
    }
