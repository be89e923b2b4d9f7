"""Persistent agents: identity, own skills, memory, relationships, growth."""
