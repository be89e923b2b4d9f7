"""The offline model's RLM policy: real REPL code that peeks, greps for the task's words, partitions
when the context is big, and answers exactly through FINAL_VAR. Deterministic, no network.

Over the chunk size the system prompt names ("at most N characters" a sub-context), and while the
depth allows it, it recurses: the lines are cut into parts, `rlm_query_batched` gives each to a child
session (running in parallel, in the tree), and the children's answers are added up or joined.
The task's words enter the code only as repr() literals: data, never code.

`reply(messages, system) -> str` answers a turn of an RLM session (the system prompt holds "```repl");
`plain(messages, system) -> str` answers an `llm_query` sub-call over the text in its prompt.
"""

from __future__ import annotations

import re
from typing import Any

BIG = 1_000_000  # characters: past this the policy partitions the lines into chunks
CHUNKS = 8  # parts a big context is cut into

_STOP = set(
    """a an and are as at be by can context count does each every file files find for from give how in into is it
    its line lines list many me number of on or please show tell that the them there these this those times to
    total was were what when where which who why with word words occurrences occurrence contain contains
    containing mention mentions mentioning appear appears all any have has do did much about answer question
    return print""".split()
)


def _content(m: dict[str, Any]) -> str:
    c = m.get("content", "")
    if isinstance(c, str):
        return c
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in c)


def task_of(messages: list[dict[str, Any]]) -> str:
    first = next((_content(m) for m in messages if m.get("role") == "user"), "")
    m = re.search(r"TASK:\s*\n(.*?)(?:\n\s*CONTEXT:|\Z)", first, re.S)
    return (m.group(1) if m else first).strip()


def terms_of(task: str) -> list[str]:
    """The words to search for: quoted strings, else ALL-CAPS words, else the task's content words."""
    quoted = re.findall(r"\"([^\"]+)\"|'([^']+)'|`([^`]+)`", task)
    q = [next(x for x in t if x) for t in quoted]
    if q:
        return q
    caps = [w for w in re.findall(r"\b[A-Z][A-Z0-9_]{1,}\b", task)]
    if caps:
        return list(dict.fromkeys(caps))
    words = [
        w for w in re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", task) if w.lower() not in _STOP and len(w) > 2
    ]
    return list(dict.fromkeys(words))[:5]


def kind_of(task: str) -> str:
    t = task.lower()
    if re.search(r"\bhow many\b|\bcount\b|\bnumber of\b|\bhow often\b", t):
        if re.search(r"\btimes\b|\boccurrences?\b|\bhow often\b", t):
            return "occurrences"
        if re.search(r"\bfiles?\b", t) and "line" not in t:
            return "files"
        return "lines"
    if re.search(r"\b(which|list|find|show|what are|extract)\b", t):
        return "list"
    return "summary"


_LINES = (
    "lines = context.splitlines() if isinstance(context, str) else "
    "[l for v in context.values() for l in str(v).splitlines()]"
)


def _match(term: str, var: str) -> str:
    """A Python condition: `term` in `var`, case-insensitive when the term is all lower case."""
    if term.lower() == term:
        return f"{term!r} in {var}.lower()"
    return f"{term!r} in {var}"


def peek() -> str:
    return (
        "Let me look at the shape of the context first.\n\n```repl\n"
        "print(type(context).__name__, len(context))\n"
        "if isinstance(context, dict):\n"
        "    print('files:', list(context)[:20])\n"
        "    print(str(next(iter(context.values()), ''))[:300])\n"
        "else:\n"
        "    print(context[:300])\n"
        "```\n"
    )


def grep(task: str, size_hint: int) -> str:
    terms = terms_of(task)
    out = [f"Now I search the context for {', '.join(map(repr, terms)) or 'its lines'}.\n", "```repl", _LINES]
    out.append(f"terms = {terms!r}")
    for i, t in enumerate(terms):
        out.append(f"hits_{i} = [l for l in lines if {_match(t, 'l')}]")
        out.append(
            f"print({t!r}, len(hits_{i}), 'lines'); print(chr(10).join(h[:200] for h in hits_{i}[:5]))"
        )
    out.append("```")
    if size_hint > BIG and terms:
        out += [
            "\nThe context is big, so I also count by chunks of lines to check the total.\n",
            "```repl",
            f"step = max(1, -(-len(lines) // {CHUNKS}))",
            "chunks = [lines[i:i + step] for i in range(0, len(lines), step)]",
            f"per_chunk = [sum(1 for l in ch if {_match(terms[0], 'l')}) for ch in chunks]",
            "print(len(chunks), 'chunks;', 'per chunk:', per_chunk[:20], 'total:', sum(per_chunk))",
            "```",
        ]
    return "\n".join(out) + "\n"


def final(task: str) -> str:
    terms = terms_of(task)
    kind = kind_of(task)
    code = [_LINES]
    if not terms:
        code.append("answer = f'{len(lines)} lines'")
    elif kind == "lines":
        code.append(f"answer = sum(1 for l in lines if {_match(terms[0], 'l')})")
    elif kind == "occurrences":
        t = terms[0]
        expr = f"l.lower().count({t!r})" if t.lower() == t else f"l.count({t!r})"
        code.append(f"answer = sum({expr} for l in lines)")
    elif kind == "files":
        t = terms[0]
        cond = _match(t, "str(v)")
        code.append(
            f"answer = sum(1 for v in context.values() if {cond}) if isinstance(context, dict) else int({_match(t, 'context')})"
        )
    elif kind == "list":
        conds = " or ".join(_match(t, "l") for t in terms)
        code.append(f"answer = chr(10).join(l for l in lines if {conds})[:5000] or 'nothing matches'")
    else:
        # the task's words go into the code only as repr() literals: data, never code
        code.append(f"terms = {terms!r}")
        code.append("parts = []")
        for i, t in enumerate(terms):
            code.append(f"found = [l for l in lines if {_match(t, 'l')}]")
            code.append(
                f"parts.append(terms[{i}] + ': ' + str(len(found)) + ' lines' + "
                "''.join(chr(10) + '  ' + x[:160] for x in found[:3]))"
            )
        code.append("answer = chr(10).join(parts)")
    code.append("print(answer)")
    return (
        "I compute the answer exactly in code.\n\n```repl\n"
        + "\n".join(code)
        + "\n```\n\nFINAL_VAR(answer)\n"
    )


def _chunk_and_depth(system: str) -> tuple[int | None, bool]:
    """(the sub-context size the prompt asks for, whether a child may still be an RLM)."""
    m = re.search(r"at most ([\d,]+) characters", system)
    chunk = int(m.group(1).replace(",", "")) if m else None
    d = re.search(r"depth (\d+) of at most (\d+)", system)
    deeper = bool(d) and int(d.group(1)) + 1 <= int(d.group(2)) if d else False
    return chunk, deeper


def recurse(task: str, size: int, chunk: int) -> str:
    """Partition the lines into parts of about `chunk` characters; a child RLM session answers each."""
    kind = kind_of(task)
    parts = max(2, -(-size * 11 // (chunk * 10)))  # a tenth to spare: a line-cut part stays under chunk
    code = [
        _LINES,
        f"n = {parts}",
        "step = -(-len(lines) // n)",
        "parts = [chr(10).join(lines[i:i + step]) for i in range(0, len(lines), step)]",
        f"task = {task!r}",
        "answers = rlm_query_batched([task] * len(parts), parts)",
        "print(len(parts), 'children answered:', [a[:60] for a in answers])",
    ]
    if kind in ("lines", "occurrences", "files"):
        code += [
            "nums = [re.search(r'-?\\d+', a) for a in answers]",
            "answer = sum(int(m.group(0)) for m in nums if m)",
        ]
    else:
        code.append(
            "answer = chr(10).join(a for a in answers if a.strip() and a.strip() != 'nothing matches')"
        )
    code.append("print(answer)")
    return (
        f"The context is {size:,} characters: more than a sub-context should be, so each of {parts} parts "
        "goes to a child RLM, in parallel, and I combine their answers.\n\n```repl\n"
        + "\n".join(code)
        + "\n```\n\nFINAL_VAR(answer)\n"
    )


def _size_hint(messages: list[dict[str, Any]]) -> int:
    first = next((_content(m) for m in messages if m.get("role") == "user"), "")
    m = re.search(r"([\d,]+) characters", first)
    return int(m.group(1).replace(",", "")) if m else 0


def reply(messages: list[dict[str, Any]], system: str = "") -> str:
    """The next reply of an RLM session: peek, then grep (and partition when big), then FINAL_VAR."""
    task = task_of(messages)
    turns = sum(1 for m in messages if m.get("role") == "assistant")
    last = _content(messages[-1]) if messages else ""
    if "last turn" in last or turns >= 2:
        return final(task)
    if turns == 0:
        return peek()
    size = _size_hint(messages)
    chunk, deeper = _chunk_and_depth(system)
    if chunk and deeper and size > chunk:
        return recurse(task, size, chunk)
    return grep(task, size)


def plain(messages: list[dict[str, Any]], system: str = "") -> str:
    """An llm_query answer: counts for the prompt's words over the text after a '---' line (or all of it)."""
    text = _content(messages[-1]) if messages else ""
    question, _, body = text.partition("\n---\n")
    body = body or text
    lines = body.splitlines()
    terms = terms_of(question)
    if not terms:
        return f"(offline) {len(lines)} lines, {len(body)} characters"
    parts = []
    for t in terms:
        n = sum(1 for ln in lines if (t in ln if t.lower() != t else t in ln.lower()))
        parts.append(f"{t}: {n}")
    return "(offline) " + ", ".join(parts)
