"""How a reply ends an RLM run: ```repl blocks, FINAL(...) with balanced parentheses, FINAL_VAR(name).

Inside a block, FINAL / FINAL_VAR are functions and `answer["ready"] = True` ends the run too (the
reference's form since its PR #162); those are the REPL's (repl.py). Here is the text form: at the
start of a reply line (leading spaces allowed), outside any block.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(r"^[ \t]*```repl[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.S | re.M)
_FINAL_VAR = re.compile(r"^[ \t]*FINAL_VAR\(\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?\s*\)", re.M)
_FINAL = re.compile(r"^[ \t]*FINAL\(", re.M)


def code_blocks(text: str) -> list[str]:
    """The ```repl blocks of a reply, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def _outside_blocks(text: str) -> str:
    return _BLOCK.sub("", text)


def balanced(text: str, start: int) -> str | None:
    """What lies between the '(' just before `start` and its matching ')', or None when it never closes.

    An argument that opens with a quote is read as that string to its closing quote (so a ')' inside
    it does not count); otherwise parentheses are counted, and an apostrophe is just a letter.
    """
    i = start
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] in "\"'":
        q = text[i]
        j = i + 1
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            if text[j] == q:
                k = j + 1
                while k < len(text) and text[k] in " \t\n":
                    k += 1
                if k < len(text) and text[k] == ")":
                    return text[i + 1 : j].replace("\\" + q, q)
                break
            j += 1
    depth = 1
    for j in range(start, len(text)):
        c = text[j]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start:j]
    return None


def final_of(text: str) -> tuple[str, str] | None:
    """("var", name) or ("text", answer) when the reply ends the run, else None.

    FINAL_VAR takes precedence over FINAL; either counts only at the start of a line, outside blocks.
    """
    rest = _outside_blocks(text)
    m = _FINAL_VAR.search(rest)
    if m:
        return ("var", m.group(1))
    for m in _FINAL.finditer(rest):
        ans = balanced(rest, m.end())
        if ans is not None:
            return ("text", ans.strip())
    return None
