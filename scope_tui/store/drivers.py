"""The drivers a session can run with, one row each: the data every layer reads about them.

A driver is one module under `scope_tui/workers/` with `run(session_dir) -> int` (the contract is in
workers/agent_cli.py for the agent CLIs). Its row here says what `scope spawn --driver` accepts, what
`scope poll --json` reports as `status_source`, what `scope doctor` looks for (`bin`, `version_args`),
what the room's spawn form offers (the installed ones), which API keys the driver's process may see
(`keys`: each one registered in store/keys.py, the one registry that keeps them out of argv, logs
and every other worker) and which of its config keys apply only after `scope trust`
(`trusted`: a binary, a URL). A new CLI is its module, this row, and one test.

`status_source`, best first: `worker` (Scope's own process writes every status), `hooks` (the CLI's
hooks call `scope hook`), `events` (a server's event stream), `pane` (a heuristic over the screen; only
as the last resort, and labelled so), `exit code` (a plain command).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ANTHROPIC_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
OPENAI_KEYS = ("OPENAI_API_KEY",)
# The models Scope itself calls (models/): provider -> its key variables.
PROVIDER_KEYS = {"anthropic": ANTHROPIC_KEYS, "openai": OPENAI_KEYS}
# Config keys of the models that name a URL (where the calls, and the key, go): trust-gated like a
# driver's binary (store/trust.py reads these lists).
PROVIDER_TRUSTED = tuple(
    f"models.{lv}.base_url" for lv in ("strategic", "tactical", "operational", "rlm_sub")
)

TABLE: dict[str, dict[str, Any]] = {
    "builtin": {
        "title": "built-in agent",
        "module": "scope_tui.workers.builtin",
        "status_source": "worker",
        "enforces": "every tool call, checked before it runs (a refusal is the tool's result)",
        "keys": ANTHROPIC_KEYS + OPENAI_KEYS,
    },
    "command": {
        "title": "shell command",
        "module": "scope_tui.workers.command",
        "status_source": "exit code",
        "enforces": "nothing: a command is not a model",
        "keys": (),
    },
    "claude": {
        "title": "Claude Code",
        "module": "scope_tui.workers.claude",
        "bin": "claude",
        "package": "npm @anthropic-ai/claude-code",
        "status_source": "hooks",
        "enforces": "PreToolUse: a call against the skill's rules is denied, the reflection as the reason",
        "keys": ANTHROPIC_KEYS,
        "trusted": ("claude.bin", "claude.allow"),
    },
    "codex": {
        "title": "Codex CLI",
        "module": "scope_tui.workers.codex",
        "bin": "codex",
        "package": "npm @openai/codex",
        "status_source": "hooks",
        "enforces": "PreToolUse (its shell tool): a call against the skill's rules is denied, the reflection as the reason",
        "keys": OPENAI_KEYS + ("CODEX_API_KEY",),
        "trusted": ("codex.bin", "codex.base_url"),
    },
    "gemini": {
        "title": "Gemini CLI",
        "module": "scope_tui.workers.gemini",
        "bin": "gemini",
        "package": "npm @google/gemini-cli",
        "status_source": "hooks",
        "enforces": "BeforeTool: a call against the skill's rules is denied, the reflection as the reason",
        "keys": ("GEMINI_API_KEY",),
        "trusted": ("gemini.bin", "gemini.base_url"),
    },
    "opencode": {
        "title": "OpenCode",
        "module": "scope_tui.workers.opencode",
        "bin": "opencode",
        "package": "npm opencode-ai",
        "status_source": "events",
        "enforces": "the calls it asks permission for (bash, edit, webfetch): one against the skill's "
        "rules is rejected, the reflection as the reason; reads and searches are seen, not blocked",
        "keys": OPENAI_KEYS,
        "trusted": ("opencode.bin", "opencode.base_url"),
    },
    # internal: a pattern engine under its supervisor, the strategic orchestrator (scope run), a patch's test
    "pattern": {"title": "pattern engine", "status_source": "worker", "internal": True, "keys": ()},
    "orchestrator": {"title": "orchestrator", "status_source": "worker", "internal": True, "keys": ()},
    "eval": {"title": "a patch's test (gepa.trial)", "status_source": "worker", "internal": True, "keys": ()},
}

NAMES = tuple(TABLE)
SPAWNABLE = tuple(n for n, row in TABLE.items() if not row.get("internal"))


def status_source(driver: str | None) -> str:
    row = TABLE.get(str(driver))
    return str(row["status_source"]) if row else "unknown"


def installed() -> tuple[str, ...]:
    """The spawnable drivers usable here: Scope's own, and each agent CLI whose binary is on PATH."""
    import shutil

    return tuple(n for n in SPAWNABLE if not TABLE[n].get("bin") or shutil.which(str(TABLE[n]["bin"])))


def trusted_keys() -> tuple[str, ...]:
    """Every config key a driver or a provider reads that names a program or a URL."""
    out = list(PROVIDER_TRUSTED)
    for row in TABLE.values():
        out.extend(row.get("trusted", ()))
    return tuple(out)
