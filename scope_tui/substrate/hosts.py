"""Other machines, reached with the system's OpenSSH: one ControlMaster connection per host.

Each host runs its own Scope (its tmux server, the `.scope/` of the project's checkout there); this module
only builds the ssh command lines and runs `scope` there. The person's ~/.ssh/config, keys, agent and
jump hosts apply; `SCOPE_SSH_CONFIG` names another ssh config file (`ssh -F`), which the tests use. What
a remote command is given as data (a task) goes on its stdin, never on the ssh command line.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any

from scope_tui.store import config
from scope_tui.store.errors import UsageError
from scope_tui.store.project import Project

PERSIST_S = 600  # the master connection stays this long after its last client
MIN_PYTHON = (3, 11)
MIN_TMUX = (3, 2)
_SUN_PATH = 88  # a unix socket path stays under 108 bytes, and ssh adds 17 while it binds


class Host:
    __slots__ = ("name", "ssh", "path", "scope")

    def __init__(self, name: str, ssh: str, path: str, scope: str = "scope") -> None:
        self.name, self.ssh, self.path, self.scope = name, ssh, path, scope

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.ssh!r}, {self.path!r})"


def configured(project: Project) -> dict[str, Host]:
    """The project's `[hosts.NAME]` tables (none while the project is not trusted: they are gated)."""
    table = config.load(project.config_path).get("hosts") or {}
    return {n: Host(n, t["ssh"], t["path"], t.get("scope") or "scope") for n, t in table.items()}


def get(project: Project, name: str) -> Host:
    hosts = configured(project)
    if name in hosts:
        return hosts[name]
    raw = (config.read_raw(project.config_path).get("hosts") or {}) if project.config_path.exists() else {}
    if name in raw:
        raise UsageError(f"host {name}: the project is not trusted (run `scope trust` to let [hosts] apply)")
    raise UsageError(f"no host {name} (scope host add {name} user@box:/path)")


def split_id(ref: str) -> tuple[str | None, str]:
    """`NAME:3.1` -> ("NAME", "3.1"); a plain id -> (None, id)."""
    name, colon, sid = ref.rpartition(":")
    return (name, sid) if colon else (None, ref)


def control_path(project: Project, name: str) -> str:
    """The master connection's socket: under `.scope/ssh/`, or a short folder of the user's when that
    path is too long for a unix socket."""
    path = os.path.join(project.path, "ssh", name)
    if len(path) <= _SUN_PATH:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return path
    import hashlib

    short = os.path.join("/tmp", f"scope-ssh-{os.getuid()}")
    os.makedirs(short, mode=0o700, exist_ok=True)
    return os.path.join(short, hashlib.sha256(path.encode()).hexdigest()[:16])


def ssh_argv(project: Project, host: Host, remote: list[str], *, tty: bool = False) -> list[str]:
    """`ssh … DEST 'cd PATH && SCOPE ARGS…'`: one master connection per host, reused by every call."""
    argv = ["ssh"]
    cfg = os.environ.get("SCOPE_SSH_CONFIG")
    if cfg:
        argv += ["-F", cfg]
    argv += [
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={control_path(project, host.name)}",
        "-o", f"ControlPersist={PERSIST_S}",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
    ]  # fmt: skip
    argv += ["-t"] if tty else ["-T", "-o", "BatchMode=yes"]
    command = f"cd {shlex.quote(host.path)} && exec {shlex.quote(host.scope)} " + " ".join(
        shlex.quote(a) for a in remote
    )
    return [*argv, "--", host.ssh, command]


def run(
    project: Project, host: Host, remote: list[str], *, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run `scope REMOTE…` on the host; its output and exit code as they came back (255: ssh failed)."""
    try:
        return subprocess.run(
            ssh_argv(project, host, remote),
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise UsageError("ssh is not installed (the system's OpenSSH client reaches other hosts)") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"host {host.name}: no answer in {timeout:.0f}s") from None


def ssh_failed(host: Host, proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode(errors="replace").strip().splitlines()
    return f"host {host.name} ({host.ssh}): {err[-1] if err else 'ssh failed'}"


def control(project: Project, host: Host, op: str) -> bool:
    """`ssh -O check|exit` on the host's master connection; True when ssh says it did (it is up)."""
    argv = ssh_argv(project, host, [])[:-3]
    try:
        proc = subprocess.run([*argv, "-O", op, host.ssh], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


PROBE = (
    "cd {path} 2>/dev/null && echo path ok || echo path missing; "
    "python3 -c 'import sys; print(\"python\", *sys.version_info[:3])' 2>/dev/null || echo python missing; "
    "tmux -V 2>/dev/null || echo tmux missing; "
    "{scope} --version 2>/dev/null || echo scope missing"
)


def _version(text: str) -> tuple[int, ...]:
    out = []
    for part in text.replace("-", ".").split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        out.append(int(digits))
        if not part.isdigit():
            break
    return tuple(out)


def setup_check(project: Project, host: Host, version: str) -> tuple[list[str], list[str]]:
    """What the host has and what it lacks for Scope: Python >= 3.11, tmux >= 3.2, Scope `version`, the
    project folder. Returns (found, missing), each a list of lines; raises UsageError when ssh fails."""
    argv = ssh_argv(project, host, [])[:-1]  # the same connection, a shell command of its own
    argv.append(PROBE.format(path=shlex.quote(host.path), scope=shlex.quote(host.scope)))
    try:
        proc = subprocess.run(argv, input=b"", capture_output=True, timeout=60)
    except FileNotFoundError:
        raise UsageError("ssh is not installed (the system's OpenSSH client reaches other hosts)") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"host {host.name}: no answer in 60s") from None
    if proc.returncode == 255:
        raise UsageError(ssh_failed(host, proc))
    found: list[str] = []
    missing: list[str] = []
    seen: dict[str, str] = {}
    for line in proc.stdout.decode(errors="replace").splitlines():
        word, _, rest = line.strip().partition(" ")
        seen[word] = rest
    if seen.get("path") == "ok":
        found.append(f"project folder {host.path}")
    else:
        missing.append(f"project folder {host.path} (clone the project there)")
    py = _version(seen.get("python", "").replace(" ", "."))
    if seen.get("python", "missing") != "missing" and py >= MIN_PYTHON:
        found.append(f"Python {'.'.join(map(str, py))}")
    else:
        missing.append("Python >= 3.11" + (f" (found {'.'.join(map(str, py))})" if py else ""))
    tm = _version(seen.get("tmux", ""))
    if seen.get("tmux", "missing") != "missing" and tm >= MIN_TMUX:
        found.append(f"tmux {seen['tmux']}")
    else:
        missing.append("tmux >= 3.2" + (f" (found {seen['tmux']})" if tm else ""))
    theirs = seen.get("scope", "missing")
    if theirs == version:
        found.append(f"Scope {version} ({host.scope})")
    elif theirs == "missing":
        missing.append(f"Scope {version} ({host.scope} not found: pip install scope-tui=={version})")
    else:
        missing.append(f"Scope {version} (found {theirs} at {host.scope})")
    return found, missing


def remote_records(line: bytes) -> dict[str, Any] | None:
    """One line of `scope watch --json` from a host, or None when it is not a record."""
    import json

    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("type"), str) else None
