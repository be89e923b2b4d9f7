"""Restart policies as OTP defines them, for task sessions. Pure logic: no tmux, no files.

- strategy: one_for_one (restart the one that ended), one_for_all (stop all, restart all),
  rest_for_one (restart the one and every sibling started after it).
- restart type per child: permanent, transient, temporary. In a task tree "normal exit" means the work
  is done, so a child that is `done` is never restarted for itself (it may be restarted as a sibling
  under one_for_all / rest_for_one). permanent: restarted after any other end (failed, killed, stalled,
  stuck); transient: restarted only after an abnormal end (failed, stalled, stuck), not when a person
  killed it; temporary: never restarted, its end is recorded and the others go on.
- intensity: at most `max_restarts` restarts within `period` seconds; the next one is refused, and the
  supervisor then stops its children in reverse start order and escalates (`restart_intensity`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
RESTART_TYPES = ("permanent", "transient", "temporary")


def validate(strategy: str, restart_type: str = "permanent") -> None:
    """Raise ValueError naming the allowed values when either is unknown."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown restart strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if restart_type not in RESTART_TYPES:
        raise ValueError(f"unknown restart type {restart_type!r}: use one of {', '.join(RESTART_TYPES)}")


def wants_restart(restart_type: str, end: str) -> bool:
    """Whether a child of `restart_type` is restarted after ending with `end`.

    `end` is a status (done, failed, killed, escalated) or a trouble the supervisor saw (stalled, stuck,
    repeated, error_streak).
    """
    if end == "done" or restart_type == "temporary":
        return False
    if restart_type == "transient":
        return end != "killed"
    return True


def to_restart(strategy: str, order: list[str], ended: str) -> list[str]:
    """The children to restart, in start order, when `ended` (one of `order`) has to be restarted."""
    if strategy == "one_for_one":
        return [ended]
    if strategy == "one_for_all":
        return list(order)
    if strategy == "rest_for_one":
        return order[order.index(ended) :]
    raise ValueError(f"unknown restart strategy {strategy!r}")


def stop_order(order: list[str]) -> list[str]:
    """Children are stopped in reverse start order, as OTP does."""
    return list(reversed(order))


@dataclass
class Intensity:
    """At most `max_restarts` restarts in any `period` seconds (OTP's MaxR / MaxT)."""

    max_restarts: int = 3
    period: float = 60.0
    times: deque[float] = field(default_factory=deque)

    def allow(self, now: float) -> bool:
        """Record a restart at `now` and return True, or return False when it would exceed the intensity."""
        while self.times and now - self.times[0] >= self.period:
            self.times.popleft()
        if len(self.times) >= self.max_restarts:
            return False
        self.times.append(now)
        return True

    def used(self, now: float) -> int:
        return sum(1 for t in self.times if now - t < self.period)


def adjust(spec: dict[str, Any], attempt: int, end: str) -> dict[str, Any]:
    """The changes for restart number `attempt` (1-based) of a child after it ended with `end`.

    A spec's `on_restart` list gives the changes for each restart in turn (its last entry repeats), e.g.
    another model, another command, more context. Without one, a child whose params have `chunk_tokens`
    is restarted with half the chunk when it stalled or got stuck. Returns {} for a plain repeat.
    """
    steps = spec.get("on_restart") or []
    if steps:
        return dict(steps[min(attempt, len(steps)) - 1])
    params = spec.get("params") or {}
    if end in ("stalled", "stuck") and isinstance(params.get("chunk_tokens"), int):
        return {"params": {**params, "chunk_tokens": max(1, params["chunk_tokens"] // 2)}}
    return {}
