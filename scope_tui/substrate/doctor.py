"""scope doctor: what this machine has and lacks for Scope, each failure with how to fix it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from scope_tui.store import project as project_mod

Check = tuple[bool | None, str, str]


def _tmux() -> Check:
    exe = shutil.which("tmux")
    if not exe:
        return (
            False,
            "tmux: not found",
            "install tmux 3.2 or newer (apt-get install tmux / brew install tmux)",
        )
    out = subprocess.run([exe, "-V"], capture_output=True, text=True).stdout.strip()
    m = re.search(r"(\d+)\.(\d+)", out)
    if not m or (int(m[1]), int(m[2])) < (3, 2):
        return False, f"tmux: {out or 'unknown version'} is older than 3.2", "upgrade tmux to 3.2 or newer"
    return True, f"tmux: {out}", ""


def _store() -> Check:
    found = project_mod.find()
    if found is None:
        return None, "project: no .scope here yet (scope spawn or scope demo creates one)", ""
    try:
        with tempfile.NamedTemporaryFile(dir=found, prefix=".tmp-doctor-"):
            pass
    except OSError as exc:
        return False, f"project: {found} is not writable ({exc.strerror})", f"fix the permissions of {found}"
    return True, f"project: {found} is writable", ""


def _key() -> Check:
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        base = os.environ.get("ANTHROPIC_BASE_URL")
        return True, "anthropic: API key present" + (f" (base URL {base})" if base else ""), ""
    return (
        None,
        "anthropic: no API key; the offline model (a deterministic stand-in, not an LLM) will be used",
        "export ANTHROPIC_API_KEY=... to use Claude models",
    )


def _claude() -> Check:
    exe = shutil.which("claude")
    if not exe:
        return (
            None,
            "claude code: not found (the claude driver is unavailable)",
            "npm install -g @anthropic-ai/claude-code",
        )
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = "present"
    return True, f"claude code: {out}", ""


def _sandbox() -> Check:
    from scope_tui.substrate import sandbox

    p = sandbox.probe()
    if p.ok:
        return True, f"sandbox: probed, {p.why}", ""
    fix = "apt-get install bubblewrap" if p.exe is None else "allow unprivileged user namespaces (AppArmor)"
    return None, f"sandbox: probed, {p.why}; --sandbox falls back to rlimits and no keys", fix


def checks() -> list[Check]:
    """Each check as (ok, what, fix): ok is True, False (a problem) or None (optional, absent)."""
    return [_tmux(), _store(), _key(), _claude(), _sandbox()]
