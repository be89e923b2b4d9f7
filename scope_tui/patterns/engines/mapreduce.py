"""Map-reduce: partition the context, run one mapper a part with bounded parallelism, reduce in one child.

Parts are the files of `params.context` (a folder counts as its files), or chunks of
`params.chunk_tokens` tokens (about 4 characters a token), or an explicit `params.parts` list.
A mapper is a command (`params.cmd`, with `{file}`, `{chunk_path}`, `{index}`, `{n}` filled in) or a
model worker given the part's path. A failed part is retried (`params.retries`, default 1) and, if it
still fails, named in the result: never dropped. The reducer is a child session too, so it shows in
the tree; it reads `map_results.json` in this session's folder (`params.reduce_cmd` with `{results}`,
or a model worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scope_tui.patterns.engines.context import ChildSpec, EngineContext, fill, run_guarded
from scope_tui.store.atomic import write_json, write_text
from scope_tui.store.errors import UsageError

CHARS_PER_TOKEN = 4


@dataclass
class Part:
    index: int  # 1-based
    path: Path  # the file a mapper reads: the original file, or a chunk written under chunks/
    label: str  # what a person reads in the tree and in the result
    chunk: bool = False


def context_files(paths: list[str]) -> list[Path]:
    """The files named by `paths`: a file itself, a folder's files (recursive, sorted, no hidden ones)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and not any(x.startswith(".") for x in f.relative_to(p).parts)
            )
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"context {p}: no such file or folder")
    return out


def partition(ctx: EngineContext) -> list[Part]:
    """Split the work into parts as `ctx.params` asks; chunk files go under the session's chunks/."""
    params = ctx.params
    explicit = params.get("parts")
    chunk_tokens = params.get("chunk_tokens")
    chunks_dir = ctx.session_dir / "chunks"
    if explicit:
        chunks_dir.mkdir(exist_ok=True)
        parts = []
        for i, text in enumerate(explicit, 1):
            path = chunks_dir / f"{i:04d}.txt"
            write_text(path, str(text))
            parts.append(Part(i, path, f"part {i}", chunk=True))
        return parts
    paths = [p for p in params.get("context") or [] if p != "-"]
    if not paths:
        raise UsageError("map-reduce needs something to partition: --context PATH (files or a folder)")
    files = context_files(paths)
    if not files:
        raise UsageError(f"map-reduce: no files under {' '.join(paths)}")
    if not chunk_tokens:
        return [Part(i, f, f.name) for i, f in enumerate(files, 1)]
    size = int(chunk_tokens) * CHARS_PER_TOKEN
    chunks_dir.mkdir(exist_ok=True)
    parts = []
    for f in files:
        text = f.read_text(errors="replace")
        for start in range(0, max(len(text), 1), size):
            i = len(parts) + 1
            path = chunks_dir / f"{i:04d}.txt"
            write_text(path, text[start : start + size])
            parts.append(Part(i, path, f"{f.name}[{start}:{min(start + size, len(text))}]", chunk=True))
    return parts


def mapper_spec(ctx: EngineContext, part: Part, n: int, task: str, retries: int) -> ChildSpec:
    """A command mapper (`params.cmd`) or a model worker whose task names its part.

    `{file}` / `{chunk_path}` in the task or the command become the part's path.
    """
    cmd = ctx.params.get("cmd")
    title = f"map {part.index}/{n}: {part.label}"
    values = {"file": part.path, "chunk_path": part.path, "index": part.index, "n": n}
    mine = fill(task, **values)
    extra = {"part": str(part.path)}
    if cmd:
        return ChildSpec(
            task=mine,
            key=str(part.index),
            role="mapper",
            title=title,
            cmd=fill(cmd, **values),
            retries=retries,
            extra=extra,
        )
    if mine == task:  # the task does not name the part itself
        mine = f"{task.rstrip()}\n\nDo this for one part only: {part.path}"
    body = (
        f"{mine.rstrip()}\n\n(Map step {part.index} of {n}: answer for {part.path} only, briefly; "
        "a reducer combines the parts.)\n"
    )
    return ChildSpec(task=body, key=str(part.index), role="mapper", title=title, retries=retries, extra=extra)


def reducer_spec(
    ctx: EngineContext, task: str, results_path: Path, mapped: list[dict[str, Any]]
) -> ChildSpec:
    reduce_cmd = ctx.params.get("reduce_cmd")
    title = f"reduce {len(mapped)} parts"
    if reduce_cmd:
        return ChildSpec(
            task=f"{title}\n\n{task}",
            key="reduce",
            role="reducer",
            title=title,
            cmd=fill(reduce_cmd, results=results_path),
        )
    lines = [
        f"{title}\n",
        f"Combine the mappers' results into one answer to the task:\n\n{task}\n",
        f"The results (also in {results_path}):\n",
    ]
    for m in mapped:
        lines.append(f"--- part {m['index']} ({m['label']}) ---\n{m['result'].rstrip()}\n")
    return ChildSpec(
        task="\n".join(lines), key="reduce", role="reducer", title=title, model=ctx.params.get("reduce_model")
    )


def _run(ctx: EngineContext) -> int:
    ctx.begin("map-reduce: partition, map, reduce")
    task = ctx.task()
    ctx.phase("orient", "partitioning the context")
    parts = partition(ctx)
    how = (
        "explicit list"
        if ctx.params.get("parts")
        else (
            f"chunks of {ctx.params['chunk_tokens']} tokens"
            if ctx.params.get("chunk_tokens")
            else "one part per file"
        )
    )
    ctx.event("partition", parts=len(parts), how=how, labels=[p.label for p in parts[:50]])
    parallel = int(ctx.params.get("parallel") or 4)
    retries = int(ctx.params.get("retries", 1))
    mapper = "command " + repr(ctx.params["cmd"]) if ctx.params.get("cmd") else "model worker"
    ctx.phase("decide", f"{len(parts)} mappers, {parallel} at a time")
    ctx.decide(
        "map",
        f"{len(parts)} parts ({how}); mapper: {mapper}; at most {parallel} at once; "
        f"{retries} retr{'y' if retries == 1 else 'ies'} a part",
        parts=len(parts),
        parallel=parallel,
    )
    ctx.phase("act", "mapping")
    specs = [mapper_spec(ctx, p, len(parts), task, retries) for p in parts]
    ctx.assign_agents(
        [(sp, f"{task}\npart: {p.path.parent.name}/{p.label}") for sp, p in zip(specs, parts, strict=True)]
    )
    outcomes = ctx.run_children(specs, parallel=parallel)

    mapped: list[dict[str, Any]] = []
    failed: list[str] = []
    for part, o in zip(parts, outcomes, strict=True):
        row = {
            "index": part.index,
            "label": part.label,
            "path": str(part.path),
            "sessions": o.sids,
            "status": o.status,
            "attempts": o.attempts,
        }
        if o.ok:
            row["result"] = o.result
            mapped.append(row)
        else:
            row["reason"] = o.reason
            failed.append(
                f"part {part.index} ({part.label}): {o.status}, {o.reason}, "
                f"after {o.attempts} attempt(s) [{', '.join(o.sids) or '-'}]"
            )
    results_path = ctx.session_dir / "map_results.json"
    write_json(results_path, {"task": task, "parts": len(parts), "mapped": mapped, "failed": failed})
    ctx.phase("observe", f"{len(mapped)}/{len(parts)} parts mapped")
    if not mapped:
        return ctx.finish(
            False,
            "Every part failed:\n" + "\n".join(f"- {f}" for f in failed),
            reason=f"all {len(parts)} parts failed",
        )

    ctx.phase("act", "reducing")
    ctx.decide("reduce", f"one synthesis session over {len(mapped)} results", failed=len(failed))
    (red,) = ctx.run_children([reducer_spec(ctx, task, results_path, mapped)], parallel=1)
    answer = red.result.rstrip()
    if not red.ok:
        return ctx.finish(
            False,
            f"The reducer {red.sid} {red.status}: {red.reason}\n\n{answer}",
            reason=f"reducer {red.status}: {red.reason}",
        )
    if failed:
        text = (
            answer + f"\n\nIncomplete: {len(failed)} of {len(parts)} parts failed and are not in "
            "this answer:\n" + "\n".join(f"- {f}" for f in failed)
        )
        return ctx.finish(False, text, reason=f"{len(failed)} of {len(parts)} parts failed")
    return ctx.finish(True, answer)


def run(ctx_or_dir: EngineContext | Path | str) -> int:
    """Run the map-reduce pattern session; returns the process exit code."""
    return run_guarded(_run, ctx_or_dir)
