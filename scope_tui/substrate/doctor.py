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


def _providers() -> list[Check]:
    """Each model provider Scope itself calls (models/): its SDK's version and whether its key is set."""
    from importlib import metadata

    from scope_tui.store.drivers import PROVIDER_KEYS

    out: list[Check] = []
    for name, keys in PROVIDER_KEYS.items():
        try:
            sdk = f"{name} SDK {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            out.append((False, f"{name}: the {name} SDK is not installed", "bash .ci/setup"))
            continue
        key = next((k for k in keys if os.environ.get(k)), None)
        base = os.environ.get(f"{name.upper()}_BASE_URL")
        if key:
            out.append(
                (True, f"{name}: {sdk}, API key present ({key})" + (f", base URL {base}" if base else ""), "")
            )
        else:
            out.append(
                (
                    None,
                    f"{name}: {sdk}, no {keys[0]}; levels on it run the offline model (a deterministic "
                    "stand-in, not an LLM) unless [models.<level>] names a base_url",
                    f"export {keys[0]}=... to use it",
                )
            )
    return out


def _drivers() -> list[Check]:
    """Each agent CLI driver (store/drivers.py rows with a `bin`): found, and its version.

    The `--version` runs are started together and then read: each is a Node start of about half a
    second, so asked in turn they made doctor wait for all of them one after another."""
    from scope_tui.store.drivers import TABLE

    asked: list[tuple[str, str | None, subprocess.Popen[str] | None]] = []
    for name, row in TABLE.items():
        if not row.get("bin"):
            continue
        title = f"{row['title']} (--driver {name})"
        exe = shutil.which(str(row["bin"]))
        if not exe:
            asked.append((title, str(row.get("package", "")).replace("npm ", "npm install -g "), None))
            continue
        try:
            proc = subprocess.Popen(
                [exe, "--version"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError:
            proc = None
        asked.append((title, None, proc))
    out: list[Check] = []
    for title, install, proc in asked:
        if install is not None:
            out.append((None, f"{title}: not found", install))
            continue
        version = "present"
        if proc is not None:
            try:
                said, err = proc.communicate(timeout=20)
                version = (said.strip() or err.strip()).splitlines()[0]
            except (subprocess.SubprocessError, IndexError):
                proc.kill()
                proc.wait()
        out.append((True, f"{title}: {version}", ""))
    return out


def _sandbox() -> Check:
    from scope_tui.substrate import sandbox

    p = sandbox.probe()
    if p.ok:
        return True, f"sandbox: probed, {p.why}", ""
    fix = "apt-get install bubblewrap" if p.exe is None else "allow unprivileged user namespaces (AppArmor)"
    return None, f"sandbox: probed, {p.why}; --sandbox falls back to rlimits and no keys", fix


def _serve() -> Check:
    """Where `scope serve` would listen, and whether a password lets it listen beyond loopback."""
    from urllib.parse import urlsplit

    from scope_tui.store import config
    from scope_tui.store.serving import configured, is_loopback, public_url

    found = project_mod.find()
    try:
        cfg = config.load(project_mod.Project(found).config_path) if found else {}
    except Exception:  # reported by the trust line
        cfg = {}
    host, port, pw = configured(cfg)
    public = public_url(cfg)
    loopback = is_loopback(host) and (not public or is_loopback(urlsplit(public).hostname or ""))
    if pw:
        ok = os.path.isfile(os.path.expanduser(str(pw)))
        said = f"password file {pw}" + ("" if ok else " (missing)")
    else:
        ok, said = loopback, "no password (loopback only)" if loopback else "no password"
    fix = "" if ok else "set [serve] password_file (then `scope trust`), or give --password-file"
    tunnel = f" (shown at {public})" if public else ""
    return ok, f"serve: binds {host}:{port}{tunnel}, behind a token URL; {said}", fix


def _trust() -> Check:
    from scope_tui.store import config, trust

    found = project_mod.find()
    if found is None:
        return None, "trust: no project here", ""
    project = project_mod.Project(found)
    try:
        _, ignored = config.load_trusted(project.config_path)
    except Exception as exc:  # a broken config.toml is reported, not raised
        return False, f"trust: {exc}", f"fix {project.config_path}"
    if ignored:
        return (
            None,
            f"trust: not trusted; ignoring {', '.join(ignored)} in config.toml",
            "read .scope/config.toml, then run `scope trust` (outside any session) to let them apply",
        )
    entry = trust.listed().get(trust.project_key(project.home_path))
    return True, "trust: trusted" if entry else "trust: sets no trust-gated key", ""


def _modes() -> Check:
    """`.scope/` should be 0700 and its files 0600: other users of the machine read nothing there."""
    import stat

    found = project_mod.find()
    if found is None:
        return None, ".scope modes: no project here", ""
    loose: list[str] = []
    for folder, dirs, files in os.walk(found):
        dirs[:] = sorted(d for d in dirs if d != "worktrees")  # a worktree is the project's own code
        for name in [folder] + [os.path.join(folder, f) for f in sorted(files)]:
            try:
                st = os.lstat(name)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:  # folders 0700, files 0600
                loose.append(os.path.relpath(name, found))
    mode = stat.S_IMODE(os.stat(found).st_mode)
    if loose:
        first = ", ".join(loose[:3]) + (f" and {len(loose) - 3} more" if len(loose) > 3 else "")
        # a warning: folders made before modes were kept stay as they were until fixed
        return None, f".scope modes: {found} is {mode:o}; open to others: {first}", f"chmod -R go-rwx {found}"
    return True, f".scope modes: {found} is {mode:o}, nothing in it open to others", ""


def checks() -> list[Check]:
    """Each check as (ok, what, fix): ok is True, False (a problem) or None (optional, absent)."""
    return [_tmux(), _store(), _modes(), _trust(), _serve(), *_providers(), *_drivers(), _sandbox()]
