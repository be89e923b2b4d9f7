"""Pattern engines: each runs inside a tactical session and drives its child sessions."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from scope_tui.store import sessions
from scope_tui.store.errors import UsageError

# skill name -> module with `run(ctx) -> int`
ENGINES = {
    "rlm": "scope_tui.patterns.rlm.engine",
    "map-reduce": "scope_tui.patterns.engines.mapreduce",
    "maker-checker": "scope_tui.patterns.engines.maker_checker",
    "ralph": "scope_tui.patterns.engines.ralph",
    "dag": "scope_tui.patterns.engines.dag",
}


# Patterns whose operational workers may be one shell command: `--cmd` given with the skill is that
# command's template (placeholders per engine), not the pattern session's own driver.
CMD_TEMPLATE_SKILLS = ("map-reduce", "maker-checker", "ralph")


def prepare_params(
    skill: str, params: dict[str, Any] | None, opts: dict[str, Any], project: Any = None
) -> dict[str, Any]:
    """Check a pattern's parameters at spawn time and return them; may move `opts["cmd"]` into them.

    Raises UsageError for what would only fail later in the window (a DAG file with a cycle, a
    missing --dag or --rubric), so the person hears it at once with exit 2.
    """
    params = dict(params or {})
    if skill in CMD_TEMPLATE_SKILLS and opts.get("cmd"):
        params["cmd"] = opts.pop("cmd")
        opts.pop("driver", None)
    if (
        skill == "map-reduce"
        and not params.get("parts")
        and not [c for c in params.get("context") or [] if c != "-"]
    ):
        raise UsageError("the map-reduce skill needs --context PATH (files or a folder to partition)")
    if skill == "dag":
        if not params.get("dag"):
            raise UsageError("the dag skill needs --dag FILE (a TOML file of [tasks.NAME])")
        from scope_tui.patterns.engines.dag import check_skills, load

        dag = load(Path(params["dag"]))
        if project is not None:
            check_skills(project, dag)
    if skill == "maker-checker":
        if not params.get("rubric"):
            raise UsageError(
                "the maker-checker skill needs --rubric FILE ([[gates]] name, cmd, timeout; criteria)"
            )
        from scope_tui.patterns.engines.maker_checker import load_rubric

        load_rubric(Path(params["rubric"]))
    return params


def run(session_dir: Path, ctx: object | None = None) -> int:
    """Run the engine named by the session's skill; returns the process exit code."""
    s = sessions.load_dir(session_dir)
    mod = ENGINES.get(str(s.meta.get("skill")))
    if mod is None:
        sessions.set_status(session_dir, "failed", reason=f"no engine for skill {s.meta.get('skill')!r}")
        return 2
    return int(importlib.import_module(mod).run(ctx if ctx is not None else session_dir))
