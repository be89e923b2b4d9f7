"""One private tmux server per project (`tmux -L scope-<hash>`): windows, send, capture, pane logs, attach.

Every command runs the tmux binary directly (posix_spawn, `procs`): `scope spawn` (server, window, pipe)
and the one `list-panes -a` sweep must start in milliseconds, paste feeds stdin, and capture needs the
screen byte for byte. (libtmux was used for two commands, kill-window and send-keys, and cost ~170 ms to
import; measured out, see the README's benchmarks.) Targets are always tmux ids (`@3`, `%7`), never names (a dotted session id reads as window.pane).
"""

from __future__ import annotations

import os
import time

from scope_tui.procs import Ran, quote, run_captured
from scope_tui.store import keys
from scope_tui.store.errors import ScopeError

TYPE_CHECKING = False  # typing is not imported at run time: every process would pay for it
if TYPE_CHECKING:
    from _typeshed import StrPath

BASE_SESSION = "_scope"
SPAWN_COUNTER = os.environ.get("SCOPE_TMUX_COUNTER") or None


class TmuxError(ScopeError):
    pass


class NoServer(TmuxError):
    """The server (or its base session) is not there: start it and try again."""


_exe: str | None = None


def tmux_exe() -> str | None:
    """The tmux binary on PATH, looked up once per process (shutil.which costs an import of shutil)."""
    global _exe
    if _exe is None:
        for d in os.get_exec_path():
            cand = os.path.join(d, "tmux")
            if os.path.isfile(cand) and os.access(cand, os.X_OK):
                _exe = cand
                break
    return _exe


def socket_path(name: str) -> str:
    """Where tmux keeps the socket of server `-L name`: $TMUX_TMPDIR (else /tmp), then tmux-UID."""
    return os.path.join(
        os.path.realpath(os.environ.get("TMUX_TMPDIR") or "/tmp"), f"tmux-{os.getuid()}", name
    )


def server_gone(name: str) -> bool | None:
    """Whether the server `-L name` is gone (True), answers (False) or cannot be asked (None: a socket this
    process may not open). Asks the socket itself; no tmux process is started."""
    import socket as _socket

    path = socket_path(name)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        return True
    except OSError:
        return None
    finally:
        sock.close()
    return False


def socket_for(project_home: StrPath) -> str:
    """The private socket name of a project: `scope-` and a hash of its path."""
    try:  # CPython's own SHA-1: hashlib would load OpenSSL first, a cost every `scope spawn` paid
        from _sha1 import sha1
    except ImportError:
        from hashlib import sha1
    digest = sha1(os.path.realpath(project_home).encode()).hexdigest()[:12]
    return f"scope-{digest}"


def literal(text: str, *, strftime: bool = False) -> str:
    """`text` in an argument tmux expands as a format (a pipe-pane or run-shell command, a start directory):
    a `#` in a project's path would otherwise read as the start of one. pipe-pane also expands strftime
    codes (`strftime`): a `%` is doubled too."""
    # tmux reads `##` as `#`, but leaves `#[` (a style) as it is, and `##[` too
    text = "".join("##" if c == "#" and text[i + 1 : i + 2] != "[" else c for i, c in enumerate(text))
    return text.replace("%", "%%") if strftime else text


def _appending_to(path: str) -> str:
    """A pipe-pane command that appends the pane's output to `path` (which may end in a tmux format)."""
    return literal(f"umask 077; exec cat >> {quote(path)}", strftime=True)  # a 0600 log, as all state


def _argument(text: str) -> str:
    """`text` as one argument of a tmux command line: one that ends in `;` would end the command."""
    return text[:-1] + "\\;" if text.endswith(";") else text


# What a paste may not carry into a pane: ESC (so no sequence at all, the end of a bracketed paste
# `\x1b[201~` included), the C0 controls but newline and tab (^C would interrupt the worker, ^D end its
# input), DEL and the C1 controls (`\x9b` is an 8-bit CSI). Keys meant as keys go by name (send_keys).
_UNPASTEABLE = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])
for _c in (0x09, 0x0A):
    del _UNPASTEABLE[_c]


def pasteable(text: str) -> str:
    """`text` as it may be pasted into a pane: line ends as newlines, and nothing a terminal acts on."""
    for seq in ("\x1b[200~", "\x1b[201~", "\x9b200~", "\x9b201~"):
        text = text.replace(seq, "")
    return text.replace("\r\n", "\n").translate(_UNPASTEABLE)


# A key name for send-keys: Enter, Escape, C-c, BSpace, F1, ... (letters, digits, `-`); never text
_KEY_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


PIPED_MARK = "scope-pane-log"  # a no-op word in the shell line of the windows whose output Scope logs

# What tmux says when its server or base session is not there (yet): a server that another `scope spawn`
# started an instant ago may not have made its base session when this one's command arrives
_NOT_STARTED = ("no server running", "error connecting", "can't find session", "no current target")


class Pane:
    """One line of `list-panes -a`."""

    __slots__ = ("window_name", "window_id", "pane_id", "dead", "dead_status", "pid")

    def __init__(
        self,
        window_name: str,
        window_id: str,
        pane_id: str,
        dead: bool,
        dead_status: int | None,
        pid: int | None,
    ) -> None:
        self.window_name, self.window_id, self.pane_id = window_name, window_id, pane_id
        self.dead, self.dead_status, self.pid = dead, dead_status, pid

    def __repr__(self) -> str:
        return f"Pane({self.window_name!r}, {self.pane_id!r}, dead={self.dead})"


def _count() -> None:
    # Benchmarks set SCOPE_TMUX_COUNTER to count tmux processes started by Scope itself.
    if SPAWN_COUNTER is not None:
        with open(SPAWN_COUNTER, "a") as fh:
            fh.write("1\n")


class Tmux:
    """The tmux server on one private socket."""

    def __init__(self, socket: str) -> None:
        if not socket or "/" in socket:
            raise TmuxError(f"bad tmux socket name {socket!r}")
        self.socket = socket

    def socket_path(self) -> str:
        """Where tmux keeps this server's socket (`socket_path`): it exists while the server runs."""
        return socket_path(self.socket)

    # -- plumbing -------------------------------------------------------------------------------
    def run(self, *args: str, input: bytes | None = None, check: bool = False) -> Ran:
        proc = self._client(args, input)
        if check and proc.returncode != 0:
            raise TmuxError(f"tmux {args[0]}: {proc.stderr.decode(errors='replace').strip()}")
        return proc

    def _client(self, args: tuple[str, ...], input: bytes | None, env: dict[str, str] | None = None) -> Ran:
        """One tmux client process, with `env` (default: this process's environment)."""
        exe = tmux_exe()
        if exe is None:
            raise TmuxError("tmux is not installed (install it: apt-get install tmux)")
        _count()
        return run_captured([exe, "-L", self.socket, *args], input, env)

    def alive(self) -> bool:
        return self.run("has-session", "-t", BASE_SESSION).returncode == 0

    # -- the server -----------------------------------------------------------------------------
    def ensure_server(self, *, pane_died_hook: str | None, banner: str = "Scope's tmux server") -> None:
        """Start the server with its base session and options, unless another process already has."""
        if self.alive():
            return
        idle = f"printf '%s\\n' {quote(banner)}; exec tail -f /dev/null"
        cmds: list[str] = [
            "new-session",
            "-d",
            "-s",
            BASE_SESSION,
            "-n",
            "home",
            "-x",
            "220",
            "-y",
            "50",
            idle,
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "automatic-rename",
            "off",
            ";",
            "set-option",
            "-g",
            "allow-rename",
            "off",
            ";",
            "set-option",
            "-g",
            "history-limit",
            "20000",
            ";",
            "set-option",
            "-g",
            "exit-empty",
            "off",
        ]
        if pane_died_hook:
            # a pane whose process exited 0 needs nothing: tmux tests that itself, without starting a shell
            hook = f"run-shell -b {quote(pane_died_hook)}"
            cmds += [
                ";",
                "set-hook",
                "-g",
                "pane-died",
                f"if-shell -F '#{{!=:#{{pane_dead_status}},0}}' {{ {hook} }}",
            ]
        # the server's global environment is the environment of the process that starts it: no key in it
        env = keys.without(os.environ)
        deadline = time.monotonic() + 3.0
        while True:
            proc = self._client(tuple(cmds), None, env)
            if proc.returncode == 0 or b"duplicate session" in proc.stderr:
                return
            # another process may be starting the same server this instant (ten spawns in a new
            # project): its socket answers a moment later
            if time.monotonic() > deadline:
                raise TmuxError(
                    f"cannot start tmux server {self.socket}: {proc.stderr.decode(errors='replace').strip()}"
                )
            time.sleep(0.05)
            if self.alive():
                return

    def kill_server(self) -> None:
        self.run("kill-server")

    # -- windows --------------------------------------------------------------------------------
    def new_window(
        self, name: str, command: str, *, env: dict[str, str], cwd: StrPath, logs: StrPath, log_name: str
    ) -> tuple[str, str]:
        """Open a window named `name` running the shell line `command`, its output appended to
        `logs/<name>/<log_name>`; returns (window_id, pane_id).

        The line is run by /bin/sh, handed to tmux as an argv so that tmux starts no shell of its own (its
        default-shell is the person's $SHELL, often bash: a few milliseconds more for every window).

        The pipe is attached by an after-new-window hook set in the same tmux call: it runs before tmux
        reads the new pane's first output, so nothing is missed, and it needs no second call (a target
        naming the window would not do: a dotted id reads as window.pane). The hook is the same for every
        window of the server, so spawns running at once agree on it.
        """
        pipe = _appending_to(os.path.join(os.fspath(logs), "")) + "#{q:window_name}/" + log_name
        # only for windows opened here (their shell line carries the mark): a window a person opens on this
        # server, or one that a Scope from before this hook opens and pipes itself, is left alone
        hook = f"if-shell -F '#{{m:*{PIPED_MARK}*,#{{pane_start_command}}}}' {{ pipe-pane -o {quote(pipe)} }}"
        args: list[str] = ["set-hook", "-g", "after-new-window", hook, ";"]
        for k in keys.KEYS:  # a server started by a Scope from before store/keys.py has them: gone
            args += ["set-environment", "-g", "-u", k, ";"]
        args += [
            "new-window",
            "-d",
            "-t",
            f"{BASE_SESSION}:",
            "-n",
            name,
            "-P",
            "-F",
            "#{window_id} #{pane_id}",
            "-c",
            _argument(literal(os.fspath(cwd))),
        ]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        args += ["/bin/sh", "-c", f": {PIPED_MARK}; {command}"]
        proc = self.run(*args)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            gone = any(m in err for m in _NOT_STARTED)
            raise (NoServer if gone else TmuxError)(f"cannot open a tmux window: {err}")
        window, pane = proc.stdout.decode().split()[:2]
        return window, pane

    def pipe(self, pane_id: str, log: StrPath | None) -> bool:
        """Start appending a pane's output to `log` again, or stop (`log` None); True when tmux agreed."""
        args = ["pipe-pane", "-t", pane_id]
        if log is not None:
            args[1:1] = ["-o"]
            args.append(_appending_to(os.fspath(log)))
        return self.run(*args).returncode == 0

    def list_panes(self) -> dict[str, Pane] | None:
        """Every pane on the server, keyed by window name, in one tmux call; None when the server is gone."""
        fmt = "#{window_name}\t#{window_id}\t#{pane_id}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_pid}"
        proc = self.run("list-panes", "-a", "-F", fmt)
        if proc.returncode != 0:
            return None
        panes: dict[str, Pane] = {}
        for line in proc.stdout.decode(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) != 6:
                continue
            name, wid, pid_, dead, status, ppid = parts
            panes[name] = Pane(
                name,
                wid,
                pid_,
                dead == "1",
                int(status) if status.lstrip("-").isdigit() else None,
                int(ppid) if ppid.isdigit() else None,
            )
        return panes

    def kill_window(self, window_id: str) -> None:
        self.run("kill-window", "-t", window_id)

    def paste(self, pane_id: str, text: str, *, enter: bool = True) -> None:
        """Put `text` into a pane, cleaned (`pasteable`): load a buffer from stdin, paste it (bracketed),
        then Enter, sent as a key."""
        buf = f"scope-{os.getpid()}-{pane_id.lstrip('%')}"
        self.run("load-buffer", "-b", buf, "-", input=pasteable(text).encode(), check=True)
        self.run("paste-buffer", "-d", "-p", "-b", buf, "-t", pane_id, check=True)
        if enter:
            self.run("send-keys", "-t", pane_id, "Enter", check=True)

    def send_keys(self, pane_id: str, *keys: str) -> None:
        """Send keys by their tmux names (`Enter`, `Escape`, `C-c`); text goes through `paste`."""
        bad = [k for k in keys if not k or not set(k) <= _KEY_NAME]
        if bad:
            raise TmuxError(f"not a key name: {bad[0]!r} (text is pasted, not sent as keys)")
        self.run("send-keys", "-t", pane_id, *keys, check=True)

    def capture(self, pane_id: str, *, escapes: bool = True, history: int = 0) -> str:
        """The visible screen of a pane (with colour escapes), plus `history` lines of scrollback."""
        args = ["capture-pane", "-p", "-t", pane_id]
        if escapes:
            args.append("-e")
        if history:
            args += ["-S", f"-{history}"]
        proc = self.run(*args)
        if proc.returncode != 0:
            raise TmuxError(f"cannot capture {pane_id}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode(errors="replace")

    def attach_argv(self, window_id: str) -> list[str]:
        """The command that shows `window_id` to a person: switch-client inside this server, else attach."""
        exe = tmux_exe() or "tmux"
        inside = os.environ.get("TMUX", "")
        if inside and os.path.basename(inside.split(",")[0]) == self.socket:
            return [exe, "-L", self.socket, "switch-client", "-t", window_id]
        return [exe, "-L", self.socket, "attach-session", "-t", window_id]
