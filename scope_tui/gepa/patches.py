"""Patch proposals for skills (and agents' heuristics), kept as `.scope/patches/<id>.json`, and their approval.

A patch changes nothing until it is approved: approving a skill patch writes the skill's next version
(`.scope/skills/<name>/vN.md`, through patterns.skill_files.write_version) with its lineage; approving an
agent patch ("agent:<name>/heuristics") only marks it approved (the agent layer pulls it in).
A rejected patch is kept, and its deviation signature is never proposed again for that target.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scope_tui.gepa.learned import LIMIT, THRESHOLD, add_learned_line, fold, learned_lines
from scope_tui.store import events, files
from scope_tui.store.atomic import write_json
from scope_tui.store.errors import CorruptFile, UsageError
from scope_tui.store.project import Project

STATUSES = ("testing", "pending", "approved", "rejected", "superseded")
OPEN = ("testing", "pending")  # not decided yet: a person may decide either; `auto` only a tested one
RECENT = 5  # oscillation is judged against this many recent approved or pending patches
_PID = re.compile(r"^p?(\d{1,9})$")


# ---------------------------------------------------------------- reading


def _path(project: Project, pid: str) -> Path:
    return project.patches / f"{pid}.json"


def _norm_id(pid: str) -> str:
    pid = str(pid).strip()
    m = _PID.match(pid)
    return f"p{int(m.group(1))}" if m else pid


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return _parse(path)
    except (OSError, ValueError, RecursionError, CorruptFile):  # a FIFO, a link, nested deep: skipped
        return None


def _parse(path: Path) -> dict[str, Any]:
    obj = json.loads(files.read_bytes(path))  # regular file only: a FIFO there would hang every reader
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    obj.setdefault("id", path.stem)
    obj.setdefault("status", "pending")
    return obj


def _files(project: Project) -> list[str]:
    try:
        return sorted(n for n in os.listdir(project.patches) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []


def patch_files(project: Project) -> dict[str, dict[str, Any]]:
    """Every patch file by id, in file-name order, a broken one too, as {"id", "status": "corrupt",
    "reason"}: what the control room shows (a person should see that a file is broken)."""
    found: dict[str, dict[str, Any]] = {}
    for n in _files(project):
        path = project.patches / n
        try:
            p = _parse(path)
        except CorruptFile as exc:
            p = {"id": path.stem, "status": "corrupt", "reason": exc.reason[:80]}
        except RecursionError:
            p = {"id": path.stem, "status": "corrupt", "reason": "nested too deep"}
        except (OSError, ValueError) as exc:
            p = {"id": path.stem, "status": "corrupt", "reason": str(exc)[:80]}
        found[str(p["id"])] = p
    return found


def list_patches(project: Project, status: str | None = None) -> list[dict[str, Any]]:
    """Every readable patch, oldest first (by created_at, then id); only those with `status` when given.

    A half-written or broken file is skipped, never raised."""
    out = []
    for n in _files(project):
        p = _read(project.patches / n)
        if p is not None and (status is None or p.get("status") == status):
            out.append(p)

    def key(p: dict[str, Any]) -> tuple[float, int, str]:
        m = _PID.match(str(p.get("id", "")))
        return (float(p.get("created_at") or 0), int(m.group(1)) if m else 0, str(p.get("id")))

    return sorted(out, key=key)


def load_patch(project: Project, pid: str) -> dict[str, Any]:
    """One patch by id (`p3` or `3`); raises UsageError when there is no such patch."""
    for cand in dict.fromkeys((_norm_id(pid), str(pid).strip())):
        if not cand or "/" in cand or cand.startswith("."):
            continue
        p = _read(_path(project, cand))
        if p is not None:
            return p
    raise UsageError(f"no patch {pid} (try 'scope patches list')")


# ---------------------------------------------------------------- skill text helpers


def _has_line(text: str, line: str) -> bool:
    want = line.strip().removeprefix("- ").strip()
    return any(ln.strip().removeprefix("- ").strip() == want for ln in text.splitlines())


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_name, tofile=new_name
        )
    )


def diff_lines(diff: str) -> tuple[list[str], list[str]]:
    """(added, removed) content lines of a unified diff, stripped."""
    added, removed = [], []
    for ln in (diff or "").splitlines():
        if ln.startswith(("+++", "---")):
            continue
        if ln.startswith("+") and ln[1:].strip():
            added.append(ln[1:].strip())
        elif ln.startswith("-") and ln[1:].strip():
            removed.append(ln[1:].strip())
    return added, removed


def _skill_text(
    project: Project, name: str, version: int | None = None, root: str | Path | None = None
) -> tuple[int, str]:
    from scope_tui.patterns import skill_files

    sk = skill_files.load(project, name, version, agent_skill_root=Path(root) if root else None)
    assert sk.path is not None
    return sk.version, sk.path.read_text()


# ---------------------------------------------------------------- oscillation


_POLARITY = re.compile(r"^(?:-\s*)?\**\s*(ALWAYS|NEVER|DO NOT|DON'T)\b[:\s]*", re.IGNORECASE)
_RULE = re.compile(r"^(?:-\s*)?\**\s*[A-Za-z]")  # a line of text (a header starts with '#', a note '(')
_NUM = re.compile(r"\d+(?:\.\d+)?%?")


def _core(line: str) -> tuple[str | None, str]:
    """(polarity, the rest normalised) of a rule line: ALWAYS/NEVER and what it is about."""
    m = _POLARITY.match(line.strip())
    pol = None
    rest = line.strip().lstrip("-* ").strip()
    if m:
        word = m.group(1).upper()
        pol = "always" if word == "ALWAYS" else "never"
        rest = line.strip()[m.end() :]
    return pol, " ".join(re.sub(r"[^a-z0-9%. ]+", " ", rest.lower()).split())


def oscillation(
    project: Project,
    target: str,
    added: list[str],
    removed: list[str],
    exclude: str | None = None,
    model: Any = None,
) -> str | None:
    """Why a change with these added/removed lines undoes or contradicts one of the last RECENT approved or
    open patches of `target`, or None when it does not. Contradiction is judged by meaning: offline by
    what the lines ask for or against over shared key terms (gepa.meaning); with `model`, by asking it."""
    from scope_tui.gepa import meaning

    recent = [
        p
        for p in list_patches(project)
        if p.get("target") == target
        and p.get("status") in ("approved", *OPEN)
        and p.get("kind") != "consolidation"
        and p.get("id") != exclude
    ]
    recent.sort(key=lambda p: float(p.get("decided_at") or p.get("created_at") or 0))
    for p in reversed(recent[-RECENT:]):
        p_added, p_removed = diff_lines(p.get("diff", ""))
        pid = p.get("id")
        for ln in removed:
            if ln in p_added:
                return f"it undoes {pid} (removes the line {pid} added: {ln!r})"
        for ln in added:
            if ln in p_removed:
                return f"it undoes {pid} (puts back the line {pid} removed: {ln!r})"
        for a in added:
            pa, ca = _core(a)
            for b in p_added:
                pb, cb = _core(b)
                if pa and pb and pa != pb and ca == cb:
                    return f"it contradicts {pid} ({a!r} against {b!r})"
                if not _RULE.match(a) or not _RULE.match(b):
                    continue  # a header or a note is no rule
                why = meaning.ask_model(model, b, a) if model is not None else meaning.contradiction(b, a)
                if why:
                    return f"it contradicts {pid} ({a!r} against {b!r}: {why})"
                ta, tb = _NUM.sub("#", a), _NUM.sub("#", b)
                if "#" in ta and ta == tb and a != b and LIMIT.search(a):
                    return f"it moves a limit {pid} set ({b!r} -> {a!r}): the limit would move back and forth"
    return None


# ---------------------------------------------------------------- writing


def _allocate(project: Project, patch: dict[str, Any]) -> dict[str, Any]:
    """Give `patch` the next free id and write it; an O_EXCL-like link, so racing writers never collide."""
    project.patches.mkdir(parents=True, exist_ok=True)
    taken = [
        int(m.group(1)) for n in os.listdir(project.patches) if (m := _PID.match(n.removesuffix(".json")))
    ]
    n = max(taken, default=0) + 1
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=project.patches)
    os.close(fd)
    try:
        while True:
            patch["id"] = f"p{n}"
            Path(tmp).write_text(json.dumps(patch, indent=2, ensure_ascii=False) + "\n")
            try:
                os.link(tmp, _path(project, patch["id"]))
                return patch
            except FileExistsError:
                n += 1
    finally:
        os.unlink(tmp)


def _session_event(project: Project, sid: str | None, type: str, **fields: Any) -> None:
    if not sid:
        return
    d = project.session_dir(str(sid))
    if d.is_dir():
        events.append(d, type, **fields)


def propose(
    project: Project,
    *,
    target: str,
    new_text: str,
    base_text: str = "",
    skill: str | None = None,
    base_version: int | None = None,
    deviation: dict[str, Any] | None = None,
    reflection: str = "",
    signature: str | None = None,
    session: str | None = None,
    kind: str = "rule",
    model: Any = None,
    **extra: Any,
) -> dict[str, Any] | None:
    """Write a pending patch and a `patch_proposed` event in `session`; returns it.

    Returns None (with a `patch_refused` event saying why) when the change is empty, when the same
    signature was rejected before or is already pending for `target`, or when it would undo or
    contradict one of the last five approved or pending patches (no oscillation). When the project's
    `auto_approve` is set, the patch is approved at once (by "auto")."""

    def refuse(reason: str) -> None:
        _session_event(
            project, session, "patch_refused", target=target, skill=skill, signature=signature, reason=reason
        )

    if new_text == base_text:
        refuse("the change is already in the text")
        return None
    old_name = f"{skill}/v{base_version}.md" if skill else target
    diff = unified_diff(base_text, new_text, old_name, old_name + " (patched)")
    if signature and kind != "consolidation":
        for p in list_patches(project):
            if p.get("target") == target and p.get("signature") == signature:
                if p.get("status") == "rejected":
                    refuse(
                        f"the same deviation ({signature}) was rejected in {p.get('id')}; it is not proposed again"
                    )
                    return None
                if p.get("status") in OPEN:
                    refuse(f"the same deviation ({signature}) is already {p.get('status')} as {p.get('id')}")
                    return None
    if kind != "consolidation":
        added, removed = diff_lines(diff)
        why = oscillation(project, target, added, removed, model=model)
        if why:
            refuse(f"refused: {why}")
            return None
    patch: dict[str, Any] = {
        "id": None,
        "kind": kind,
        "target": target,
        "skill": skill,
        "base_version": base_version,
        "new_text": new_text,
        "diff": diff,
        "deviation": deviation or {},
        "reflection": reflection,
        "signature": signature,
        "session": session,
        "status": "pending",
        "decided_by": None,
        "decision_note": None,
        "created_at": round(time.time(), 3),
        "decided_at": None,
        **extra,
    }
    patch = _allocate(project, patch)
    _session_event(
        project,
        session,
        "patch_proposed",
        patch=patch["id"],
        target=target,
        skill=skill,
        base_version=base_version,
        signature=signature,
        kind=kind,
    )
    if target.startswith("skill:"):
        # GEPA's propose-then-test: the candidate runs against its parent before anyone decides
        from scope_tui.gepa import trial

        return trial.start(project, patch, extra.get("skill_root"))
    if auto_approve(project):
        approve(project, patch["id"], by="auto", note="auto_approve is on")
        return load_patch(project, patch["id"])
    return patch


def auto_approve(project: Project) -> bool:
    """The person's `auto_approve` setting: a gated key, dropped by config.load unless the person trusted
    the project's config (`scope trust`)."""
    from scope_tui.store import config

    try:
        return bool(config.load(project.config_path).get("auto_approve"))
    except Exception:  # a broken config.toml must not stop learning; it just stays manual
        return False


def tested(project: Project, pid: str, test: dict[str, Any]) -> str:
    """Land a patch's test (from its eval session): the patch becomes `pending` with the per-instance
    scores and costs; with `auto_approve` on it is accepted (`by: auto`) only when the candidate's sum
    over the minibatch is strictly greater than its parent's. Returns the summary line."""
    from scope_tui.gepa import trial

    with deciding(project, pid):
        patch = load_patch(project, pid)
        patch["test"] = test
        if patch.get("status") == "testing":
            patch["status"] = "pending"
        save(project, patch)
    line = trial.summary(patch)
    _session_event(project, patch.get("session"), "patch_tested", patch=patch["id"], summary=line)
    if patch.get("status") != "pending" or test.get("status") != "done" or not auto_approve(project):
        return line
    cand, par = trial.scores_line(test)
    if cand > par:
        try:
            approve(project, patch["id"], by="auto", note=f"auto_approve: {line}")
        except UsageError:  # a person decided meanwhile: the first decision stands
            pass
        return line
    with deciding(project, pid):
        fresh = load_patch(project, pid)
        fresh["auto_note"] = f"auto_approve: not a strict improvement ({line}); a person decides"
        save(project, fresh)
    return line


def propose_rule(
    project: Project,
    skill: str,
    line: str,
    *,
    base_version: int | None = None,
    deviation: dict[str, Any] | None = None,
    reflection: str = "",
    signature: str | None = None,
    session: str | None = None,
    root: str | Path | None = None,
    model: Any = None,
    kind: str = "rule",
) -> dict[str, Any] | None:
    """Propose adding `line` to the "## Learned rules" of `skill` (its latest version unless `base_version`).
    `kind` names where the line came from ("rule": a deviation's reflection; "refinement": a verified
    success of an agent's own skill).

    `root` is an agent's own skills folder when the skill is the agent's: approval writes the version there.
    A signature owns one line: when the text already holds it (or the line it was approved as), the
    repeat reinforces that line (a count in lineage) and no patch is proposed. With learning off
    (`gepa = false`) nothing is proposed."""
    from scope_tui.gepa import evals, scores

    if not evals.settings(project)["enabled"]:
        _session_event(
            project, session, "patch_refused", skill=skill, signature=signature, reason="learning is off"
        )
        return None
    version, text = _skill_text(project, skill, base_version, root)
    latest, latest_text = _skill_text(project, skill, None, root)
    owned = {line} | {
        str(p.get("rule_line"))
        for p in list_patches(project, "approved")
        if p.get("target") == f"skill:{skill}"
        and signature
        and p.get("signature") == signature
        and p.get("rule_line")
    }
    for v, t in ((version, text), (latest, latest_text)):
        if signature and any(_has_line(t, ln) for ln in owned):
            n = scores.reinforce(project, skill, v, signature, Path(root) if root else None)
            _session_event(
                project, session, "rule_reinforced", skill=skill, version=v, signature=signature, count=n
            )
            return None
    new_text = add_learned_line(text, line)
    return propose(
        project,
        target=f"skill:{skill}",
        skill=skill,
        base_version=version,
        base_text=text,
        new_text=new_text,
        deviation=deviation,
        reflection=reflection,
        signature=signature,
        session=session,
        model=model,
        kind=kind,
        rule_line=line,
        **({"skill_root": str(root)} if root else {}),
    )


def save(project: Project, patch: dict[str, Any]) -> None:
    write_json(_path(project, patch["id"]), patch)


_save = save


@contextlib.contextmanager
def deciding(project: Project, pid: str) -> Iterator[None]:
    """Held while a patch is decided or its test lands: two faces deciding at once, the first wins."""
    fd = os.open(project.patches / f".{_norm_id(pid)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _decided_event(project: Project, patch: dict[str, Any]) -> None:
    _session_event(
        project,
        patch.get("session"),
        "patch_decided",
        patch=patch["id"],
        target=patch.get("target"),
        skill=patch.get("skill"),
        status=patch["status"],
        decided_by=patch.get("decided_by"),
        note=patch.get("decision_note"),
        version=patch.get("version"),
    )


def _pending(project: Project, pid: str) -> dict[str, Any]:
    patch = load_patch(project, pid)
    if patch.get("status") not in OPEN:
        raise UsageError(
            f"patch {patch['id']} is already {patch.get('status')}: already decided by "
            f"{patch.get('decided_by') or 'nobody known'}"
        )
    return patch


def add_review(project: Project, pid: str, review: dict[str, Any]) -> dict[str, Any]:
    """Keep a reviewer's proposal on an undecided patch (`reviews`: by, stage, verdict, why, session, t).
    It is advice for the person: the patch's status and decision do not change."""
    with deciding(project, pid):
        patch = _pending(project, pid)
        patch["reviews"] = [*(patch.get("reviews") or []), {**review, "t": round(time.time(), 3)}]
        _save(project, patch)
    _session_event(project, patch.get("session"), "patch_reviewed", patch=patch["id"], **review)
    return patch


def approve(
    project: Project, pid: str, by: str = "person", text: str | None = None, note: str | None = None
) -> int:
    """Approve a pending patch and return the version it produced.

    For a skill patch that is the new skill version (vN, written with its lineage: parent version and the
    patches in it); `text` replaces the proposed new text (an edited approval). A patch written against an
    older version is re-applied to the latest one. For an agent patch nothing is written but the decision:
    the return value is then the number of approved patches of that target (its heuristics' version).
    Raises UsageError for an unknown or already decided patch, or an edited text that is not a valid skill."""
    with deciding(project, load_patch(project, pid)["id"]):
        return _approve(project, pid, by, text, note)


def _approve(project: Project, pid: str, by: str, text: str | None, note: str | None) -> int:
    patch = _pending(project, pid)
    target = str(patch.get("target", ""))
    now = round(time.time(), 3)
    if text is not None:
        patch["edited"] = True
        patch["original_text"] = patch.get("new_text")
        patch["new_text"] = text
    if target.startswith("skill:"):
        from scope_tui.patterns import skill_files

        name = patch.get("skill") or target.split(":", 1)[1]
        root = patch.get("skill_root")
        latest, latest_text = _skill_text(project, name, root=root)
        new_text = str(patch.get("new_text", ""))
        base = patch.get("base_version")
        if text is None and base is not None and latest != base:
            if patch.get("kind") == "consolidation":
                # A rewrite of an older text would drop what came after it: retire it, propose afresh.
                patch.update(
                    status="superseded",
                    decided_by="gepa",
                    decision_note=f"{name} moved on to v{latest}",
                    decided_at=now,
                )
                _save(project, patch)
                _decided_event(project, patch)
                fresh = propose_consolidation(project, name, session=patch.get("session"), root=root)
                raise UsageError(
                    f"patch {patch['id']} rewrote {name} v{base} but {name} is now at v{latest}: superseded"
                    + (f"; the fresh consolidation is {fresh['id']}" if fresh else "")
                )
            new_text = latest_text
            for line in diff_lines(str(patch.get("diff", "")))[0]:
                if line not in new_text:
                    new_text = add_learned_line(new_text, line)
            patch["rebased_from"] = base
        folded = list(patch.get("folds") or [])
        entry = {
            "parent": latest,
            "patches": [*folded, patch["id"]],
            "origin": patch.get("kind") if patch.get("kind") in ("consolidation", "merge") else "patch",
            "created_at": now,
            "approved_by": by,
        }
        cand = patch.get("candidate_version")
        if isinstance(cand, int) and text is None and "rebased_from" not in patch:
            # the tested candidate becomes the version, with the scores its test gave it
            written = skill_files.promote(project, name, cand, entry, Path(root) if root else None)
        else:
            written = skill_files.write_version(
                project, name, new_text, entry, agent_skill_root=Path(root) if root else None
            )
        version = int(written.version)
    else:
        version = 1 + sum(1 for p in list_patches(project, "approved") if p.get("target") == target)
    patch.update(status="approved", decided_by=by, decision_note=note, decided_at=now, version=version)
    _save(project, patch)
    _decided_event(project, patch)
    # Other pending proposals for the same deviation are now moot.
    for other in [p for p in list_patches(project) if p.get("status") in OPEN]:
        if (
            other.get("target") == target
            and other.get("signature")
            and other.get("signature") == patch.get("signature")
        ):
            other.update(
                status="superseded",
                decided_by=by,
                decision_note=f"superseded by {patch['id']}",
                decided_at=now,
            )
            _save(project, other)
            _decided_event(project, other)
    if target.startswith("skill:") and patch.get("kind") != "consolidation":
        try:  # the approval stands whatever happens to the follow-up proposal
            propose_consolidation(project, name, session=patch.get("session"), root=patch.get("skill_root"))
        except Exception as exc:
            _session_event(
                project,
                patch.get("session"),
                "error",
                where="gepa.patches.propose_consolidation",
                error=str(exc),
            )
    return version


# ---------------------------------------------------------------- consolidation


def since_consolidation(project: Project, skill: str) -> list[dict[str, Any]]:
    """The approved (non-consolidation) patches of `skill` decided after its last approved consolidation."""
    target = f"skill:{skill}"
    mine = [p for p in list_patches(project, "approved") if p.get("target") == target]
    cons = [float(p.get("decided_at") or 0) for p in mine if p.get("kind") == "consolidation"]
    last = max(cons, default=0.0)
    return [p for p in mine if p.get("kind") != "consolidation" and float(p.get("decided_at") or 0) > last]


def propose_consolidation(
    project: Project, skill: str, session: str | None = None, root: str | None = None
) -> dict[str, Any] | None:
    """Propose a consolidation of `skill` when its text holds more than THRESHOLD learned lines, a patch
    was approved since the last one, the fold merges something (or more than THRESHOLD patches came
    since), and none is open; returns the new patch (tested like any other) or None."""
    target = f"skill:{skill}"
    folded = since_consolidation(project, skill)
    if not folded:
        return None
    if any(
        p.get("target") == target and p.get("kind") == "consolidation" and p.get("status") in OPEN
        for p in list_patches(project)
    ):
        return None
    version, text = _skill_text(project, skill, root=root)
    if len(learned_lines(text)) <= THRESHOLD:
        return None
    owners = {
        str(p["rule_line"]).strip(): str(p["signature"])
        for p in list_patches(project, "approved")
        if p.get("target") == target and p.get("rule_line") and p.get("signature")
    }
    new_text, merged = fold(text, len(folded), owners)
    if not merged and len(folded) <= THRESHOLD:
        return None  # nothing to merge, and too few new lines to be worth a rewrite
    ids = [str(p["id"]) for p in folded]
    return propose(
        project,
        target=target,
        skill=skill,
        base_version=version,
        base_text=text,
        new_text=new_text if new_text != text else text + "\n",
        deviation={},
        reflection=f"{len(learned_lines(text))} learned lines, {len(folded)} patches approved since the last "
        f"consolidation ({', '.join(ids)}): one rewritten set"
        + (f" merging {sum(len(v) for v in merged.values())} lines." if merged else "."),
        signature=f"consolidation:{'+'.join(ids)}",
        session=session,
        kind="consolidation",
        folds=ids,
        merged=merged,
        **({"skill_root": root} if root else {}),
    )


def reject(project: Project, pid: str, reason: str, by: str = "person") -> dict[str, Any]:
    """Reject a pending patch with `reason` and return it. It is kept; its signature is not proposed again.
    Raises UsageError for an unknown or already decided patch, or an empty reason."""
    if not reason or not str(reason).strip():
        raise UsageError("a rejection needs a reason (--reason TEXT)")
    with deciding(project, load_patch(project, pid)["id"]):
        return _reject(project, pid, reason, by)


def _reject(project: Project, pid: str, reason: str, by: str) -> dict[str, Any]:
    patch = _pending(project, pid)
    patch.update(
        status="rejected", decided_by=by, decision_note=str(reason).strip(), decided_at=round(time.time(), 3)
    )
    _save(project, patch)
    _decided_event(project, patch)
    return patch
