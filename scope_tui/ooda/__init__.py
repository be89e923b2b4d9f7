"""The OODA loop at three levels, restart policies, semantic escalation.

- `orchestrator` (strategic, driver "orchestrator", `scope run`): profiles the task, picks patterns,
  allocates budget, spawns one supervisor per pattern instance and acts on the reason of each escalation.
- `supervisor` (tactical, driver "pattern"): a pattern engine run with `supervised.SupervisedContext`, or
  (params.children) a plain OTP supervisor (`OtpSupervisor`) that restarts children by relaunching the
  same session id.
- `acts`: what both levels do to a child or for the person: stop a child, tell the person, guard a loop.
- `monitor`: one file watcher for all of a supervisor's children; detects ended / stalled / repeated /
  error_streak / needs_input / escalation.
- `restart`: OTP strategies, restart types and intensity windows (pure logic).
- `escalation`: escalate to the parent's inbox (kind "escalation") with an `escalation` event; at the
  top, ask the person (needs_input; the answer arrives with `scope redirect`).
- `loop`: the phase in state.json and the `orientation` / `decision` events (field `what`, one-line `why`).
"""
