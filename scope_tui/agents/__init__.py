"""Persistent agents: identity, own skills, memory, relationships, growth.

An agent is a folder in the agents home ($SCOPE_AGENTS_DIR, default ~/.scope/agents) that outlives
every task. Every file is plain, hand-editable, and read tolerantly: a broken one is reported (an
`agent_problem` event, a line on stderr, a `problems` entry in `summary.summarize`) and left as the
person wrote it, never overwritten and never fatal. The shapes (stable; the control room reads them):

    config.toml                     growth thresholds and settings for all agents (home.DEFAULTS):
                                    [growth] window, min_runs; [growth.intermediate|senior|staff]
                                    experience, verified_success, skills_used_by_others,
                                    heuristics_raised; [stages.<stage>] stall_after, repeat_limit,
                                    error_streak (a junior's lower monitor limits); [skills] stable_after_uses,
                                    stable_success_rate, match_threshold; [memory] consolidate_after,
                                    prompt_heuristics, prompt_failures
    <name>/identity.md              Markdown; `- key: value` lines before the first `## ` heading:
                                    created, status (active|retired), preferences, strengths,
                                    weaknesses, working style, reports to; anything else is free notes
    <name>/stats.json               {"tasks", "done", "failed", "killed", "stage",
                                     "history": [{"session", "project", "status", "skill", "score",
                                     "deviations", "t"}] (last 200)}
    <name>/skills/<skill>/vN.md     own skills in the shipped skill format (TOML front matter: name,
                                    version, description, when, keywords, base, owner; then the prompt)
    <name>/skills/<skill>/lineage.json
                                    {"name", "versions": {"1": {"parent", "patches", "origin": "agent",
                                     "scores", "created_at"}}, "owner", "forked_from", "created_after",
                                     "keywords", "uses", "successes", "status": "evolving"|"stable",
                                     "given_by"}
    <name>/memory/heuristics.json   {"heuristics": [{"id", "text", "source": approved_patch|reflection|
                                     success|consolidation|person, "ref", "skill", "project", "t"}],
                                     "pulled": [patch ids already folded in], "proposed": n}
    <name>/memory/failures.json     {"failures": [{"task", "session", "project", "status", "reason",
                                     "skill", "avoid", "t"}]}
    <name>/memory/contexts/<project>-<hash>.json
                                    {"project", "tasks", "done", "failed", "skills_used": {skill: n},
                                     "recent": [...], "notes": [...]}
    <name>/relationships.json       {"<other>": {"spawned", "spawned_ok", "topics": {word: n},
                                     "verifies", "verified", "accepted", "verified_by", "accepted_by",
                                     "note", "updated_at"}}

Sessions: meta "agent" names the agent; prepare_session adds "agent_skill" {name, version, root} when
an own skill matched and, when no skill was asked for, "skill", "skill_version" and "skill_root" (the
folder to pass as `agent_skill_root` to patterns.skill_files.load). A session spawned under an agent's
task without an agent of its own (a mapper, a checker, an orchestrator's child) has meta "works_for": its
worker gets the agent's prompt.md for its own task (lifecycle.carry, an `agent_carried` event) and no
stats. Memory in a prompt is what applies (this project, the skills in play), bounded by [memory]
prompt_tokens. Events: `decision` (by "agent": which
own skill or base pattern and why), `agent_update` (what the end of the task changed), `agent_problem`.

Modules: home (the home, config, tolerant reads, lock), identity, skills (own skills), memory,
relationships, growth (stats and stage), delegate (pick by relationships), assign (who takes a part of
a run by strength; api hands it to the engines as their assigner), reports (`reports to`: an escalation
to the agent's manager before the person), summary (one agent as a
dict for the faces), lifecycle (prepare_session / after_terminal, called by scope_tui.api).
"""
