"""`scope demo`: a small project whose real tmux workers run through three levels while you watch.

Everything is spawned through scope_tui.api, exactly as `scope spawn` would. Today the workers are
command-driver scripts: a strategic session splits a word-count survey into two tactical passes,
each of which spawns one operational worker per file and waits for them (one file is missing on
purpose, so one worker fails). Beside it, a built-in worker on the offline model (never the network,
even with a key set) follows the map-reduce skill with the seeded switch that makes it deviate once:
a deviation alert, a reflection in its inbox, and a patch that is tested before it waits for `a`: three
map-reduce runs with expected answers become the skill's eval items, and an eval session runs the
patched version and its parent on them (the patch panel shows `v2 3/3 · v1 3/3 · +$0.00`). And a whole
`scope run` on the offline model: orchestrator, map-reduce supervisor, built-in mappers and a reducer
counting the ERROR lines of four service logs (14).

While you watch: the operational workers print as they go for a quarter of a minute (the Pane tab shows
them live); one worker asks the person which log to read first and waits (`i` answers it); and a
persistent agent, `ada`, learns: her first task (verified by its expected answer) becomes a skill of her
own, her next like task runs it (its select decision names it), and the Memory tab shows the skill, its
use and the heuristic she kept; her agents home is inside the demo folder (never ~/.scope/agents).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from scope_tui import api
from scope_tui.store.errors import ScopeError
from scope_tui.store.project import Project

TEXTS = {
    "a/observe.txt": "Observe: read the events of every worker before deciding anything.\n" * 3,
    "a/orient.txt": "Orient: compare what happened with what the skill expected.\n" * 5,
    "a/decide.txt": "Decide: restart, re-parameterise, switch pattern, or escalate.\n" * 2,
    "b/act.txt": "Act: spawn, kill or redirect through the same API as the command line.\n" * 4,
    "b/reflect.txt": "Reflect: a deviation becomes a micro-reflection and a patch proposal.\n" * 6,
}


def _scripts(folder: Path) -> None:
    scope = f"{shlex.quote(sys.executable)} -m scope_tui"
    (folder / "scripts").mkdir(exist_ok=True)
    (folder / "scripts" / "worker.sh").write_text(
        """# operational: count the words of one file, slowly enough to watch
f="$1"
printf '\\033[36moperational\\033[0m reading %s\\n' "$f"
n=$(wc -w < "$f") || exit 3
i=1
while [ $i -le 15 ]; do
  printf '  %s: chunk %d of 15, %d words so far\\n' "$f" $i $((n * i / 15))
  sleep 1
  i=$((i + 1))
done
printf '%s: \\033[1m%s words\\033[0m\\n' "$f" "$n"
"""
    )
    (folder / "scripts" / "tactical.sh").write_text(
        f"""# tactical: one worker per file in a folder, then wait for all of them
dir="$1"
printf '\\033[35mtactical\\033[0m survey of %s\\n' "$dir"
ids=""
for f in "$dir"/*.txt "$dir/missing.txt"; do
  [ "$f" = "$dir/missing.txt" ] && [ "$dir" != "data/b" ] && continue
  id=$({scope} spawn --cmd "sh scripts/worker.sh $f" "Count the words in $f")
  echo "spawned $id for $f"
  ids="$ids $id"
  sleep 1
done
{scope} wait $ids
echo "tactical: all workers finished"
"""
    )
    (folder / "scripts" / "strategic.sh").write_text(
        f"""# strategic: split the survey into two tactical passes and wait for both
printf '\\033[1;34mstrategic\\033[0m planning: two passes, one per folder\\n'
a=$({scope} spawn --level tactical --cmd "sh scripts/tactical.sh data/a" "Survey pass A: word counts of data/a")
sleep 2
b=$({scope} spawn --level tactical --cmd "sh scripts/tactical.sh data/b" "Survey pass B: word counts of data/b")
{scope} wait $a $b
echo "strategic: survey complete"
"""
    )


def _status_line(status: str, reason: str = "") -> str:
    """A shell line by which a command session sets its own status (it asks; the person answers)."""
    code = (
        "import os, sys; from scope_tui.store import sessions; from scope_tui.store.project import Project; "
        "d = Project(os.environ['SCOPE_DIR']).session_dir(os.environ['SCOPE_SESSION_ID']); "
        "sessions.set_status(d, sys.argv[1], reason=sys.argv[2] or None)"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} {status} {shlex.quote(reason)}"


def ask_person(project: Project) -> str:
    """A worker that asks the person which log to read first, waits for the answer (`i` in the room, or
    `scope redirect ID TEXT`), then reads that log; returns its id."""
    folder = project.home
    (folder / "scripts").mkdir(exist_ok=True)
    (folder / "scripts" / "ask.sh").write_text(
        f"""# asks the person, waits for the answer typed into its pane, then goes on
printf '\\033[33mquestion\\033[0m which service log should I read first? (api, billing, search, auth)\\n'
{_status_line("needs_input", "which log first?")}
read answer
{_status_line("running")}
printf 'thanks: reading logs/%s.log first\\n' "$answer"
i=1
while [ $i -le 10 ]; do printf '  reading, %d of 10\\n' $i; sleep 1; i=$((i + 1)); done
printf '%s errors in logs/%s.log\\n' "$(grep -c ERROR "logs/$answer.log" 2>/dev/null || echo no)" "$answer"
"""
    )
    s = api.spawn(
        project,
        "Ask the person which service log to read first, then read it",
        parent=None,
        driver="command",
        cmd="sh scripts/ask.sh",
        cwd=folder,
    )
    return s.id


ERRORS = {"api": 3, "billing": 5, "search": 2, "auth": 4}  # ERROR lines per service log


def _logs(folder: Path) -> Path:
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    for i, (service, errors) in enumerate(ERRORS.items()):
        lines = [f"2026-11-27T09:{i:02d}:{k:02d} INFO {service} request served" for k in range(40)]
        for k in range(errors):
            lines[k * 7 + 3] = f"2026-11-27T09:{i:02d}:{k * 7 + 3:02d} ERROR {service} upstream timeout"
        (logs / f"{service}.log").write_text("\n".join(lines) + "\n")
    return logs


def eval_runs(project: Project, logs: Path) -> list[str]:
    """Three map-reduce runs with expected answers (`--expect`): scored by that verifier, each becomes an
    eval item of map-reduce, and with the third the learner's patch has its minibatch and is tested (an
    eval session runs the candidate and its parent on them); returns their ids."""
    ids = []
    for services in (["api"], ["billing"], ["auth", "search"]):
        parts = [f"logs/{name}.log" for name in services]
        counts = [ERRORS[name] for name in services]
        expect = f"{sum(counts)} in total ({', '.join(f'part {i}: {n}' for i, n in enumerate(counts, 1))})"
        s = api.spawn(
            project,
            f"How many lines contain ERROR in {' and '.join(parts)}?",
            params={"context": [str(project.home / part) for part in parts], "expect": expect},
            parent=None,
            skill="map-reduce",
            cwd=project.home,
        )
        ids.append(s.id)
    return ids


ADA_FIRST = "How many lines contain ERROR in logs/api.log and logs/billing.log?"
ADA_NEXT = "How many lines contain ERROR in the service logs?"


def ada_day(project: Project) -> str:
    """A persistent agent's day, as a command session that runs `scope` for it: ada's first task (a
    map-reduce its expected answer verifies) becomes a skill of her own; her next like task (`scope run
    --agent ada`) runs that skill; returns the day's id (her tasks are its children)."""
    try:
        api.new_agent("ada", strengths="careful with counts", style="terse")
    except ScopeError:
        pass  # a demo run again in the same folder: ada is there already
    folder = project.home
    scope = f"{shlex.quote(sys.executable)} -m scope_tui"
    expect = (
        f"{ERRORS['api'] + ERRORS['billing']} in total (part 1: {ERRORS['api']}, part 2: {ERRORS['billing']})"
    )
    (folder / "scripts").mkdir(exist_ok=True)
    (folder / "scripts" / "ada.sh").write_text(
        f"""# ada's day: a task, then a like one that the skill she made from the first one runs
printf '\\033[1;32mada\\033[0m takes a task\\n'
a=$({scope} spawn --agent ada --skill map-reduce --context logs/api.log --context logs/billing.log \\
  --expect {shlex.quote(expect)} {shlex.quote(ADA_FIRST)})
{scope} wait "$a"
printf 'ada learned from %s (the Memory tab): now a like task, with her own skill\\n' "$a"
b=$({scope} run --agent ada --context logs {shlex.quote(ADA_NEXT)})
{scope} wait "$b"
printf 'ada is done: scope agent show ada\\n'
"""
    )
    s = api.spawn(
        project,
        "ada's day: a task, then a like one her own skill runs",
        parent=None,
        driver="command",
        cmd="sh scripts/ada.sh",
        cwd=folder,
    )
    return s.id


def agents_home(folder: Path) -> Path:
    """The demo's own agents home: set for this process and every worker it starts."""
    home = folder / "agents"
    os.environ["SCOPE_AGENTS_DIR"] = str(home)
    return home


def seed(project: Project) -> list[str]:
    """Write the demo's data and scripts beside `project` and spawn its top session; returns the ids spawned."""
    folder = project.home
    agents_home(folder)
    for rel, text in TEXTS.items():
        p = folder / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    _scripts(folder)
    # The survey's sessions start shell workers with `scope spawn --cmd`, which a session may do only when
    # the person's trusted config allows it: the person who runs `scope demo` makes and trusts this project.
    # Its models are offline, a key set or not: the eval items' expected answers are the offline model's.
    api.offline_models(project)
    api.allow_command_workers(project)
    top = api.spawn(
        project,
        "Survey the demo data: word counts per file, in two passes\n\n"
        "A strategic session plans two tactical passes; each pass spawns one operational worker per file.",
        parent=None,
        level="strategic",
        driver="command",
        cmd="sh scripts/strategic.sh",
        cwd=folder,
    )
    # Online GEPA's loop: an offline built-in worker that deviates once (params.deviate_once, see
    # models/offline/quirks.py), gets a reflection, recovers, and leaves a skill patch to approve.
    learner = api.spawn(
        project,
        "Spawn two children in parallel:\n"
        "- count the lines containing Reflect in data/b/reflect.txt\n"
        "- count the lines containing Act in data/b/act.txt",
        params={"deviate_once": True},
        parent=None,
        driver="builtin",
        skill="map-reduce",
        cwd=folder,
    )
    # The whole hierarchy on the offline model: the orchestrator profiles the task, hands it to a map-reduce
    # supervisor, whose built-in mappers each count one log and whose reducer adds the parts up.
    logs = _logs(folder)
    run = api.spawn(
        project,
        "How many lines contain ERROR in the service logs?",
        params={"context": [str(logs)], "candidates": [{"skill": "map-reduce"}]},
        parent=None,
        driver="orchestrator",
        level="strategic",
        model="offline",
        cwd=folder,
    )
    # A recursive language model over the same logs: the offline stand-in cuts them into parts past its
    # sub-context size and gives each to a child RLM in parallel (the Trajectory tab shows its turns).
    rlm = api.spawn(
        project,
        "How many lines contain ERROR? (an RLM: the logs are a REPL variable, never the prompt)",
        params={"context": [str(logs)], "chunk_chars": 2500},
        parent=None,
        driver="pattern",
        level="tactical",
        skill="rlm",
        model="offline",
        cwd=folder,
    )
    asking = ask_person(project)
    # A persistent agent learns: her home inside the demo folder, her first task makes her a skill, her
    # next like task runs it (the select decision names it), and the Memory tab shows what she learned.
    ada = ada_day(project)
    # The learner's patch is tested the way every skill patch is: on eval items, which scored runs make.
    return [top.id, learner.id, run.id, rlm.id, asking, ada, *eval_runs(project, logs)]


def finish(project: Project, ask: Callable[[str], str] = input) -> str:
    """After the room: ask whether to stop the demo's own tmux server (its workers end); what was done."""
    root = project.root
    try:
        answer = ask("scope demo: stop the demo's tmux server? Its workers end; their history stays. [y/N] ")
    except EOFError:
        answer = ""
    ada = project.home / "agents" / "ada"  # the demo's agents home, not the one a later shell has
    learned = (
        f"; `SCOPE_AGENTS_DIR={ada.parent} scope agent show ada` shows what ada learned"
        if ada.is_dir()
        else ""
    )
    if answer.strip().lower() in ("y", "yes"):
        api.stop_tmux(project)
        return f"scope demo: tmux server stopped; `SCOPE_DIR={root} scope tree` shows what ran{learned}"
    return f"scope demo: workers keep running; `SCOPE_DIR={root} scope tree` shows them{learned}"
