"""DAG: tasks with dependencies from a TOML file; independent ones run in parallel, results flow down edges.

    parallel = 4                      # optional: at most this many tasks at once (--parallel wins)
    [tasks.fetch]
    cmd = "curl -s ... > data.json"   # a shell command (command driver), or
    [tasks.summarise]
    task = "Summarise data.json"      # a task for a worker (`skill = "..."` to follow a pattern,
                                      #  `params = { context = ["logs"] }` for its parameters)
    after = ["fetch"]                 # runs when these are done; their results are appended to its task
    on_failure = "retry"              # stop (default) | continue | retry
    retries = 2                       # for on_failure = "retry" (default 1)
    driver = "codex"                  # optional: what runs it (store/drivers.py), and
    model = "openai:gpt-4.1-mini"     # its model (provider:name): a swarm of mixed agents and models
    agent = "carol"                   # optional: the persistent agent who takes it (scope agent list)

The keys are checked against one table (NODE) by store/schema.py: `plan.toml:7: tasks.ui.agnet: unknown
key (known: ...)`, and an `agent` that is not an active agent is refused at spawn (exit 2).

A command task gets `{results}` (the folder holding `<name>.md`, each finished task's result) and
`{name}` filled in. A cycle is refused with the cycle named.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scope_tui.patterns.engines.context import (
    ActionRefused,
    ChildOutcome,
    ChildSpec,
    EngineContext,
    fill,
    run_guarded,
)
from scope_tui.store import sessions
from scope_tui.store.atomic import write_text
from scope_tui.store.drivers import SPAWNABLE
from scope_tui.store.errors import UsageError
from scope_tui.store.schema import ConfigError, Key, check_table, check_toml, toml_line

ON_FAILURE = ("stop", "continue", "retry")


@dataclass
class Node:
    name: str
    task: str
    after: list[str] = field(default_factory=list)
    cmd: str | None = None
    skill: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # a pattern skill's parameters (context, ...)
    on_failure: str = "stop"
    retries: int = 0
    driver: str | None = None
    model: str | None = None
    agent: str | None = None  # a persistent agent named in the file; else one may be picked by strength


@dataclass
class Dag:
    nodes: dict[str, Node]  # in file order
    parallel: int | None = None

    def order(self) -> list[str]:
        """The names in a topological order (file order among the ready ones)."""
        done: list[str] = []
        left = dict(self.nodes)
        while left:
            ready = [n for n, node in left.items() if all(a in done for a in node.after)]
            done += ready
            for n in ready:
                del left[n]
        return done


def find_cycle(nodes: dict[str, Node]) -> list[str] | None:
    """A cycle as names in running order (`a, b, a`: b runs after a, a after b), or None."""
    color: dict[str, int] = {}  # 1 on the stack, 2 finished
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        color[n] = 1
        stack.append(n)
        for dep in nodes[n].after:
            if color.get(dep) == 1:
                cyc = stack[stack.index(dep) :] + [dep]
                return list(reversed(cyc))  # dependency first
            if dep not in color:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[n] = 2
        return None

    for n in nodes:
        if n not in color:
            found = visit(n)
            if found:
                return found
    return None


def _paths_from(base: Path, params: dict[str, Any]) -> dict[str, Any]:
    """A node's pattern params with relative file paths (context, rubric, dag) taken from the DAG file's folder."""
    for k in ("rubric", "dag"):
        if isinstance(params.get(k), str):
            params[k] = str((base / params[k]).resolve())
    ctx = params.get("context")
    if isinstance(ctx, str):
        ctx = [ctx]
    if isinstance(ctx, list):
        params["context"] = [str((base / c).resolve()) for c in ctx]
    return params


# The keys of one [tasks.NAME] table, their types and choices (store/schema.py kinds): the one schema of
# a node; load checks every table against it (an unknown key too) and names `file:line: key:`.
NODE = (
    Key("task", "str", doc="a task for a worker"),
    Key("cmd", "str", doc="a shell command (the command driver); {results} and {name} are filled in"),
    Key("after", "names", doc="the tasks this one runs after; their results are appended to its task"),
    Key("skill", "str", doc="a skill for the worker to follow (a pattern skill makes it a pattern session)"),
    Key("params", "table", doc="the skill's parameters (context, rubric, ...)"),
    Key("on_failure", "str", choices=ON_FAILURE),
    Key("retries", "int", doc="for on_failure = retry (default 1)"),
    Key("driver", "str", choices=SPAWNABLE, doc="what runs it (store/drivers.py)"),
    Key("model", "str", doc="its model (provider:name)"),
    Key("agent", "str", doc="the persistent agent who takes it (its own task: it learns from it)"),
)


def check_skills(project: Any, dag: Dag) -> None:
    """UsageError when a task names a skill the project does not have (it would run without it)."""
    from scope_tui.patterns import skill_files

    for node in dag.nodes.values():
        if node.skill:
            try:
                skill_files.load(project, str(node.skill))
            except UsageError as exc:
                raise UsageError(f"dag: task {node.name!r}: {exc}") from None


def check_agents(path: Path, dag: Dag, check: Callable[[str], None]) -> None:
    """ConfigError (`plan.toml:7: tasks.ui.agent: no agent 'carlo' ...`) for a node whose `agent` is not
    one that can take a task; `check` is the agents layer's (it raises UsageError saying why)."""
    text = Path(path).read_text()
    for node in dag.nodes.values():
        if node.agent:
            try:
                check(node.agent)
            except UsageError as exc:
                where = f"tasks.{node.name}.agent"
                raise ConfigError(str(path), toml_line(text, where), where, str(exc)) from None


def load(path: Path) -> Dag:
    """Read and check a DAG file; raises UsageError naming what is wrong: a key by `file:line: key:`
    (store/schema.py), a cycle by its members."""
    try:
        text = Path(path).read_text()
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise UsageError(f"dag {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"dag {path}: not valid TOML: {exc}") from None
    file = str(path)
    check_toml(file, text, data, [Key("parallel", "int+")])
    tasks = data.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise UsageError(f"dag {path}: no tasks (write [tasks.NAME] tables with task or cmd)")

    def bad(where: str, why: str) -> ConfigError:
        return ConfigError(file, toml_line(text, where), where, why)

    nodes: dict[str, Node] = {}
    for name, t in tasks.items():
        if not isinstance(t, dict):
            raise bad(f"tasks.{name}", f"expected a table ([tasks.{name}])")
        check_table(file, text, f"tasks.{name}", t, NODE)
        if t.get("cmd") and t.get("skill"):
            raise bad(f"tasks.{name}.skill", "give skill or cmd, not both")
        if not t.get("task") and not t.get("cmd"):
            raise bad(f"tasks.{name}", "needs task (or cmd)")
        after = t.get("after", [])
        after = [after] if isinstance(after, str) else list(after)
        on_failure = t.get("on_failure", "stop")
        retries = t.get("retries", 1 if on_failure == "retry" else 0)
        if retries < 0:
            raise bad(f"tasks.{name}.retries", f"expected a whole number, 0 or more, got {retries}")
        nodes[name] = Node(
            name=name,
            task=str(t.get("task") or t.get("cmd")),
            after=after,
            cmd=t.get("cmd"),
            skill=t.get("skill"),
            params=_paths_from(Path(path).parent, dict(t.get("params") or {})),
            on_failure=on_failure,
            retries=retries if on_failure == "retry" else 0,
            driver=t.get("driver") or None,
            model=t.get("model") or None,
            agent=t.get("agent") or None,
        )
    for node in nodes.values():
        for a in node.after:
            if a not in nodes:
                raise bad(f"tasks.{node.name}.after", f"after names {a!r}, which is not a task")
    cyc = find_cycle(nodes)
    if cyc:
        raise UsageError(
            f"dag {path}: cycle {' -> '.join(cyc)} (each runs after the one before it; break one 'after')"
        )
    return Dag(nodes, data.get("parallel"))


def node_spec(ctx: EngineContext, node: Node, results_dir: Path, inputs: dict[str, str]) -> ChildSpec:
    task = node.task
    if inputs:
        task += "\n\n## Results of the tasks this one runs after\n"
        for name, text in inputs.items():
            task += f"\n### {name}\n{text.rstrip()}\n"
    cmd = fill(node.cmd, results=results_dir, name=node.name) if node.cmd else None
    title = f"{node.name}: {sessions.first_line(node.task, 60)}"
    return ChildSpec(
        task=task,
        key=node.name,
        role=f"node:{node.name}",
        title=title,
        cmd=cmd,
        skill=node.skill,
        params=node.params or None,
        retries=node.retries,
        driver=node.driver,
        model=node.model,
        agent=node.agent,
    )


def _about(node: Node) -> str:
    """What a node is about, for picking its agent: its name, task, skill and the files it is given."""
    files = [Path(str(c)).name for c in node.params.get("context") or []]
    return "\n".join(x for x in (f"{node.name}: {node.task}", node.skill or "", " ".join(files)) if x)


def _run(ctx: EngineContext) -> int:
    ctx.begin("dag: run tasks in dependency order")
    dag = load(Path(ctx.params["dag"]))
    parallel = int(ctx.params.get("parallel") or dag.parallel or 4)
    results_dir = ctx.session_dir / "results"
    results_dir.mkdir(exist_ok=True)
    order = dag.order()
    ctx.phase("decide", f"{len(order)} tasks, at most {parallel} at once")
    ctx.decide(
        "plan",
        f"order {' '.join(order)}; at most {parallel} at once",
        order=order,
        parallel=parallel,
        edges={n: node.after for n, node in dag.nodes.items() if node.after},
    )

    opened = {n: node_spec(ctx, node, results_dir, {}) for n, node in dag.nodes.items()}
    ctx.assign_agents([(sp, _about(dag.nodes[n])) for n, sp in opened.items()])
    for n, sp in opened.items():  # a node the file gives no agent may be given one by strength
        dag.nodes[n].agent = sp.agent

    state: dict[str, str] = {n: "pending" for n in order}  # pending running done failed tolerated skipped
    outcome: dict[str, ChildOutcome] = {}
    why_skipped: dict[str, str] = {}
    live: dict[str, str] = {}  # sid -> node name
    stopping: str | None = None

    def inputs_of(node: Node) -> dict[str, str]:
        out = {}
        for a in node.after:
            o = outcome[a]
            out[a] = o.result if state[a] == "done" else f"(this task {o.status}: {o.reason})\n{o.result}"
        return out

    def start(name: str) -> None:
        node = dag.nodes[name]
        o = outcome.setdefault(name, ChildOutcome(node_spec(ctx, node, results_dir, inputs_of(node)), None))
        try:
            sid = ctx.start(o.spec, attempt=o.attempts + 1)
        except ActionRefused as exc:
            o.refused = str(exc)
            finish_node(name, o)
            return
        o.sids.append(sid)
        live[sid] = name
        state[name] = "running"

    def finish_node(name: str, o: ChildOutcome) -> None:
        nonlocal stopping
        write_text(results_dir / f"{name}.md", o.result)
        if o.ok:
            state[name] = "done"
            return
        node = dag.nodes[name]
        if o.session is not None and ctx.on_child_failed(o.spec, o, o.attempts) == "retry" and not stopping:
            ctx.decide("retry", f"{name} ({o.sid}) {o.status}: {o.reason}", node=name, attempt=o.attempts + 1)
            start(name)
            return
        if node.on_failure == "continue":
            state[name] = "tolerated"
            ctx.decide("continue", f"{name} {o.status} ({o.reason}); on_failure = continue", node=name)
        else:
            state[name] = "failed"
            if not stopping:
                stopping = f"{name} {o.status}: {o.reason}"
                ctx.decide("stop", f"{stopping}; starting nothing new", node=name)

    ctx.phase("act", "running tasks")
    while True:
        if not stopping:
            for name in order:
                if len(live) >= parallel:
                    break
                if state[name] == "pending" and all(
                    state[a] in ("done", "tolerated") for a in dag.nodes[name].after
                ):
                    start(name)
        if not live:
            break
        for s in ctx.wait_children(list(live), any_=True):
            if (s.terminal or s.corrupt) and s.id in live:
                name = live.pop(s.id)
                o = outcome[name]
                o.session = s
                finish_node(name, o)
    for name in order:
        if state[name] == "pending":
            state[name] = "skipped"
            blocked = [a for a in dag.nodes[name].after if state[a] in ("failed", "skipped")]
            why_skipped[name] = f"after {', '.join(blocked)}" if blocked else f"stopped ({stopping})"

    ok = all(state[n] in ("done", "tolerated") for n in order)
    lines = [f"DAG of {len(order)} tasks: " + ", ".join(f"{n} {state[n]}" for n in order), ""]
    for name in order:
        got = outcome.get(name)
        head = f"## {name} · {state[name]}"
        if got is not None and got.sids:
            head += f" · {' '.join(got.sids)}"
        lines.append(head)
        if state[name] == "skipped":
            lines.append(f"(not run: {why_skipped[name]})")
        elif got is not None:
            if not got.ok:
                lines.append(f"({got.status}: {got.reason})")
            lines.append(got.result.rstrip())
        lines.append("")
    bad = [n for n in order if state[n] in ("failed", "skipped")]
    return ctx.finish(
        ok, "\n".join(lines), reason=None if ok else f"{stopping or 'failed'}; not done: {' '.join(bad)}"
    )


def run(ctx_or_dir: EngineContext | Path | str) -> int:
    """Run the DAG pattern session; returns the process exit code."""
    return run_guarded(_run, ctx_or_dir)


def describe(dag: Dag) -> dict[str, Any]:
    """The DAG as plain data (for a tree or a --json view)."""
    return {
        n: {"after": node.after, "cmd": node.cmd, "skill": node.skill, "on_failure": node.on_failure}
        for n, node in dag.nodes.items()
    }
