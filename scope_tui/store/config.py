"""`.scope/config.toml`: project settings, read with tomllib and written with tomli-w."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from scope_tui.store import files
from scope_tui.store.atomic import write_text
from scope_tui.store.drivers import SPAWNABLE
from scope_tui.store.errors import CorruptFile
from scope_tui.store.schema import Key, check_toml, defaults

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from typing import Any

# Every key of `.scope/config.toml`, one line each: name, kind (store/schema.py), default, and whether
# it applies only after `scope trust` (it names a program, a command, a URL or a host). A later issue
# adds its key here; the README's config reference is this table.
KEYS = (
    Key(
        "driver",
        "str",
        "builtin",
        choices=SPAWNABLE,
        doc="what runs a spawned session (store/drivers.py)",
    ),
    Key("auto_approve", "bool", False, trust=True, doc="apply learned skill patches without a person"),
    Key("theme", "str", "scope-dark", doc="the control room's theme (`themes/*.toml`)"),
    Key("bell", "bool", True, doc="ring the terminal bell when a session needs a person"),
    Key("keymap", "table[str]", {}, doc='binding id = key, e.g. `kill = "K"`'),
    Key("models", "table", doc="model per OODA level, and how to reach them"),
    Key(
        "models.backend",
        "str",
        "auto",
        choices=("auto", "anthropic", "openai", "offline"),
        doc="auto: a level's provider when its key (or a base_url) is there, else offline",
    ),
    Key("models.strategic", "model", "claude-opus-4-6", doc="a name, or a table: provider, name, base_url"),
    Key("models.tactical", "model", "claude-sonnet-4-6"),
    Key("models.operational", "model", "claude-haiku-4-5"),
    Key("models.rlm_sub", "model", doc="an RLM's llm_query sub-calls (default: operational's)"),
    Key("models.base_url", "str", trust=True, doc="another Messages-API endpoint"),
    Key("models.max_tokens", "int+", doc="per model call (default 4096)"),
    Key("models.retry_cap", "pos", doc="seconds between retries at most (default 8)"),
    Key("models.max_attempts", "int+", doc="tries of one model call (default 5)"),
    Key(
        "prices",
        "table[price]",
        {
            "claude-opus-4-6": [5.0, 25.0],
            "claude-sonnet-4-6": [3.0, 15.0],
            "claude-haiku-4-5": [1.0, 5.0],
            "gpt-5": [1.25, 10.0],
            "gpt-5-mini": [0.25, 2.0],
            "gpt-4.1": [2.0, 8.0],
            "gpt-4.1-mini": [0.4, 1.6],
            "offline": [0.0, 0.0],  # and any model with no entry (a local one) costs 0
        },
        doc='dollars per million tokens: [input, output]; "provider:name" keys win over a bare name',
    ),
    Key("budgets", "table", doc="0 means no limit"),
    Key("budgets.session", "num+", 0.0, doc="dollars one session may spend"),
    Key("budgets.subtree", "num+", 0.0, doc="dollars a session and its children may spend"),
    Key("worker", "table", doc="the builtin worker"),
    Key("worker.bash_timeout", "pos", doc="seconds one bash tool call may run (default 120)"),
    Key("worker.max_turns", "int+", doc="model turns before the worker stops (default 30)"),
    Key("rlm", "table", doc="the RLM engine"),
    Key("rlm.max_iter", "int+"),
    Key("rlm.max_depth", "int"),
    Key("rlm.output_limit", "int+", doc="characters of REPL output shown to the model"),
    Key("rlm.block_timeout", "pos", doc="seconds one REPL block may run"),
    Key("rlm.child_timeout", "pos", doc="seconds an rlm_query child may run"),
    Key("rlm.max_timeout", "pos", doc="wall seconds for a whole RLM run (--max-timeout)"),
    Key("rlm.max_tokens", "int+", doc="tokens in and out for a whole RLM run (--max-tokens)"),
    Key("rlm.max_errors", "int+", doc="REPL blocks in a row that raised before the run stops (--max-errors)"),
    Key("rlm.max_subcalls", "int+", doc="concurrent sub-calls (--max-subcalls, default 4)"),
    Key("rlm.chunk_chars", "int+", doc="the sub-context size the RLM's prompt suggests (default 500,000)"),
    Key("rlm.compact_tokens", "int+", doc="history tokens past which the RLM compacts its turns"),
    Key("rlm.imports", "list[str]", doc="modules a REPL block may import beyond the allow-list"),
    Key(
        "rlm.tools",
        "table[str]",
        trust=True,
        doc='custom tools: name = "module:function" or "file.py:function"',
    ),
    Key("rlm.sub_tools", "table[str]", trust=True, doc="custom tools for sub-calls (default: rlm.tools)"),
    Key("rlm.cpu_seconds", "int+", doc="the REPL process's CPU limit (default 600)"),
    Key("rlm.memory_mb", "int+", doc="the REPL process's address space (default 4096)"),
    Key("rlm.open_files", "int+", doc="the REPL process's open files (default 256)"),
    Key("rlm.processes", "int+", doc="processes the REPL may add beyond the user's (default 32)"),
    # [gepa] (or `gepa = false`: learning off; gepa.evals.settings reads both forms)
    Key("gepa.enabled", "bool", doc="online learning: patches and the Pareto draw (default true)"),
    Key("gepa.minibatch", "int+", doc="eval items a patch is tested on (default 3)"),
    Key("gepa.eval_budget", "num+", doc="dollars one patch's test may spend (default 1.0)"),
    Key("gepa.evals_cap", "int+", doc="eval items kept per skill (default 20)"),
    Key("gepa.run_stored_checks", "bool", trust=True, doc="eval items verified by a stored --check may run"),
    Key("claude", "table", doc="the Claude Code driver"),
    Key("claude.bin", "str", trust=True, doc="the claude executable (default `claude` on PATH)"),
    Key("claude.keep_open", "bool", doc="leave claude running after the task is done"),
    Key("claude.allow", "list[str]", trust=True, doc='extra permission rules, e.g. ["Bash(pytest:*)"]'),
    Key("claude.ready_timeout", "pos", doc="seconds for Claude Code to take input"),
    Key("claude.deliver_timeout", "pos", doc="seconds for a pasted task to be submitted"),
    Key("codex", "table", doc="the Codex CLI driver"),
    Key("codex.bin", "str", trust=True, doc="the codex executable (default `codex` on PATH)"),
    Key("codex.base_url", "str", trust=True, doc="a Responses API server (default: api.openai.com)"),
    Key("codex.model", "str", doc="the model codex asks for (default: codex's own, or spawn --model)"),
    Key("codex.approval", "str", doc='codex approval_policy (default "on-request")'),
    Key("codex.sandbox", "str", doc='codex sandbox_mode (default "workspace-write")'),
    Key("codex.keep_open", "bool", doc="leave codex running after the task is done"),
    Key("codex.ready_timeout", "pos", doc="seconds for Codex to take input"),
    Key("codex.deliver_timeout", "pos", doc="seconds for a pasted task to be submitted"),
    Key("gemini", "table", doc="the Gemini CLI driver"),
    Key("gemini.bin", "str", trust=True, doc="the gemini executable (default `gemini` on PATH)"),
    Key("gemini.base_url", "str", trust=True, doc="a Gemini API server (GOOGLE_GEMINI_BASE_URL)"),
    Key("gemini.model", "str", doc='the model (default "gemini-2.5-flash"; "Auto" routes every prompt)'),
    Key("gemini.keep_open", "bool", doc="leave gemini running after the task is done"),
    Key("gemini.ready_timeout", "pos", doc="seconds for Gemini CLI to take input"),
    Key("gemini.deliver_timeout", "pos", doc="seconds for a pasted task to be submitted"),
    Key("opencode", "table", doc="the OpenCode driver"),
    Key("opencode.bin", "str", trust=True, doc="the opencode executable (default `opencode` on PATH)"),
    Key("opencode.base_url", "str", trust=True, doc="an OpenAI-compatible server (a custom provider)"),
    Key("opencode.model", "str", doc="provider/model as OpenCode names it, or a name on base_url's server"),
    Key("opencode.keep_open", "bool", doc="leave opencode serve running after the task is done"),
    Key("opencode.ready_timeout", "pos", doc="seconds for OpenCode's server to answer"),
    Key("ooda", "table", doc="the supervision levels"),
    Key(
        "ooda.review_every",
        "pos",
        doc="seconds between the orchestrator's reviews of its subtree (default 60)",
    ),
    Key("hooks", "table", trust=True, doc="commands run on events"),
    Key("sessions", "table", doc="what sessions may do"),
    Key("sessions.allow_command_workers", "bool", False, trust=True, doc="a session may spawn --cmd workers"),
    Key(
        "sessions.sandbox", "str", "none", choices=("none", "bwrap"), doc="run REPLs and commands under bwrap"
    ),
    Key("serve", "table", doc="`scope serve`"),
    Key("serve.host", "str", trust=True, doc="where `scope serve` listens (not loopback needs a password)"),
    Key("serve.port", "int+", doc="the port `scope serve` listens on (default 8000)"),
    Key("serve.password_file", "str", trust=True, doc="the password for `scope serve` off loopback"),
    Key(
        "serve.public_url",
        "str",
        trust=True,
        doc="where your tunnel shows `scope serve` (https://box.tailnet.ts.net; not loopback needs a password)",
    ),
    Key("hosts", "table", trust=True, doc="other machines, `[hosts.NAME]` each (its keys below)"),
    Key("notify", "table", doc="alerts that reach a person (store/outbox.py, substrate/notify.py)"),
    Key("notify.urls", "list[str]", trust=True, doc='apprise URLs, e.g. ["ntfys://ntfy.sh/my-topic"]'),
    Key("notify.webhook", "str", trust=True, doc="a URL that gets a JSON POST {title, body, alerts}"),
    Key("notify.desktop", "bool", doc="a desktop notification by notify-send when present"),
    Key("notify.quiet_hours", "str", doc='"22:00-07:00": alerts held (queued) in that span of local time'),
    Key("notify.rate", "num+", doc="seconds between two messages at least (default 30)"),
    Key("notify.batch", "num+", doc="seconds a burst gathers into one message (default 2)"),
)
# The keys of one `[hosts.NAME]` table (checked for each NAME; `hosts` gates them all).
HOST_KEYS = (
    Key("ssh", "str", doc="the ssh destination: `user@box`, or a Host of ~/.ssh/config"),
    Key("path", "str", doc="the project's folder there"),
    Key("scope", "str", "scope", doc="the `scope` program there (default `scope` on its PATH)"),
)
HOST_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
DEFAULTS: dict[str, Any] = defaults(KEYS)


def check(data: dict[str, Any], text: str, file: str = "config.toml", keys: tuple[Key, ...] = KEYS) -> None:
    """Raise ConfigError (`config.toml:7: auto_approve: expected a boolean, got "no"`) for the first
    value of the wrong type. Keys the table does not know are left alone (a later Scope may know them)."""
    check_toml(file, text, data, keys)
    hosts = data.get("hosts")
    if keys is KEYS and isinstance(hosts, dict):
        from scope_tui.store.schema import ConfigError, toml_line

        for name, table in hosts.items():
            where = f"hosts.{name}"
            if not host_name_ok(name):
                raise ConfigError(
                    file, toml_line(text, where), where, "a host name is letters, digits, _ and -"
                )
            if not isinstance(table, dict):
                raise ConfigError(file, toml_line(text, where), where, "expected a table (ssh, path, scope)")
            check_toml(
                file, text, {"hosts": {name: table}}, [Key(f"{where}.{k.name}", k.kind) for k in HOST_KEYS]
            )
            for k in ("ssh", "path"):
                if not table.get(k):
                    raise ConfigError(
                        file, toml_line(text, where), f"{where}.{k}", "missing (a host needs ssh and path)"
                    )


def host_name_ok(name: str) -> bool:
    return bool(name) and len(name) <= 64 and set(name) <= HOST_NAME_CHARS


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    import tomllib  # lazily: most `scope spawn` runs never read the config

    try:
        text = files.read_text(path, files.JSON_CAP)
    except FileNotFoundError:
        return "", {}
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CorruptFile(path.name, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise CorruptFile(path.name, "nested too deep") from None


def read_raw(path: Path) -> dict[str, Any]:
    """The file's own tables, not checked against KEYS ({} when there is no file); CorruptFile when it is
    not a regular file, not UTF-8 or not TOML."""
    return _read(path)[1]


def load(path: Path) -> dict[str, Any]:
    """The settings in `path` over the defaults, without the trust-gated keys of a project a person has
    not trusted (store/trust.py). Raises CorruptFile for a broken file and ConfigError (exit 2,
    `file:line: key: what is wrong`) for a value of the wrong type."""
    return load_trusted(path)[0]


def load_trusted(path: Path) -> tuple[dict[str, Any], list[str]]:
    """`load`, and the dotted names of the gated keys it left out because the project is not trusted."""
    from scope_tui.store import trust

    text, raw = _read(path)
    check(raw, text, path.name)
    raw, ignored = trust.apply(os.path.dirname(os.path.dirname(os.path.abspath(path))), raw)
    return _merge(DEFAULTS, raw), ignored


def update(path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the file (keeping what a person wrote there) and return the file's dict."""
    import tomli_w  # the one non-stdlib import of the store, and only when writing

    data = _merge(read_raw(path), changes)
    write_text(path, tomli_w.dumps(data))
    return data


def sandbox_wanted(params: dict[str, Any] | None, cfg: dict[str, Any] | None) -> bool:
    """True when the session asked for the sandbox: its own `sandbox` param wins over `[sessions] sandbox`.
    (Here, not in substrate.sandbox: a command worker asks this before it imports anything of the sandbox.)"""
    p = (params or {}).get("sandbox")
    if p is not None:
        return bool(p) and p != "none"
    mode = ((cfg or {}).get("sessions") or {}).get("sandbox", "none")
    return str(mode) == "bwrap"
