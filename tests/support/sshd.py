"""A real sshd on 127.0.0.1 for the hosts tests: run as the current user on a free port, with a host key
and a client key made for the test, its own sshd_config (`-f`, no daemon) and an ssh config file of its
own for the client (`SCOPE_SSH_CONFIG`), so the person's ~/.ssh is never read or written."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support.helpers import wait_until

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    def __init__(self, d: Path, env: dict[str, str]) -> None:
        self.d, self.env, self.port = d, env, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "id")], check=True)
        (d / "authorized_keys").write_text((d / "id.pub").read_text())
        os.chmod(d / "authorized_keys", 0o600)
        setenv = " ".join(f"{k}={v}" for k, v in env.items())
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nPrintMotd no\nLogLevel ERROR\n"
            f"SetEnv {setenv}\n"
        )
        host_pub = (d / "host_key.pub").read_text().split()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config = d / "ssh_config"
        self.config.write_text(
            f"Host box\n  HostName 127.0.0.1\n  Port {self.port}\n  User {getpass.getuser()}\n"
            f"  IdentityFile {d / 'id'}\n  IdentitiesOnly yes\n  UserKnownHostsFile {d / 'known_hosts'}\n"
            "  StrictHostKeyChecking yes\n  LogLevel ERROR\n  ConnectTimeout 5\n"
        )

    def start(self) -> str | None:
        """Start sshd; None when it listens, else why it could not start."""
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation folder
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.d / "sshd_config")], stderr=subprocess.PIPE
        )

        def listening() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                return True
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_until(listening, timeout=15, what="sshd listening")
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            return f"sshd exited {self.proc.returncode}: {err.strip()[:300]}"
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
