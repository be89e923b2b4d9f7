"""Skill files and versions, task profiles, selection, rule checks, the RLM / map-reduce / maker-checker / ralph / DAG engines."""
