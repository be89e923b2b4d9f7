"""The RLM pattern: a REPL over a context too large for a prompt, with recursive sub-calls."""
