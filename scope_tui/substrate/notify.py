"""Sending what `.scope/outbox/` holds (store/outbox.py queues it) to the channels of `[notify]`.

One sender at a time: it holds `outbox/.lock` (a detached `scope notify`, or an open room). A burst
becomes one message: the sender waits `batch` seconds for more alerts, then sends all it has; two
messages are at least `rate` seconds apart (it sleeps the rest, detached, blocking nobody). In
`quiet_hours` it sends nothing and leaves the alerts queued: the first sender after them sends them,
batched. Channels: `urls` through apprise (ntfy, Slack, Telegram, email and ~100 more), `webhook` (a
plain JSON POST), `desktop` (notify-send when present). A failing channel is logged in
`outbox/notify.log` and never retried in a loop; the alerts it had are dropped after one attempt.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scope_tui.store import config, files, jsontext, keys, outbox
from scope_tui.store.project import Project

LOG = "notify.log"
DEFAULT_RATE, DEFAULT_BATCH = 30.0, 2.0
WORDS = {
    "needs_input": "needs input",
    "escalated": "escalated",
    "failed": "failed",
    "done": "finished",
    "killed": "was killed",
}


def settings(project: Project) -> dict[str, Any]:
    found = config.load(project.config_path).get("notify")
    return found if isinstance(found, dict) else {}


def in_quiet_hours(spec: str, now: dt.datetime) -> bool:
    """`"22:00-07:00"`: True inside that span of local time (it may cross midnight)."""
    try:
        a, b = (dt.time.fromisoformat(part.strip()) for part in spec.split("-", 1))
    except ValueError:
        return False
    t = now.time()
    return a <= t < b if a <= b else (t >= a or t < b)


def _log(project: Project, line: str) -> None:
    path = os.path.join(outbox.folder(str(project.root)), LOG)
    fd = files.open_append(path)
    try:
        files.write_all(fd, f"{time.strftime('%FT%T')} {keys.redact(line)}\n".encode(), path)
    finally:
        os.close(fd)


def message(alerts: list[dict[str, Any]], project: Project) -> tuple[str, str]:
    """(title, body): one alert as itself, a burst as one message listing them."""
    lines = []
    for a in alerts:
        title = _title(project, str(a.get("id")))
        why = f": {a['reason']}" if a.get("reason") else ""
        lines.append(f"{a.get('id')} {WORDS.get(str(a.get('status')), a.get('status'))}{why} ({title})")
    if len(alerts) == 1:
        a = alerts[0]
        return f"Scope: {a.get('id')} {WORDS.get(str(a.get('status')), a.get('status'))}", lines[0]
    return f"Scope: {len(alerts)} alerts", "\n".join(lines)


def _title(project: Project, sid: str) -> str:
    try:
        meta = json.loads(files.read_text(project.session_dir(sid) / "meta.json", files.JSON_CAP))
        return str(meta.get("title", ""))[:80]
    except (OSError, ValueError, AttributeError):
        return ""


def _apprise(urls: list[str], title: str, body: str) -> None:
    import apprise

    a = apprise.Apprise()
    for url in urls:
        if not a.add(url):
            raise ValueError(f"apprise does not understand {url.split(':', 1)[0]}:// URLs")
    if not a.notify(body=body, title=title):
        raise OSError("apprise could not deliver to every URL")


def _webhook(url: str, title: str, body: str, alerts: list[dict[str, Any]]) -> None:
    import urllib.request

    data = jsontext.dumps({"title": title, "body": body, "alerts": alerts}).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status >= 300:
            raise OSError(f"HTTP {resp.status}")


def _desktop(title: str, body: str) -> None:
    exe = shutil.which("notify-send")
    if exe:
        subprocess.run([exe, "--app-name=Scope", title, body], timeout=10, capture_output=True, check=True)


def send(project: Project, cfg: dict[str, Any], alerts: list[dict[str, Any]]) -> list[str]:
    """Send one message for `alerts` on every channel; the channels that failed (each logged)."""
    title, body = message(alerts, project)
    channels: list[tuple[str, Callable[[], None]]] = []
    urls = [str(u) for u in cfg.get("urls") or []]
    if urls:
        channels.append(("urls", lambda: _apprise(urls, title, body)))
    if cfg.get("webhook"):
        channels.append(("webhook", lambda: _webhook(str(cfg["webhook"]), title, body, alerts)))
    if cfg.get("desktop"):
        channels.append(("desktop", lambda: _desktop(title, body)))
    failed = []
    for name, call in channels:
        try:
            call()
        except Exception as exc:  # a channel's failure is the person's to read, never the worker's
            failed.append(name)
            _log(project, f"{name} failed: {type(exc).__name__}: {str(exc)[:200]}")
    _log(
        project,
        f"sent {len(alerts)} alert(s) as one message: {title}" + (f" (failed: {failed})" if failed else ""),
    )
    return failed


def _queued(out: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(out) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []


def _take(out: str, names: list[str]) -> list[dict[str, Any]]:
    alerts = []
    for n in names:
        path = os.path.join(out, n)
        try:
            alerts.append(json.loads(files.read_text(path, files.JSON_CAP)))
        except (OSError, ValueError):
            pass  # a hand-broken file is dropped, not sent
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return [a for a in alerts if isinstance(a, dict)]


def deliver(project: Project, *, now: Callable[[], dt.datetime] = dt.datetime.now, wait: bool = True) -> str:
    """Send what is queued, as the one sender; what happened, in a few words. `wait=False` (the room)
    sends only what is due now and never sleeps."""
    out = outbox.folder(str(project.root))
    os.makedirs(out, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(out, outbox.LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "another sender is running"
        return _deliver(project, out, now, wait)
    finally:
        os.close(fd)


def _deliver(project: Project, out: str, now: Callable[[], dt.datetime], wait: bool) -> str:
    cfg = settings(project)
    rate = float(cfg.get("rate", DEFAULT_RATE))
    batch = float(cfg.get("batch", DEFAULT_BATCH))
    sent = 0
    last_path = Path(out) / ".last"
    while _queued(out):
        if cfg.get("quiet_hours") and in_quiet_hours(str(cfg["quiet_hours"]), now()):
            return f"held {len(_queued(out))} alert(s): quiet hours ({cfg['quiet_hours']})"
        try:
            last = float(last_path.read_text())
        except (OSError, ValueError):
            last = 0.0
        due = max(last + rate, time.time() + (batch if wait else 0.0))  # a burst gathers
        if due > time.time():
            if not wait:
                return f"{len(_queued(out))} alert(s) wait for the rate limit"
            time.sleep(due - time.time())
        alerts = _take(out, _queued(out))
        if not alerts:
            continue
        if not any(cfg.get(k) for k in ("urls", "webhook", "desktop")):
            _log(project, f"dropped {len(alerts)} alert(s): [notify] names no channel")
            continue
        send(project, cfg, alerts)
        from scope_tui.store.atomic import write_text

        write_text(last_path, f"{time.time()}\n")
        sent += len(alerts)
    return f"sent {sent} alert(s)"
