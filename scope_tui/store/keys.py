"""The secrets Scope knows: which environment variables carry a key, how a key reaches a worker, and the
shapes of keys redacted from what Scope writes.

A key reaches only the processes that call a model (built-in agents, pattern engines, orchestrators,
Claude Code), never through an argv or tmux's environment: the spawner writes the names and values to
`sessions/<id>/keys.json` (0600, in a 0700 folder), and the window's worker reads and unlinks it before
anything else runs (`take`). A command worker gets only the names the person passed (`--env NAME`).

Standard library only, and no `re`: every `scope spawn` and every worker imports this module.
"""

from __future__ import annotations

import os

from scope_tui.store import jsontext

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from _typeshed import StrPath

# The registry: each key's environment variable, and the prefix its values start with when they have a
# known shape (None: only the value itself, as this process knows it, is redacted). One line a key.
KEYS: dict[str, str | None] = {
    "ANTHROPIC_API_KEY": "sk-ant-",
    "ANTHROPIC_AUTH_TOKEN": None,
    "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-",  # `claude setup-token`: Claude Code's own key
    "OPENAI_API_KEY": "sk-",  # models/openai_model.py
    "CODEX_API_KEY": "sk-",  # workers/codex.py (Codex CLI's own name for an OpenAI key)
    "GEMINI_API_KEY": "AIza",  # workers/gemini.py
}

HANDOVER = "keys.json"  # in the session's folder, for the time between spawn and the worker's start
REDACTED = "[redacted]"
MIN_VALUE = 8  # a value shorter than this is not redacted (it would blank out ordinary words)
MIN_TAIL = 16  # a shape matches its prefix (not inside a word) and at least this many key characters
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def names() -> tuple[str, ...]:
    return tuple(KEYS)


def present(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The registered keys set (non-empty) in `environ` (default: this process's)."""
    env = os.environ if environ is None else environ
    return {k: v for k in KEYS if (v := env.get(k))}


def without(environ: Mapping[str, str], keep: Iterable[str] = ()) -> dict[str, str]:
    """`environ` without the registered keys, except those named in `keep`."""
    kept = set(keep)
    return {k: v for k, v in environ.items() if k not in KEYS or k in kept}


def handover(session_dir: StrPath, values: Mapping[str, str]) -> None:
    """Leave `values` (names and secrets) for the session's worker: a 0600 file it reads and unlinks.

    An old file (a worker that died before reading it) is replaced; nothing is written when `values` is
    empty. A link in its place is never followed.
    """
    path = os.path.join(session_dir, HANDOVER)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    if not values:
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, jsontext.dumps(dict(values)).encode())
    finally:
        os.close(fd)


def take(session_dir: StrPath) -> dict[str, str]:
    """What the spawner left for this worker (see `handover`), now in os.environ, the file gone."""
    path = os.path.join(session_dir, HANDOVER)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # none left (a command worker given no key), or a link: nothing is taken
        return {}
    try:
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
    finally:
        os.close(fd)
        os.unlink(path)
    try:
        got = jsontext.loads(data)
    except ValueError:
        return {}
    if not isinstance(got, dict):
        return {}
    values = {str(k): str(v) for k, v in got.items() if isinstance(v, str)}
    os.environ.update(values)
    return values


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every key replaced by [redacted]: the values of the registered keys this process knows
    (as they are, and as JSON writes them), and anything of a registered key's shape."""
    if not text:
        return text
    env = os.environ if environ is None else environ
    for name, prefix in KEYS.items():
        value = env.get(name)
        if value and len(value) >= MIN_VALUE:
            if value in text:
                text = text.replace(value, REDACTED)
            escaped = jsontext.dumps(value)[1:-1]
            if escaped != value and escaped in text:
                text = text.replace(escaped, REDACTED)
        if prefix and prefix in text:
            text = _redact_shape(text, prefix)
    return text


def _redact_shape(text: str, prefix: str) -> str:
    out: list[str] = []
    pos = 0
    while (start := text.find(prefix, pos)) >= 0:
        end = start + len(prefix)
        while end < len(text) and text[end] in _KEY_CHARS:
            end += 1
        inside = start > 0 and text[start - 1] in _KEY_CHARS  # "task-..." holds "sk-": not a key
        if end - start - len(prefix) >= MIN_TAIL and not inside:
            out.append(text[pos:start] + REDACTED)
        else:
            out.append(text[pos:end])
        pos = end
    out.append(text[pos:])
    return "".join(out)
