"""What a rule line means, offline: its key terms, and which of them it asks for or against.

"NEVER spawn before peeking" asks for peeking (it must come first); "ALWAYS spawn immediately, without
peeking" asks against it. Two lines that share most key terms and ask opposite things of one of them
contradict each other, whatever their wording. With a model, `ask_model` puts the question to it.
"""

from __future__ import annotations

import re
from typing import Any

_STOP = frozenset(
    "a an the and or of to in on at by for with from into onto is are be been it its this that these those "
    "any each every all your you one first then than when what which there here as so if do does not no "
    "never always don dont must should can may more most less least".split()
)
_LEAD = re.compile(r"^\W*(ALWAYS|NEVER|DO NOT|DON'T|DONT|AVOID)\b", re.I)
_LINK = re.compile(
    r"\b(before|without|unless|until|after|instead of|rather than|skipping|skip|ignoring|no)\b", re.I
)
_NEGATING = ("without", "unless", "instead of", "rather than", "skipping", "skip", "ignoring", "no")


def stem(word: str) -> str:
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "sl":  # "stopp(ing)" -> "stop"
        w = w[:-1]
    return w


def terms(text: str) -> set[str]:
    """The key terms of a line: content words, stemmed."""
    words = re.findall(r"[a-z][a-z_]+|\d+(?:\.\d+)?", text.lower())
    return {stem(w) for w in words if w not in _STOP and (len(w) > 2 or w[0].isdigit())}


def stances(line: str) -> dict[str, int]:
    """term -> +1 (the line asks for it) or -1 (asks against it); terms it is neutral on are left out."""
    text = line.strip().lstrip("-* ").strip()
    m = _LEAD.match(text)
    lead = 1 if not m or m.group(1).upper() == "ALWAYS" else -1
    body = text[m.end() :] if m else text
    parts = _LINK.split(body)
    main, rest = parts[0], parts[1:]
    out: dict[str, int] = {}
    conditional = lead < 0 and any(r.lower() in ("before", "without", "unless", "until") for r in rest[::2])
    if not conditional:  # "NEVER spawn before peeking" does not forbid spawning, only its order
        for t in terms(main):
            out[t] = lead
    for link, clause in zip(rest[::2], rest[1::2], strict=False):
        clause = re.split(r"[,;.]", clause, maxsplit=1)[0]
        link = link.lower()
        if link in _NEGATING:
            sign = -lead
        elif link == "before" and lead < 0:
            sign = 1  # NEVER x before y: y first
        elif link == "after" and lead > 0:
            sign = 1  # ALWAYS x after y: y first
        else:
            continue
        for t in terms(clause):
            out[t] = sign
    return out


def contradiction(a: str, b: str) -> str | None:
    """Why line `b` contradicts line `a` (the term they ask opposite things of), or None."""
    ta, tb = terms(a), terms(b)
    common = ta & tb
    if len(common) < 2 or len(common) < 0.6 * min(len(ta), len(tb)):
        return None
    sa, sb = stances(a), stances(b)
    against = sorted(t for t in common if t in sa and t in sb and sa[t] != sb[t])
    return f"they ask opposite things of {', '.join(against)!s}" if against else None


PROMPT = """Two rules for an AI agent's skill. Rule A was adopted earlier; rule B is proposed now.
A: {a}
B: {b}
Does B undo or contradict A? Answer on one line: "yes: <why>" or "no: <why>"."""


def ask_model(model: Any, a: str, b: str) -> str | None:
    """With a model: why B undoes or contradicts A, or None (also on any model error)."""
    try:
        reply = model.complete(
            [{"role": "user", "content": PROMPT.format(a=a.lstrip("-* "), b=b.lstrip("-* "))}],
            max_tokens=120,
            purpose="oscillation",
        )
        text = (reply.text or "").strip()
    except Exception:
        return None
    head, _, why = text.partition(":")
    return (why.strip() or "the model says so") if head.strip().lower().startswith("yes") else None
