"""The offline tool-use policy of the built-in worker: a fixed procedure over the real data, no network.

Each call reads the whole conversation (the task, later instructions such as redirects, and the results
of the tools it already ran) and returns the next step as content blocks: a short text saying what it
does, then tool_use blocks. The procedure:

1. observe: list the working folder (`ls -la`);
2. reduce: a task holding mappers' results ("--- part N (label) ---") is answered from them at once
   (counts are summed); children: a task that asks to spawn (bullets under "spawn"/"children"/"in parallel", or "spawn a child
   to X") spawns one child per item (a bullet "run `cmd`" becomes a command-driver child), then waits;
3. count: "count the lines containing W in F" / "how many lines contain W in F" greps (`grep -c`);
4. read: files the task names that exist are read (at most three);
5. search: otherwise it greps the named files (or the folder) for the task's words;
6. write: "write X to Y", "save X in Y", "create Y containing X": writes Y (X is a quoted literal, or the
   number / answer it found);
7. finish(result) with what it found.

A later user message (a redirect) that asks for something it can act on replaces the task from there on.
Deterministic: the same conversation gives the same reply. `quirks`, above this module, may alter a step
(the demo makes one worker deviate once).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

Block = dict[str, Any]

_STOP = frozenset(
    """the a an and or of to in into on for with from that this these those is are be it its by as at all any
    each file files line lines write save create put find count number how many what which where when who
    please then than there their them they your you me my our use using read look show list tell give
    containing contain contains text folder directory result answer results summarise summarize summary
    describe explain check report about look inside briefly short""".split()
)
_FILE = r"['\"`]?(?P<file>[\w./-]*\w\.\w+)['\"`]?"
_COUNT_RES = [
    re.compile(
        r"count (?:the |all )?(?:number of )?(?:lines|entries)\s+(?:that )?(?:contain(?:s|ing)?|with|matching|mentioning)"
        r"\s+['\"`]?(?P<word>[^\s'\"`]+?)['\"`]?\s+in\s+(?:the file\s+)?" + _FILE,
        re.I,
    ),
    re.compile(
        r"how many (?:lines|entries)\s+(?:in\s+" + _FILE + r"\s+)?(?:contain|have|mention|include)s?"
        r"\s+['\"`]?(?P<word>[^\s'\"`?]+?)['\"`]?(?:[\s?.,]|$)",
        re.I,
    ),
]
# "count the ERROR lines", "how many 'timeout' entries": a word (capitals or quoted) the lines contain
_COUNT_RES.append(
    re.compile(
        r"(?:count|how many)\s+(?:the |all )?(?:number of )?(?P<q>['\"`])?"
        r"(?P<word>(?(q)[^'\"`]+|[A-Z][A-Z0-9_-]+))(?(q)['\"`])\s+(?:lines|entries)\b"
    )
)
_SHOWN = 40  # matching lines a search shows; the total is always counted (_TOTAL)
_TOTAL = re.compile(r"^\[(\d+) matching lines in all\]$", re.M)
_WRITE_RES = [
    re.compile(
        r"\b(?:write|save|put|store|record)\s+(?P<what>.+?)\s+(?:to|in|into|as)\s+(?:a |the )?(?:new )?(?:file\s+)?"
        + _FILE,
        re.I,
    ),
    re.compile(
        r"\bcreate\s+(?:a |the )?(?:new )?(?:file\s+)?"
        + _FILE
        + r"\s+(?:containing|with(?: the)?(?: text| content)?)"
        r"\s+(?P<what>.+?)\s*(?:\.\s|\.?$|\n)",
        re.I,
    ),
]
_COMPUTED = re.compile(
    r"^(?:the |its |that |this |your )?(?:number|count|answer|result|total|sum|findings?|summary)\b", re.I
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$")
_SPAWN_WORDS = re.compile(r"\b(?:spawn|children|child sessions?|sub-?agents?|in parallel|workers?)\b", re.I)
_SPAWN_ONE = re.compile(
    r"\bspawn (?:a |one )?(?:child|sub-?agent|worker)(?: session)? (?:to|that will|which will)\s+(.+)", re.I
)
_CMD = re.compile(r"`([^`]+)`")
_ONE_PART = re.compile(r"for one part only:\s*(\S+)", re.I)
_PART = re.compile(r"^--- part (\S+) \((.*?)\) ---\n(.*?)(?=^--- part |\Z)", re.M | re.S)
_COUNTISH = re.compile(r"\b(?:how many|count|number of|total)\b", re.I)


@dataclass
class Step:
    name: str
    input: dict[str, Any]
    result: str = ""
    is_error: bool = False


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    out = []
    for b in content or []:
        if isinstance(b, dict) and b.get("type") == "text":
            out.append(str(b.get("text", "")))
    return "\n".join(out)


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content or [] if isinstance(b, dict))


def history(messages: list[dict[str, Any]]) -> tuple[list[str], list[Step]]:
    """(user texts in order, tool steps in order with their results)."""
    texts: list[str] = []
    steps: list[Step] = []
    by_id: dict[str, Step] = {}
    for m in messages:
        content = m.get("content")
        if m.get("role") == "assistant":
            for b in content if isinstance(content, list) else []:
                if b.get("type") == "tool_use":
                    st = Step(str(b.get("name")), dict(b.get("input") or {}))
                    steps.append(st)
                    by_id[str(b.get("id"))] = st
            continue
        t = _text(content)
        if t.strip():
            texts.append(t)
        for b in content if isinstance(content, list) else []:
            if isinstance(b, dict) and b.get("type") == "tool_result":
                hit = by_id.get(str(b.get("tool_use_id")))
                if hit is not None:
                    hit.result = _result_text(b.get("content"))
                    hit.is_error = bool(b.get("is_error"))
    return texts, steps


def count_intent(task: str) -> tuple[str, str] | None:
    """(word, file) for a counting task; a map step's own part ("for one part only: PATH") wins."""
    for rx in _COUNT_RES:
        m = rx.search(task)
        if m and m.group("word"):
            part = _ONE_PART.search(task)
            file = part.group(1).rstrip(".,)") if part else m.groupdict().get("file")
            if not file:
                f = re.search(r"\bin\s+" + _FILE, task[m.end() :], re.I) or re.search(
                    r"\bin\s+" + _FILE, task, re.I
                )
                file = f.group("file") if f else None
            if not file:
                named = _mentioned_files(task)
                file = named[0] if named else None
            if file:
                return m.group("word"), file
    return None


def reduce_parts(task: str) -> list[tuple[str, str]]:
    """(part label, result) of each mapper result in a reduce task ("--- part N (label) ---" sections)."""
    return [(m.group(1), m.group(3).strip()) for m in _PART.finditer(task)]


def reduce_answer(task: str) -> str:
    """A reducer's answer: the sum of the parts' counts for a counting task, else the parts in order."""
    parts = reduce_parts(task)
    if _COUNTISH.search(task.split("--- part", 1)[0]):
        nums = [(label, _first_int(text)) for label, text in parts]
        if all(n is not None for _, n in nums):
            total = sum(n for _, n in nums if n is not None)
            return f"{total} in total ({', '.join(f'part {label}: {n}' for label, n in nums)})"
    return "\n\n".join(f"Part {label}: {text}" for label, text in parts)


def write_intent(task: str) -> tuple[str, str] | None:
    """(what, file) for a task that asks for a file to be written."""
    for rx in _WRITE_RES:
        m = rx.search(task)
        if m:
            what = m.group("what").strip().rstrip(".")
            return what, m.group("file")
    return None


def children(task: str) -> list[str]:
    """The child tasks a task asks to spawn, in order."""
    if not _SPAWN_WORDS.search(task):
        return []
    bullets = [m.group(1) for line in task.splitlines() if (m := _BULLET.match(line))]
    if bullets:
        return bullets
    one = _SPAWN_ONE.search(task)
    return [one.group(1).strip().rstrip(".")] if one else []


def _words(task: str) -> list[str]:
    seen: list[str] = []
    for f in _mentioned_files(task):
        task = task.replace(f, " ")
    for w in re.findall(r"[A-Za-z_][\w-]{3,}", task):
        if w.lower() not in _STOP and w not in seen and not re.search(r"\.\w+$", w):
            seen.append(w)
    return seen[:3]


def _mentioned_files(task: str) -> list[str]:
    out: list[str] = []
    for m in re.finditer(r"(?<![\w/.-])['\"`]?([\w./-]*\w\.[A-Za-z0-9]{1,8})['\"`]?(?![\w/-])", task):
        f = m.group(1)
        if f not in out and not re.match(r"^\d+\.\d+$", f):
            out.append(f)
    return out


def _listing(steps: list[Step]) -> set[str]:
    names: set[str] = set()
    for st in steps:
        if st.name == "bash" and str(st.input.get("command", "")).startswith("ls"):
            for line in st.result.splitlines():
                parts = line.split()
                if len(parts) >= 9 and not line.startswith("total"):
                    names.add(" ".join(parts[8:]))
                elif len(parts) == 1:
                    names.add(parts[0])
    return names


def _first_int(text: str) -> int | None:
    m = re.search(r"-?\d+", text)
    return int(m.group()) if m else None


def tool(name: str, inp: dict[str, Any], n: int, i: int = 0) -> Block:
    return {"type": "tool_use", "id": f"toolu_offline_{n:03d}_{i}", "name": name, "input": inp}


def say(text: str) -> Block:
    return {"type": "text", "text": text}


def effective_task(texts: list[str]) -> str:
    """The first user text is the task; a later one that asks for something actionable replaces it."""
    task = texts[0] if texts else ""
    for t in texts[1:]:
        if count_intent(t) or write_intent(t) or children(t):
            task = t
    return task


def decide(
    messages: list[dict[str, Any]],
    *,
    system: str = "",
    tools: list[dict[str, Any]] | None = None,
) -> list[Block]:
    """The next step of the procedure, as content blocks (text, then tool_use blocks; or finish)."""
    texts, steps = history(messages)
    return _decide(effective_task(texts), steps, {str(t.get("name")) for t in tools or []})


def _decide(task: str, steps: list[Step], have: set[str]) -> list[Block]:
    n = len(steps)

    def ran(name: str, pred: Any = None) -> list[Step]:
        return [s for s in steps if s.name == name and (pred is None or pred(s))]

    if reduce_parts(task):  # a reducer: the mappers' results are in the task itself
        return [
            say("Reduce: combine the parts' results."),
            tool("finish", {"result": reduce_answer(task)}, n),
        ]

    if not ran("bash") and not ran("read_file"):
        return [say("Observe: list the working folder."), tool("bash", {"command": "ls -la"}, n)]
    present = _listing(steps)
    notes: list[str] = []
    value: str | None = None

    kids = children(task)
    if kids and "spawn" in have:
        spawned = ran("spawn")
        if not spawned:
            out: list[Block] = [say(f"Act: spawn {len(kids)} child session(s), one per item.")]
            for i, k in enumerate(kids):
                inp: dict[str, Any] = {"task": k}
                cmd = _CMD.search(k)
                if cmd and re.match(r"^\s*(?:run|execute|exec)\b", k, re.I):
                    inp["cmd"] = cmd.group(1)
                out.append(tool("spawn", inp, n, i))
            return out
        ids = [m.group(1) for s in spawned if (m := re.search(r"\bsession\s+([\d.]+)", s.result))]
        if not ran("wait") and ids:
            return [say(f"Wait for children {', '.join(ids)}."), tool("wait", {"ids": ids}, n)]
        waited = ran("wait")
        value = waited[-1].result.strip() if waited else "(no child started)"
        notes.append(f"Children {', '.join(ids) or '-'}:\n{value}")

    counting = count_intent(task)
    if counting:
        word, file = counting
        count_cmd = f"grep -c -- {shlex.quote(word)} {shlex.quote(file)}"
        done = ran("bash", lambda s: s.input.get("command") == count_cmd)
        if not done:
            return [
                say(f"Orient: count the lines of {file} that contain {word!r}."),
                tool("bash", {"command": count_cmd}, n),
            ]
        num = _first_int(done[-1].result)
        if num is None or "No such file" in done[-1].result:
            return [
                say(f"{file} cannot be read."),
                tool(
                    "finish",
                    {"result": f"Could not count {word!r} in {file}: {done[-1].result.strip()[:200]}"},
                    n,
                ),
            ]
        value = str(num)
        notes.append(f"{num} line(s) of {file} contain {word!r}.")

    target = write_intent(task)
    if not counting and not kids:
        files = [
            f
            for f in _mentioned_files(task)
            if (not target or f != target[1]) and (not present or f in present)
        ]
        unread = [f for f in files[:3] if not ran("read_file", lambda s, f=f: s.input.get("path") == f)]
        if unread:
            return [say(f"Observe: read {', '.join(unread)}.")] + [
                tool("read_file", {"path": f}, n, i) for i, f in enumerate(unread)
            ]
        for s in ran("read_file"):
            lines = [ln.rstrip() for ln in s.result.splitlines()]
            heads = [ln for ln in lines if ln.lstrip().startswith("#")][:8] or [
                ln for ln in lines if ln.strip()
            ][:5]
            shown = "\n".join(f"  {ln[:120]}" for ln in heads)
            notes.append(
                f"{s.input.get('path')}: {len(lines)} line(s)"
                + (f"; it opens with:\n{shown}" if shown else " (empty)")
            )
        words = _words(task)
        if words and not ran("bash", lambda s: str(s.input.get("command", "")).startswith("grep -rn")):
            where = " ".join(shlex.quote(f) for f in files[:3]) or "."
            pat = "|".join(re.escape(w) for w in words)
            # the first lines shown, and the exact total said (a count from a cut list was wrong)
            show = f'NR<={_SHOWN}; END {{print "[" NR " matching lines in all]"}}'
            search = f"grep -rn -i -E {shlex.quote(pat)} {where} | awk {shlex.quote(show)}"
            return [say(f"Orient: search for {', '.join(words)}."), tool("bash", {"command": search}, n)]
        for s in ran("bash", lambda s: str(s.input.get("command", "")).startswith("grep -rn")):
            hits = [
                ln
                for ln in s.result.splitlines()
                if ln.strip() and not ln.startswith("[exit") and not _TOTAL.match(ln)
            ]
            total = _TOTAL.search(s.result)
            n_all = int(total.group(1)) if total else None
            said = (
                f"{n_all} matching line(s)"
                if n_all is not None
                else f"at least {len(hits)} matching line(s) (the list was cut; the total is unknown)"
            )
            shown = f" (the first {min(10, len(hits))} shown)" if hits and len(hits) < (n_all or 0) else ""
            notes.append(said + shown + (":\n" + "\n".join(hits[:10]) if hits else "."))
            value = value or ("\n".join(hits[:10]) if hits else None)

    if target:
        what, file = target
        quoted = re.fullmatch(r"['\"`](.*)['\"`]", what, re.S)
        if quoted:
            content = quoted.group(1)
        elif _COMPUTED.match(what) and value is not None:
            content = value
        else:
            content = what
        if not ran("write_file", lambda s: s.input.get("path") == file):
            return [
                say(f"Act: write {file}."),
                tool("write_file", {"path": file, "content": content.rstrip("\n") + "\n"}, n),
            ]
        w = ran("write_file", lambda s: s.input.get("path") == file)[-1]
        notes.append(
            f"Wrote {content.strip()[:80]!r} to {file}."
            if not w.is_error
            else f"Could not write {file}: {w.result}"
        )

    result = "\n".join(notes) or f"Looked at the folder for: {task.strip()[:200]}"
    return [say("Done: report what was found."), tool("finish", {"result": result}, n)]
