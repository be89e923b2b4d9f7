"""Scope: a terminal control room for LLM agents."""

__version__ = "0.1.0"
