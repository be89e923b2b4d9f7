"""An OpenAI-API stub on 127.0.0.1 for tests: the real `openai` SDK (or an agent CLI) talks to it.

The same script and barriers as the Messages stub (tests/support/messages_stub.py: `push`, `respond_with`,
`requests`, `wait_requests`, `hold`, `hold_until`), in OpenAI's wire forms:

- POST /v1/chat/completions: Chat Completions, plain JSON or (with "stream": true) `chat.completion.chunk`
  Server-Sent Events ending in `data: [DONE]`, with a usage chunk when `stream_options.include_usage`.
- POST /v1/responses: the Responses API, plain JSON or its typed SSE events (response.created,
  response.output_item.added/done, response.output_text.delta, response.function_call_arguments.delta,
  response.completed); a tool_use reply becomes `function_call` items.
- GET /v1/models: one model, for clients that list them.

A reply is the same dict as the Messages stub's: `{"text": ..., "tool_use": {"name", "input"} or a list,
"error": 429, "usage": {"input_tokens", "output_tokens"}}` or a plain string. `stub.env` is
{"OPENAI_BASE_URL": ".../v1", "OPENAI_API_KEY": key}.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.messages_stub import MessagesStub, _estimate_tokens, _Handler

_OPENAI_ERRORS = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    404: "model_not_found",
    429: "rate_limit_exceeded",
    500: "server_error",
}


def _uses(reply: dict[str, Any]) -> list[dict[str, Any]]:
    uses = reply.get("tool_use")
    return [uses] if isinstance(uses, dict) else list(uses or [])


def _usage(reply: dict[str, Any], body: dict[str, Any]) -> tuple[int, int]:
    u = reply.get("usage") or {}
    inp = int(
        u.get("input_tokens") or _estimate_tokens({"messages": body.get("messages") or body.get("input")})
    )
    return inp, int(u.get("output_tokens") or 10)


def chat_completion(reply: dict[str, Any], body: dict[str, Any], n: int) -> dict[str, Any]:
    calls = [
        {
            "id": u.get("id") or f"call_stub_{n:03d}_{i}",
            "type": "function",
            "function": {"name": u["name"], "arguments": json.dumps(u.get("input", {}))},
        }
        for i, u in enumerate(_uses(reply))
    ]
    msg: dict[str, Any] = {"role": "assistant", "content": reply.get("text")}
    if calls:
        msg["tool_calls"] = calls
    inp, out = _usage(reply, body)
    return {
        "id": f"chatcmpl-stub{n:04d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub-model"),
        "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
    }


def chat_chunks(full: dict[str, Any], include_usage: bool) -> bytes:
    base = {k: full[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    msg = full["choices"][0]["message"]
    out: list[dict[str, Any]] = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    text = msg.get("content") or ""
    for j in range(0, len(text), 40):
        out.append({**base, "choices": [{"index": 0, "delta": {"content": text[j : j + 40]}}]})
    for i, c in enumerate(msg.get("tool_calls") or []):
        first = {"index": i, "id": c["id"], "type": "function", "function": {"name": c["function"]["name"]}}
        out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [first]}}]})
        args = c["function"]["arguments"]
        for j in range(0, len(args), 20):
            part = {"index": i, "function": {"arguments": args[j : j + 20]}}
            out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [part]}}]})
    out.append(
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": full["choices"][0]["finish_reason"]}]}
    )
    if include_usage:
        out.append({**base, "choices": [], "usage": full["usage"]})
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in out) + "data: [DONE]\n\n").encode()


def response_object(reply: dict[str, Any], body: dict[str, Any], n: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    if reply.get("text") is not None:
        items.append(
            {
                "type": "message",
                "id": f"msg_stub_{n:04d}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply["text"], "annotations": []}],
            }
        )
    for i, u in enumerate(_uses(reply)):
        items.append(
            {
                "type": "function_call",
                "id": f"fc_stub_{n:04d}_{i}",
                "call_id": u.get("id") or f"call_stub_{n:03d}_{i}",
                "name": u["name"],
                "arguments": json.dumps(u.get("input", {})),
                "status": "completed",
            }
        )
    inp, out = _usage(reply, body)
    return {
        "id": f"resp_stub_{n:04d}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": body.get("model", "stub-model"),
        "output": items,
        "usage": {
            "input_tokens": inp,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": inp + out,
        },
    }


def response_events(resp: dict[str, Any]) -> bytes:
    seq = 0
    out: list[str] = []

    def ev(kind: str, **data: Any) -> None:
        nonlocal seq
        out.append(f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq, **data})}\n\n")
        seq += 1

    ev("response.created", response={**resp, "status": "in_progress", "output": []})
    for i, item in enumerate(resp["output"]):
        if item["type"] == "message":
            ev(
                "response.output_item.added",
                output_index=i,
                item={**item, "content": [], "status": "in_progress"},
            )
            text = item["content"][0]["text"]
            for j in range(0, len(text), 40):
                ev(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=i,
                    content_index=0,
                    delta=text[j : j + 40],
                )
            ev("response.output_text.done", item_id=item["id"], output_index=i, content_index=0, text=text)
        else:
            ev(
                "response.output_item.added",
                output_index=i,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            args = item["arguments"]
            for j in range(0, len(args), 20):
                ev(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=i,
                    delta=args[j : j + 20],
                )
            ev("response.function_call_arguments.done", item_id=item["id"], output_index=i, arguments=args)
        ev("response.output_item.done", output_index=i, item=item)
    ev("response.completed", response=resp)
    return "".join(out).encode()


class _OpenAIHandler(_Handler):
    def _error(self, status: int, message: str | None = None, extra: dict[str, str] | None = None) -> None:
        code = _OPENAI_ERRORS.get(status, "server_error")
        body = {
            "error": {"message": message or code.replace("_", " "), "type": code, "param": None, "code": code}
        }
        self._send(status, json.dumps(body).encode(), "application/json", extra)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] == "/v1/models":
            data = {"object": "list", "data": [{"id": "stub-model", "object": "model", "owned_by": "stub"}]}
            return self._send(200, json.dumps(data).encode(), "application/json")
        self._error(404, f"no such endpoint: {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(400, "body is not JSON")
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/chat/completions", "/v1/responses"):
            return self._error(404, f"no such endpoint: {self.path}")
        stub = self.stub
        n = stub._record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        reply = stub._next_reply(body)
        if isinstance(reply, str):
            reply = {"text": reply}
        if not stub._gate():
            return self._error(500, "stub: hold_until barrier never reached")
        if reply.get("error"):
            status = int(reply["error"])
            extra = {"retry-after": str(reply.get("retry_after", 0))} if status == 429 else {}
            return self._error(status, None, extra)
        if path == "/v1/chat/completions":
            full = chat_completion(reply, body, n)
            if body.get("stream"):
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return self._send(
                    200, chat_chunks(full, usage), "text/event-stream", {"cache-control": "no-cache"}
                )
            return self._send(200, json.dumps(full).encode(), "application/json")
        resp = response_object(reply, body, n)
        if body.get("stream"):
            return self._send(200, response_events(resp), "text/event-stream", {"cache-control": "no-cache"})
        self._send(200, json.dumps(resp).encode(), "application/json")


@dataclass
class OpenAIStub(MessagesStub):
    key: str = "sk-proj-stub-000000000000000000000000000OPENAISECRET"

    @property
    def env(self) -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.url + "/v1", "OPENAI_API_KEY": self.key}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _OpenAIHandler
