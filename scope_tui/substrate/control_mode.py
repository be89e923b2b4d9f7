"""One long-lived tmux control-mode client (`tmux -C`) on a project's server, for a process that stays open.

The control room asks tmux through it instead of starting a process per question: commands go down its
stdin and their replies come back between `%begin` and `%end`; between replies tmux says on its own what
happened (`%output` of a pane, `%unlinked-window-close`, `%subscription-changed` when a pane dies,
`%exit`). One-shot processes (the CLI) keep calling tmux directly. Facts seen with tmux 3.3a: a command
sent before the attach's own `%begin`/`%end` gets "no current client"; a control client leaves the windows'
size alone; and `refresh-client -A '%N:off'`, which stops one pane's output, kills the server (a segfault
in its output writer) when the pane's output is still queued for the client: turning each pane off as its
first output came killed the server, and every agent in it, at the second or third session end in two
runs of three with 200 windows (none in ten ends without it). So no pane is turned off: the output of a
pane not listened to is read and dropped here, which costs nothing while it is quiet.
"""

from __future__ import annotations

import collections
import re
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from scope_tui.procs import Ran
from scope_tui.tmux import BASE_SESSION, Tmux, TmuxError, _count, tmux_exe

READY_S = 5.0
REPLY_S = 5.0
DEAD_SUB = "scope-dead"  # the subscription that tells when a pane's process ends
_SAFE = re.compile(r"[A-Za-z0-9@:_.,/=+-]+")  # not %: tmux reads "%if" and friends
_OCTAL = re.compile(rb"\\([0-7]{3})")


def quote_arg(arg: str) -> str:
    """`arg` as one word of a tmux command line (control mode reads lines through tmux's parser)."""
    if _SAFE.fullmatch(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def unescape(data: bytes) -> bytes:
    """%output's data: tmux writes bytes below 32 and the backslash as \\ooo."""
    return _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), data)


class Events:
    """What the client tells its owner (any object with these methods); each is called on the client's
    reader thread."""

    def output(self, pane: str) -> None:
        """Pane `pane`, one listened to, printed something."""

    def window_closed(self, window: str) -> None:
        """A window (`@N`) closed."""

    def pane_died(self, pane: str) -> None:
        """The process of pane `pane` ended (the window stays: remain-on-exit)."""

    def exited(self, reason: str) -> None:
        """The client is gone (the server died, or tmux refused control mode); nothing more will come."""


class _Pending:
    __slots__ = ("done", "lines", "ok", "then")

    def __init__(self, then: Callable[[Ran], None] | None) -> None:
        self.done = threading.Event()
        self.lines: list[bytes] = []
        self.ok = False
        self.then = then

    def ran(self) -> Ran:
        out = b"".join(line + b"\n" for line in self.lines)
        return Ran(0, out, b"") if self.ok else Ran(1, b"", out)


class ControlClient:
    """`tmux -L socket -C attach-session -t _scope`, read on a thread of its own.

    `start()` returns once tmux has answered the attach (or raises TmuxError); `run(*args)` sends one
    command and waits for its reply; `send(args, then)` does not wait. Output is told only for the panes in
    `listening` (the rest is dropped as it comes: see the module's note on `-A '%N:off'`).
    """

    def __init__(self, socket: str, events: Any) -> None:
        self.socket = socket
        self.events = events
        self.listening: set[str] = set()
        self.alive = False
        self.reason = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: collections.deque[_Pending] = collections.deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._block: _Pending | None = None
        self._first = True
        self._refused = False

    def start(self) -> None:
        exe = tmux_exe()
        if exe is None:
            raise TmuxError("tmux is not installed")
        _count()
        self._proc = subprocess.Popen(
            [exe, "-L", self.socket, "-C", "attach-session", "-t", BASE_SESSION],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a ^C in the room's terminal is the room's, not this client's
        )
        threading.Thread(target=self._read, name=f"tmux-control-{self.socket}", daemon=True).start()
        if not self._ready.wait(READY_S) or not self.alive or self._refused:
            self.close()
            raise TmuxError(f"tmux control mode did not start: {self.reason or 'no answer'}")
        # pane ends as notifications (tmux checks subscriptions once a second, on its side)
        self.send(["refresh-client", "-B", f"{DEAD_SUB}:%*:#{{pane_dead}}"])

    # -- commands --------------------------------------------------------------------------------
    def send(self, args: list[str], then: Callable[[Ran], None] | None = None) -> _Pending:
        """Send one command; `then(ran)` is called on the reader thread with its reply."""
        p = _Pending(then)
        line = " ".join(quote_arg(a) for a in args).encode() + b"\n"
        with self._lock:
            if not self.alive or self._proc is None or self._proc.stdin is None:
                p.done.set()
                p.lines = [f"tmux control client gone ({self.reason})".encode()]
                if then is not None:
                    then(p.ran())
                return p
            self._pending.append(p)
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            except OSError as exc:
                self._pending.remove(p)
                p.lines = [f"tmux control client gone ({exc})".encode()]
                p.done.set()
        return p

    def run(self, *args: str, timeout: float = REPLY_S) -> Ran:
        p = self.send(list(args))
        if not p.done.wait(timeout):
            return Ran(1, b"", b"tmux control client: no reply")
        return p.ran()

    def listen(self, pane: str | None) -> None:
        """Output notifications for `pane` only (None: for none)."""
        self.listening = {pane} if pane else set()

    @property
    def commands(self) -> ControlTmux:
        """A Tmux whose commands go through this client (kill, list-panes, capture)."""
        return ControlTmux(self.socket, self)

    def close(self) -> None:
        """Detach (tmux ends the client when its input closes); nothing more is told to `events`."""
        self.events = Events()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # tmux detaches the client when its input ends
                proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    # -- the reader ------------------------------------------------------------------------------
    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        self.alive = True
        for raw in self._proc.stdout:
            line = raw.rstrip(b"\n")
            if self._block is not None:
                if line.startswith((b"%end ", b"%error ")):
                    self._finish(line.startswith(b"%end "))
                else:
                    self._block.lines.append(line)
                continue
            if line.startswith(b"%begin "):
                # %begin TIME NUMBER FLAGS: flags 1 is a command of this client, replied in order
                ours = line.split()[-1:] == [b"1"]
                self._block = self._next() if ours and not self._first else _Pending(None)
                continue
            self._notification(line)
        self._exited()

    def _next(self) -> _Pending:
        with self._lock:
            return self._pending.popleft() if self._pending else _Pending(None)

    def _finish(self, ok: bool) -> None:
        p, self._block = self._block, None
        assert p is not None
        if self._first:  # the attach's own reply (the first block): commands may be sent now
            self._first = False
            if not ok:  # e.g. "can't find session": tmux ends the client next
                self.reason = b" ".join(p.lines).decode(errors="replace").strip() or "attach refused"
                self._refused = True
            self._ready.set()
            return
        p.ok = ok
        p.done.set()
        if p.then is not None:
            p.then(p.ran())

    def _notification(self, line: bytes) -> None:
        kind, _, rest = line.partition(b" ")
        if kind == b"%output":
            pane = rest.split(b" ", 1)[0].decode()
            if pane in self.listening:
                self.events.output(pane)
        elif kind in (b"%unlinked-window-close", b"%window-close"):
            self.events.window_closed(rest.split(b" ", 1)[0].decode())
        elif kind == b"%subscription-changed":
            # %subscription-changed NAME $S @W IDX %P ... : VALUE
            head, _, value = rest.partition(b" : ")
            parts = head.split()
            if parts and parts[0].decode() == DEAD_SUB and value.strip() == b"1" and len(parts) >= 5:
                self.events.pane_died(parts[4].decode())
        elif kind == b"%exit":
            self.reason = rest.decode(errors="replace").strip() or "tmux ended control mode"

    def _exited(self) -> None:
        self.alive = False
        if not self.reason:
            self.reason = "the tmux server is gone"
        if self._proc is not None:
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
        with self._lock:
            left, self._pending = list(self._pending), collections.deque()
        for p in left:
            p.lines = [f"tmux control client gone ({self.reason})".encode()]
            p.done.set()
            if p.then is not None:
                p.then(p.ran())
        self._ready.set()
        self.events.exited(self.reason)


class ControlTmux(Tmux):
    """A `Tmux` whose commands go through a control client: kill, list-panes and capture cost no process."""

    def __init__(self, socket: str, client: ControlClient) -> None:
        super().__init__(socket)
        self.client = client

    def run(self, *args: str, input: bytes | None = None, check: bool = False) -> Ran:
        if input is not None or not self.client.alive:
            return super().run(*args, input=input, check=check)  # stdin-fed (load-buffer): a process
        ran = self.client.run(*args)
        if ran.returncode != 0:
            # asked again directly: a reply that did not come in time (a loaded machine) must never read
            # as "no server" (reconcile would mark every live session lost); a real error repeats itself
            ran = super().run(*args)
        if check and ran.returncode != 0:
            raise TmuxError(f"tmux {args[0]}: {ran.stderr.decode(errors='replace').strip()}")
        return ran
