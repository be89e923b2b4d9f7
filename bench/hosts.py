"""What following a host costs: connections and bytes of one host with N agents, over a real sshd on
127.0.0.1, to extrapolate to 10 hosts x 50 agents. Prints a table.

    .venv/bin/python bench/hosts.py [--agents 200]

One room-like follower (`ssh box scope watch --json` through the host's master connection) reads the
remote project while N command agents are spawned there with `scope spawn --host` and run to the end.
Measured in the same run: the JSON payload the stream carried (what a local `scope watch` would print, the
baseline: no ssh) against the bytes on the wire (the TCP connection's own counters, `ss -ti`, encryption and
framing included), the TCP connections to sshd, and the idle cost (keep-alives) over 20 s with nothing
changing. sshd, its keys and the ssh config are made in a temp folder; ~/.ssh is never read.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from tests.support.sshd import Sshd  # noqa: E402  (the same sshd the tests start)

SCOPE = [sys.executable, "-m", "scope_tui"]


def tcp(port: int) -> tuple[int, int, int]:
    """(connections to sshd's port, bytes received, bytes sent) on the client side, by ss."""
    out = subprocess.run(["ss", "-tin", "dst", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout
    conns = out.count(f"127.0.0.1:{port}")
    recv = sum(int(x) for x in re.findall(r"bytes_received:(\d+)", out))
    sent = sum(int(x) for x in re.findall(r"bytes_sent:(\d+)", out))
    return conns, recv, sent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=200)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bh-", dir="/tmp"))
    env = dict(os.environ)
    env.pop("TMUX", None)
    env.update(TMUX_TMPDIR=str(tmp), XDG_CONFIG_HOME=str(tmp / "xdg"), HOME=str(tmp))
    os.environ.update(TMUX_TMPDIR=str(tmp), XDG_CONFIG_HOME=str(tmp / "xdg"), HOME=str(tmp))
    sshd = Sshd(tmp, {"TMUX_TMPDIR": str(tmp), "XDG_CONFIG_HOME": str(tmp / "xdg"), "HOME": str(tmp)})
    why = sshd.start()
    if why:
        print(f"bench/hosts.py: {why}", file=sys.stderr)
        return 1
    env["SCOPE_SSH_CONFIG"] = str(sshd.config)
    from scope_tui import api
    from scope_tui.store.project import Project

    here, there = tmp / "here", tmp / "there"
    for d in (here, there):
        d.mkdir()
        Project.create(d / ".scope")

    def scope(*args: str, cwd: Path = here, **kw) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SCOPE, *args], cwd=cwd, env=env, capture_output=True, text=True, **kw)

    scope("host", "add", "box", f"box:{there}", "--scope", str(Path(sys.executable).parent / "scope"))
    scope("trust")
    assert scope("host", "setup", "box").returncode == 0, "the host is not ready"
    base = tcp(sshd.port)
    # the follower runs what the room runs for a host (tui/remote.py): the same argv
    argv = api.host_argv(Project(str(here / ".scope")), "box", ["watch", "--json"])
    stream = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    payload = [0, 0]  # bytes, lines
    done = threading.Event()

    def read() -> None:
        assert stream.stdout is not None
        for line in stream.stdout:
            payload[0] += len(line)
            payload[1] += 1
            if b'"status":"done"' in line and b'"type":"status"' in line:
                payload.append(1)  # a finished agent
            if len(payload) - 2 >= a.agents:
                done.set()

    threading.Thread(target=read, daemon=True).start()
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        refs = list(
            pool.map(
                lambda i: scope(
                    "spawn", "--host", "box", "--cmd", "sleep 1; echo ok", f"agent {i}"
                ).stdout.strip(),
                range(a.agents),
            )
        )
    assert all(r.startswith("box:") for r in refs), "a spawn through ssh failed"
    spawned_s = time.monotonic() - t0
    conns_busy, recv_busy, sent_busy = tcp(sshd.port)
    done.wait(600)
    run_s = time.monotonic() - t0
    conns, recv, sent = tcp(sshd.port)
    busy_payload = payload[0]
    time.sleep(20)
    _, recv_idle, sent_idle = tcp(sshd.port)
    idle_bytes = (recv_idle - recv) + (sent_idle - sent)
    stream.kill()
    for sock in (tmp / f"tmux-{os.getuid()}").glob("*"):  # the remote's tmux server (only ours: TMUX_TMPDIR)
        subprocess.run(["tmux", "-L", sock.name, "kill-server"], env=env, capture_output=True)
    api.host_connection(Project(str(here / ".scope")), "box", "exit")
    sshd.stop()

    n = a.agents
    wire = recv - base[1] + sent - base[2]
    print(f"1 host x {n} agents (command agents, `sleep 1; echo ok`), over sshd on 127.0.0.1, one run")
    print(f"{'':38} {'measured':>14} {'per agent':>12}")
    print(f"{'TCP connections to sshd (busy / end)':38} {f'{conns_busy} / {conns}':>14} {'-':>12}")
    print(f"{'spawns through ssh, wall':38} {spawned_s:>13.1f}s {spawned_s / n * 1000:>10.0f}ms")
    print(f"{'all agents done, wall':38} {run_s:>13.1f}s {'':>12}")
    print(f"{'watch payload (baseline: no ssh)':38} {busy_payload:>13}B {busy_payload / n:>11.0f}B")
    print(f"{'watch lines':38} {payload[1]:>14} {payload[1] / n:>12.1f}")
    print(f"{'wire bytes, stream + spawns (ssh)':38} {wire:>13}B {wire / n:>11.0f}B")
    print(f"{'wire / payload':38} {wire / max(busy_payload, 1):>14.2f} {'':>12}")
    print(f"{'idle wire bytes per minute':38} {idle_bytes * 3:>13}B {'':>12}")
    per_agent = wire / n
    print()
    print("extrapolated to 10 hosts x 50 agents (500 agents with the same life):")
    print("  connections: 10 (one master a host; the stream and every command ride it)")
    print(
        f"  bytes for their whole lives: {per_agent * 500 / 1e6:.2f} MB; idle: {idle_bytes * 3 * 10 / 1e3:.1f} kB/min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
