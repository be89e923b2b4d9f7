"""`scope demo`: a small project whose real tmux workers run through three levels while you watch.

Everything is spawned through scope_tui.api, exactly as `scope spawn` would. Today the workers are
command-driver scripts: a strategic session splits a word-count survey into two tactical passes,
each of which spawns one operational worker per file and waits for them (one file is missing on
purpose, so one worker fails). Beside it, a built-in worker on the offline model (never the network,
even with a key set) follows the map-reduce skill with the seeded switch that makes it deviate once:
a deviation alert, a reflection in its inbox, and a pending patch to approve with `a`. And a whole
`scope run` on the offline model: orchestrator, map-reduce supervisor, built-in mappers and a reducer
counting the ERROR lines of four service logs (14).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from scope_tui import api
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
sleep 2
n=$(wc -w < "$f") || exit 3
sleep 2
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


def seed(project: Project) -> list[str]:
    """Write the demo's data and scripts beside `project` and spawn its top session; returns the ids spawned."""
    folder = project.home
    for rel, text in TEXTS.items():
        p = folder / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    _scripts(folder)
    # The survey's sessions start shell workers with `scope spawn --cmd`, which a session may do only when
    # the person's trusted config allows it: the person who runs `scope demo` makes and trusts this project.
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
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    for i, (service, errors) in enumerate([("api", 3), ("billing", 5), ("search", 2), ("auth", 4)]):
        lines = [f"2026-11-27T09:{i:02d}:{k:02d} INFO {service} request served" for k in range(40)]
        for k in range(errors):
            lines[k * 7 + 3] = f"2026-11-27T09:{i:02d}:{k * 7 + 3:02d} ERROR {service} upstream timeout"
        (logs / f"{service}.log").write_text("\n".join(lines) + "\n")
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
    return [top.id, learner.id, run.id, rlm.id]
