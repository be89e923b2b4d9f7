"""Online deviation checks at the point of action (the entry every worker calls before it acts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scope_tui.store import events, sessions
from scope_tui.store.project import Project

INBOX_DRIVERS = ("builtin",)  # Claude Code gets the reflection as the hook's block reason instead


def _rules_and_text(project: Project, meta: dict[str, Any]) -> tuple[Any, str, int | None]:
    from scope_tui.gepa.scores import split_ref
    from scope_tui.patterns import rules as rules_mod
    from scope_tui.patterns import skill_files

    name, version = split_ref(str(meta["skill"]), meta.get("skill_version"))
    root = meta.get("skill_root")  # an agent's own skill lives in the agent's folder
    try:
        sk = skill_files.load(
            project, name, int(version) if isinstance(version, int) else None, agent_skill_root=root
        )
    except Exception:
        sk = skill_files.load(
            project, name, agent_skill_root=root
        )  # the version may be gone; the latest has rules too
    text = sk.path.read_text() if sk.path else sk.body
    return rules_mod.for_skill(sk), text, sk.version


def _model_for(project: Project, meta: dict[str, Any]) -> Any:
    """The session's model when it is a real one (reflections by a model); None offline."""
    if os.environ.get("SCOPE_REFLECT_OFFLINE"):
        return None
    try:
        from scope_tui import models

        m = models.for_session(project, meta)
        return None if str(getattr(m, "name", "offline")).startswith("offline") else m
    except Exception:
        return None


def before_action(project: Project, session_dir: Path, action: dict[str, Any]) -> str | None:
    """Check `action` against the session's skill rules before it runs.

    `action` has a `kind` (spawn, peek, grep, partition, exec, tool, llm_call) and details (child task,
    context size, pattern, hits, ...). On a deviation: a `deviation` event, a micro-reflection (in the
    session's inbox for the built-in worker) and a patch proposal are written, and the reflection text is
    returned for the caller to deliver before the action (Claude Code's hook blocks the call with it).
    Returns None when the action follows the rules. Never raises: a failure is an `error` event.
    """
    try:
        return _check(project, Path(session_dir), action)
    except Exception as exc:  # detection must never break the worker it watches
        try:
            events.append(
                Path(session_dir), "error", where="gepa.before_action", error=f"{type(exc).__name__}: {exc}"
            )
        except OSError:
            pass
        return None


def _check(project: Project, session_dir: Path, action: dict[str, Any]) -> str | None:
    s = sessions.load_dir(session_dir)
    if s.corrupt or not s.meta.get("skill"):
        return None
    # only here: a session without a skill (most Claude Code hooks) never pays for the detector's imports
    from scope_tui.gepa import deviation, patches, reflection

    rules, skill_text, version = _rules_and_text(project, s.meta)
    evs = events.read_all(session_dir)
    ctx = deviation.context_for(session_dir)
    found = deviation.detect(rules, evs, action, ctx)
    seen = {e.get("signature") for e in evs if e.get("type") == "deviation"}
    found = [d for d in found if d.signature not in seen]  # each deviation is flagged once a session
    if not found:
        return None
    skill = str(s.meta["skill"]).partition("@")[0]
    texts = []
    for dev in found:
        dev_ev = events.append(
            session_dir,
            "deviation",
            kind=dev.kind,
            rule=dev.rule,
            expected=dev.expected,
            actual=dev.actual,
            session=s.id,
            seqs=dev.seqs,
            skill=skill,
            skill_version=version,
            signature=dev.signature,
            action=deviation.action_kind(action),
        )
        model = _model_for(project, s.meta)
        text, line, author = reflection.write(dev, skill, skill_text, evs, model)
        events.append(
            session_dir,
            "reflection",
            text=text,
            deviation=dev_ev["seq"],
            kind=dev.kind,
            author=author,
            signature=dev.signature,
            adjustment=reflection.adjustment(text),
        )
        if s.meta.get("driver") in INBOX_DRIVERS:
            sessions.put_message(session_dir, "reflection", text, deviation=dev_ev["seq"])
        about = {**dev.as_dict(), "session": s.id, "event": dev_ev["seq"]}
        patches.propose_rule(
            project,
            skill,
            line,
            base_version=version,
            deviation=about,
            reflection=text,
            signature=dev.signature,
            session=s.id,
            root=s.meta.get("skill_root"),  # an agent's own skill is patched in the agent's folder
            model=model,
        )
        texts.append(text)
    return "\n\n".join(texts)
