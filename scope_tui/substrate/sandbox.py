"""The opt-in sandbox for model-written code: bubblewrap with no network and a read-only project.

`wanted(params, cfg)` says whether a session asked for it (`--sandbox`, or `[sessions] sandbox =
"bwrap"`). `probe()` runs bwrap once per process (being on PATH is not working: AppArmor can forbid
the user namespaces it needs) and returns a `Probe`; `wrap(argv, ...)` prefixes an argv with the bwrap
line when the probe passed. The REPL and the command workers use it; `scope doctor` reports the probe.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MODES = ("none", "bwrap")


@dataclass(frozen=True)
class Probe:
    ok: bool
    exe: str | None
    why: str  # one line: what ran, or why it cannot


@functools.cache
def probe() -> Probe:
    """Run `bwrap ... true` once: does it start a namespace here?"""
    exe = shutil.which("bwrap")
    if not exe:
        return Probe(False, None, "bwrap not found (apt-get install bubblewrap)")
    try:
        r = subprocess.run(
            [exe, *_base(), "--", "/bin/true"], capture_output=True, text=True, timeout=10, env={}
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Probe(False, exe, f"bwrap could not run: {exc}")
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["exit " + str(r.returncode)])[-1]
        return Probe(False, exe, f"bwrap cannot start a sandbox here: {why[:160]}")
    return Probe(True, exe, f"bwrap runs ({exe}): no network, project read-only")


def _base() -> list[str]:
    return [
        "--unshare-all",  # no network, own pid / ipc / uts namespaces
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
    ]


def _runtime() -> list[Path]:
    """What the sandboxed Python needs to start, bound again read-only over the fresh /tmp: the
    interpreter's prefixes and Scope's own code (a checkout or venv under /tmp would vanish otherwise)."""
    import sys

    code = Path(__file__).resolve().parent.parent.parent  # the folder that holds scope_tui/
    return [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, code]


def hidden_paths(scope_dir: Path) -> list[Path]:
    """What a sandboxed process must not see: the person's patches, the trust store and Scope's config."""
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [scope_dir / "patches", xdg / "scope"]


def wrap(
    argv: Sequence[str],
    *,
    readonly: Sequence[Path] = (),
    writable: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
    chdir: Path | None = None,
) -> list[str]:
    """`argv` under bwrap: everything read-only and a fresh /tmp, `readonly` bound again read-only (a
    project under /tmp stays visible), `writable` bound read-write, `hidden` replaced by an empty tmpfs.
    Call only after `probe().ok`."""
    exe = probe().exe or "bwrap"
    out = [exe, *_base()]
    for r in [*_runtime(), *readonly]:
        if r.exists():
            out += ["--ro-bind", str(r), str(r)]
    for h in hidden:
        if h.is_dir():
            out += ["--tmpfs", str(h)]
    for w in writable:
        if w.exists():
            out += ["--bind", str(w), str(w)]
    if chdir is not None:
        out += ["--chdir", str(chdir)]
    return [*out, "--", *argv]
