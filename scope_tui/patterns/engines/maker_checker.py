"""Maker-checker: a maker session, then a checker session that applies a rubric; accept or retry with feedback.

The rubric is TOML:

    criteria = ["the public functions have docstrings"]   # prose the checker judges
    [[gates]]
    name = "tests"
    cmd = "pytest -q"      # run in the session's folder; exit 0 passes
    timeout = 60           # seconds (default 60); a gate that overruns fails

The checker is a child session (command driver) running this module's `check`: it runs every gate
with its timeout and writes a structured `verdict.json` in its own folder (accepted, failed_gates,
feedback, gates, criteria). The engine reads that file, never the checker's prose. A rejected attempt
sends the maker again with the feedback appended to its task, up to `params.max_iter` attempts
(default 3). The maker is a command (`params.cmd`, with `{attempt}` and `{feedback}` = the feedback
file) or a model worker. Prose criteria need a model to judge them: with none available they are
listed in the verdict as not judged and do not block acceptance; with a real model the checker asks it
(only once every gate has passed) for a JSON judgment per criterion, and an unmet one rejects.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from scope_tui.patterns.engines.context import ChildSpec, EngineContext, fill, run_guarded
from scope_tui.store import keys
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import UsageError

DEFAULT_TIMEOUT = 60.0
OUTPUT_TAIL = 4000  # characters of a gate's output kept in the verdict and the feedback
VERDICT = "verdict.json"


def load_rubric(path: Path) -> dict[str, Any]:
    """Read and check a rubric file: {"gates": [{name, cmd, timeout}], "criteria": [str]}; raises UsageError."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"rubric {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"rubric {path}: not valid TOML: {exc}") from None
    gates = data.get("gates", [])
    criteria = data.get("criteria", [])
    if not isinstance(gates, list) or not isinstance(criteria, list):
        raise UsageError(f"rubric {path}: gates must be [[gates]] tables and criteria a list of strings")
    out = []
    for i, g in enumerate(gates, 1):
        if not isinstance(g, dict) or not isinstance(g.get("cmd"), str) or not g["cmd"].strip():
            raise UsageError(f'rubric {path}: gate {i} needs cmd = "a shell command"')
        timeout = g.get("timeout", DEFAULT_TIMEOUT)
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise UsageError(
                f"rubric {path}: gate {g.get('name') or i}: timeout must be a positive number of seconds"
            )
        out.append({"name": str(g.get("name") or f"gate{i}"), "cmd": g["cmd"], "timeout": float(timeout)})
    if not out and not criteria:
        raise UsageError(f"rubric {path}: nothing to check (add [[gates]] with cmd, or criteria = [...])")
    return {"gates": out, "criteria": [str(c) for c in criteria]}


def run_gate(gate: dict[str, Any], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one gate in its own process group; on timeout the whole group is killed."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", gate["cmd"]],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=gate["timeout"])
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
    text = out.decode(errors="replace")
    return {
        "name": gate["name"],
        "cmd": gate["cmd"],
        "exit_code": None if timed_out else proc.returncode,
        "timed_out": timed_out,
        "passed": not timed_out and proc.returncode == 0,
        "seconds": round(time.monotonic() - t0, 3),
        "output": text[-OUTPUT_TAIL:],
    }


JUDGE_SYSTEM = """You are the checker in a maker-checker loop. Judge the maker's work against each criterion,
strictly and only from the evidence given. Reply with JSON only, no prose around it:
{"criteria": [{"criterion": "<the criterion>", "pass": true or false, "why": "<one line>"}]}"""


def judge(
    criteria: list[str], maker_dir: Path, gates: list[dict[str, Any]], here: Path | None
) -> list[dict[str, Any]]:
    """The model's judgment of each prose criterion: [{text, judged, pass, why}].

    Offline (no model that can judge prose) or when the reply is not the JSON asked for, a criterion is
    returned with judged False and a note; it then does not block acceptance.
    """
    if not criteria:
        return []
    unjudged = [
        {"text": c, "judged": False, "note": "no model to judge prose criteria here"} for c in criteria
    ]
    if here is None:
        return unjudged
    from scope_tui.models import for_session
    from scope_tui.models.base import ModelError
    from scope_tui.store import sessions

    me = sessions.load_dir(here)
    try:
        model = for_session(me.project, me.meta, "operational")
    except ModelError as exc:
        return [{**u, "note": f"no model: {exc}"} for u in unjudged]
    if getattr(model, "name", "") == "offline":
        return unjudged
    maker = sessions.load_dir(maker_dir)
    prompt = (
        f"The maker's task:\n{maker.task().strip()[:20000]}\n\nThe maker's result:\n{(maker.result() or '').strip()[:20000]}"
        "\n\nShell gates (all passed):\n"
        + "\n".join(f"- {g['name']}: $ {g['cmd']}" for g in gates)
        + "\n\nCriteria:\n"
        + "\n".join(f"{i}. {c}" for i, c in enumerate(criteria, 1))
    )
    try:
        reply = model.complete([{"role": "user", "content": prompt}], system=JUDGE_SYSTEM, purpose="checker")
    except ModelError as exc:
        return [{**u, "note": f"model error: {exc}"} for u in unjudged]
    text = reply.text
    try:
        items = json.loads(text[text.index("{") : text.rindex("}") + 1])["criteria"]
        assert isinstance(items, list) and len(items) == len(criteria)
        return [
            {"text": c, "judged": True, "pass": bool(it.get("pass")), "why": str(it.get("why") or "")}
            for c, it in zip(criteria, items, strict=True)
        ]
    except (ValueError, KeyError, TypeError, AssertionError, AttributeError):
        return [{**u, "note": "the model's judgment was not the JSON asked for"} for u in unjudged]


def check(
    rubric_path: Path, maker_dir: Path, cwd: Path, out_dir: Path, *, judge_here: bool = True
) -> dict[str, Any]:
    """Apply the rubric to the maker's work; write verdict.json in `out_dir` and return the verdict.

    Gates run first; prose criteria are judged (by the checker session's model) only when every gate passed.
    """
    rubric = load_rubric(rubric_path)
    env = keys.without(os.environ)  # a gate is a command: it gets no key
    env["MAKER_SESSION"] = maker_dir.name
    env["MAKER_RESULT"] = str(maker_dir / "result.md")
    gates = []
    for g in rubric["gates"]:
        print(f"gate {g['name']}: $ {g['cmd']}", flush=True)
        r = run_gate(g, cwd, env)
        gates.append(r)
        mark = "pass" if r["passed"] else ("timed out" if r["timed_out"] else f"FAIL exit {r['exit_code']}")
        print(f"  -> {mark}", flush=True)
    failed = [g for g in gates if not g["passed"]]
    feedback = []
    for g in failed:
        why = f"timed out after {g['seconds']:g}s" if g["timed_out"] else f"exit {g['exit_code']}"
        feedback.append(f"Gate {g['name']} failed ({why}): $ {g['cmd']}\n{g['output'].rstrip()}")
    if failed:
        criteria = [
            {"text": c, "judged": False, "note": "not judged: a gate failed"} for c in rubric["criteria"]
        ]
    else:
        criteria = judge(rubric["criteria"], maker_dir, gates, out_dir if judge_here else None)
    unmet = [c for c in criteria if c.get("judged") and not c.get("pass")]
    for c in unmet:
        feedback.append(f"Criterion not met: {c['text']}: {c['why']}")
    verdict = {
        "accepted": not failed and not unmet,
        "failed_gates": [g["name"] for g in failed],
        "failed_criteria": [c["text"] for c in unmet],
        "feedback": "\n\n".join(feedback),
        "gates": gates,
        "criteria": criteria,
        "maker": maker_dir.name,
    }
    write_json(out_dir / VERDICT, verdict)
    return verdict


def _check_main(argv: list[str]) -> int:
    """`python -m scope_tui.patterns.engines.maker_checker check RUBRIC MAKER_DIR CWD` in a checker window."""
    if len(argv) != 4 or argv[0] != "check":
        print(
            "usage: python -m scope_tui.patterns.engines.maker_checker check RUBRIC MAKER_DIR CWD",
            file=sys.stderr,
        )
        return 2
    here = Path(os.environ["SCOPE_DIR"]) / "sessions" / os.environ["SCOPE_SESSION_ID"]
    v = check(Path(argv[1]), Path(argv[2]), Path(argv[3]), here)
    failed = [f"gate {g}" for g in v["failed_gates"]] + [f"criterion {c!r}" for c in v["failed_criteria"]]
    print("ACCEPTED" if v["accepted"] else f"REJECTED: failed {', '.join(failed)}", flush=True)
    if v["feedback"]:
        print(v["feedback"], flush=True)
    return 0  # a rejection is a verdict, not a checker failure


def _run(ctx: EngineContext) -> int:
    ctx.begin("maker-checker: make, check, retry with feedback")
    task = ctx.task()
    rubric_path = Path(ctx.params["rubric"]) if ctx.params.get("rubric") else None
    if rubric_path is None:
        raise UsageError("maker-checker needs --rubric FILE")
    rubric = load_rubric(rubric_path)
    max_iter = int(ctx.params.get("max_iter") or 3)
    ctx.decide(
        "plan",
        f"up to {max_iter} attempts; gates: {', '.join(g['name'] for g in rubric['gates']) or '-'}; "
        f"{len(rubric['criteria'])} criteria",
        max_iter=max_iter,
    )
    feedback_file = ctx.session_dir / "feedback.md"
    write_text(feedback_file, "")
    feedback = ""
    history: list[str] = []
    for attempt in range(1, max_iter + 1):
        ctx.note_state(iteration=attempt, max_iter=max_iter)
        ctx.phase("act", f"maker attempt {attempt}/{max_iter}")
        maker_task = task
        if feedback:
            maker_task += f"\n\n## Checker feedback on attempt {attempt - 1} (fix this)\n\n{feedback}\n"
        title = f"maker {attempt}/{max_iter}"
        cmd = ctx.params.get("cmd")
        spec = ChildSpec(
            task=maker_task,
            key=f"maker{attempt}",
            role="maker",
            title=title,
            cmd=fill(cmd, attempt=attempt, feedback=feedback_file) if cmd else None,
        )
        (maker,) = ctx.run_children([spec], parallel=1)
        if not maker.ok:
            feedback = (
                f"The maker session {maker.sid} {maker.status}: {maker.reason}\n{maker.result[-OUTPUT_TAIL:]}"
            )
            history.append(f"attempt {attempt}: maker {maker.sid} {maker.status} ({maker.reason})")
            ctx.event(
                "verdict",
                accepted=False,
                attempt=attempt,
                failed_gates=[],
                feedback=feedback,
                maker=maker.sid,
            )
            write_text(feedback_file, feedback)
            continue
        ctx.phase("act", f"checking attempt {attempt}")
        chk_cmd = " ".join(
            shlex.quote(x)
            for x in (
                sys.executable,
                "-m",
                __name__,
                "check",
                str(rubric_path),
                str(ctx.project.session_dir(str(maker.sid))),
                str(ctx.cwd),
            )
        )
        chk_spec = ChildSpec(
            task=f"Check attempt {attempt} ({maker.sid}) against {rubric_path}",
            key=f"checker{attempt}",
            role="checker",
            title=f"checker {attempt}/{max_iter}",
            cmd=chk_cmd,
            retries=1,
            # a command session that judges with a model: it is handed the keys by name (store/keys.py)
            # `verifies`: whose work it judges (the checker agent's relationships record the outcome)
            extra={"env": sorted(keys.present()), "verifies": maker.sid},
        )
        named = ctx.meta.get("checker_agent") or {}
        if named.get("name"):  # the agent whose relationships say who verifies its work
            chk_spec.agent = str(named["name"])
            if attempt == 1:
                ctx.decide(
                    "checker", f"{named['name']} checks: {named.get('why') or 'named by relationships'}"
                )
        (checker,) = ctx.run_children([chk_spec], parallel=1)
        ctx.phase("orient", f"reading the verdict on attempt {attempt}")
        try:
            verdict = json.loads((checker.session.dir / VERDICT).read_text()) if checker.session else None
        except (OSError, ValueError):
            verdict = None
        if not isinstance(verdict, dict):
            return ctx.finish(
                False,
                f"The checker {checker.sid} gave no verdict ({checker.status}: {checker.reason})",
                reason=f"checker {checker.status}: no verdict",
            )
        ctx.event(
            "verdict",
            accepted=bool(verdict["accepted"]),
            attempt=attempt,
            failed_gates=verdict["failed_gates"],
            failed_criteria=verdict.get("failed_criteria", []),
            feedback=verdict["feedback"][:2000],
            maker=maker.sid,
            checker=checker.sid,
        )
        if verdict["accepted"]:
            ctx.decide("accept", f"attempt {attempt} passed the rubric", attempt=attempt, maker=maker.sid)
            lines = [
                maker.result.rstrip(),
                "",
                f"Accepted on attempt {attempt}/{max_iter} (maker {maker.sid}, checker {checker.sid}).",
            ]
            lines += [f"- earlier: {h}" for h in history]
            unjudged = [c["text"] for c in verdict.get("criteria", []) if not c.get("judged")]
            if unjudged:
                lines.append("Criteria not judged: " + "; ".join(unjudged))
            return ctx.finish(True, "\n".join(lines))
        feedback = verdict["feedback"]
        write_text(feedback_file, feedback)
        what = ", ".join(
            [f"gate {g}" for g in verdict["failed_gates"]]
            + [f"criterion {c!r}" for c in verdict.get("failed_criteria", [])]
        )
        history.append(f"attempt {attempt}: rejected by {checker.sid}: {what}")
        ctx.decide("retry" if attempt < max_iter else "give_up", f"failed {what}", attempt=attempt)
    return ctx.finish(
        False,
        "Not accepted after "
        + f"{max_iter} attempts:\n"
        + "\n".join(f"- {h}" for h in history)
        + f"\n\nLast feedback:\n{feedback}",
        reason=f"not accepted after {max_iter} attempts",
    )


def run(ctx_or_dir: EngineContext | Path | str) -> int:
    """Run the maker-checker pattern session; returns the process exit code."""
    return run_guarded(_run, ctx_or_dir)


if __name__ == "__main__":
    sys.exit(_check_main(sys.argv[1:]))
