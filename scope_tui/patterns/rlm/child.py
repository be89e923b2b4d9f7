"""The REPL's own process: `python -I -m scope_tui.patterns.rlm.child FD`, started by repl.Repl.

It runs model-written code, so it starts contained: a cleared environment (the parent passes none),
its own process group, rlimits set here before any block runs, and the parent-death signal. It talks
to the engine over the socket FD in length-prefixed JSON frames (never pickle: a frame from this
process is untrusted, and unpickling would run its code in the engine). The sub-call functions
(llm_query, rlm_query, tools) are proxies: each call is a frame, the engine does the work and answers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import threading
from typing import Any

MAX_FRAME = 256 << 20  # bytes; a bigger frame is a broken or hostile peer


class Closed(Exception):
    """The other end closed, or sent something that is not a frame."""


def send(sock: socket.socket, msg: dict[str, Any]) -> None:
    data = json.dumps(msg, default=str).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def _read(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(min(n - len(buf), 1 << 20))
        if not part:
            raise Closed("closed")
        buf += part
    return bytes(buf)


def send_bytes(sock: socket.socket, data: bytes) -> None:
    """A raw frame: a str context goes as its UTF-8 bytes (JSON-escaping 40 MB costs most of a second)."""
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_bytes(sock: socket.socket) -> bytes:
    (n,) = struct.unpack(">I", _read(sock, 4))
    if n > MAX_FRAME:
        raise Closed(f"a frame of {n} bytes")
    return _read(sock, n)


def recv(sock: socket.socket) -> dict[str, Any]:
    """One frame; raises Closed (or socket.timeout when the socket has a timeout) when none can be had."""
    (n,) = struct.unpack(">I", _read(sock, 4))
    if n > MAX_FRAME:
        raise Closed(f"a frame of {n} bytes")
    try:
        msg = json.loads(_read(sock, n))
    except ValueError as exc:
        raise Closed(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise Closed("not a JSON object")
    return msg


def apply_limits(limits: dict[str, int]) -> None:
    """setrlimit for each of cpu (seconds), as (bytes), nofile and nproc given; soft and hard alike."""
    import resource

    names = {
        "cpu": resource.RLIMIT_CPU,
        "as": resource.RLIMIT_AS,
        "nofile": resource.RLIMIT_NOFILE,
        "nproc": resource.RLIMIT_NPROC,
    }
    for key, value in limits.items():
        if key in names and value and value > 0:
            try:
                resource.setrlimit(names[key], (int(value), int(value)))
            except (ValueError, OSError):
                pass  # above the current hard limit: keep the lower one already in force


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(fd: int) -> int:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    init = recv(sock)  # raises Closed when the engine died before this process set its death signal
    context = recv_bytes(sock).decode() if init.get("raw_context") else init.get("context")
    from scope_tui.patterns.rlm.repl import ReplCore

    lock = threading.Lock()

    def proxy(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:  # one call in flight: the engine answers frames in order
                send(sock, {"op": "call", "name": name, "args": list(args), "kwargs": kwargs})
                reply = recv(sock)
            if "error" in reply:
                raise RuntimeError(str(reply["error"]))
            return reply.get("value")

        call.__name__ = name
        call.__doc__ = (init.get("docs") or {}).get(name)
        return call

    core = ReplCore(
        context,
        {name: proxy(name) for name in init.get("functions") or []},
        output_limit=int(init.get("output_limit") or 20_000),
        timeout=float(init.get("timeout") or 0),
        imports=init.get("imports"),
    )
    apply_limits(init.get("limits") or {})
    send(sock, {"op": "ready", "pid": os.getpid()})
    while True:
        try:
            msg = recv(sock)
        except Closed:
            return 0
        op = msg.get("op")
        if op == "run":
            res = core.run(str(msg.get("code", "")))
            send(sock, {"op": "result", **res.as_dict()})
        elif op == "get":
            send(sock, {"op": "value", "value": core.get(str(msg.get("name", "")))})
        elif op == "measure":
            send(sock, {"op": "value", "value": core.measure(list(msg.get("names") or []))})
        else:
            return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
