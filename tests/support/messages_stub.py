"""A Messages-API stub on 127.0.0.1 for tests: the real Anthropic SDK (or Claude Code) talks to it.

Use it as the pytest fixture `stub` (tests/conftest.py) or as a context manager::

    with MessagesStub() as stub:
        stub.push(text="hello")                                   # a text reply
        stub.push(tool_use={"name": "bash", "input": {"cmd": "ls"}})   # a tool_use reply (or a list of them)
        stub.push(text="thinking", tool_use=[{...}, {...}])       # text block, then tool_use blocks
        stub.push(error=429, retry_after=0)                       # 429 rate_limit_error with retry-after
        stub.push(error=500)  /  stub.push(error=529)  /  stub.push(error=401)   # api/overloaded/auth error
        stub.respond_with(lambda body: {"text": "..."})           # or a callable(request_json) -> reply
        env = stub.env          # {"ANTHROPIC_BASE_URL": stub.url, "ANTHROPIC_API_KEY": stub.key}

A reply is the keyword arguments of `push` as a dict (`{"text": ..., "tool_use": ..., "error": ...,
"retry_after": ..., "stop_reason": ..., "usage": {"input_tokens": .., "output_tokens": ..}}`) or a plain
string (a text reply). Pushed replies are consumed in order; with a callable set (`respond_with`) it answers
whatever the queue does not; when neither has anything the stub answers a text reply "(stub: script
exhausted)" so a test fails on its assertions rather than hanging.

Endpoints: POST /v1/messages (also `?beta=true`; any model name) and POST /v1/messages/count_tokens.
A request with "stream": true gets Server-Sent Events (message_start, content_block_start/delta/stop with
text_delta or input_json_delta, message_delta with usage, message_stop); otherwise plain JSON.

Recording: `stub.requests` is a list of `Recorded(path, headers, body)` for every /v1/messages call, in arrival
order; `Recorded.text` is all the text of its messages and system prompt joined (to assert "the next
request contains X"). `stub.wait_requests(n)` blocks until n have arrived.

Barriers: `stub.hold_until(n)` holds every reply until n requests are in flight at once (proves parallelism;
if they never are, held requests are answered with a 500 after `hold_timeout` seconds and
`stub.hold_failed` is set). `stub.hold()` holds replies until `stub.release()` (e.g. until a redirect is in
the inbox).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = dict[str, Any] | str
_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_ERROR_TEXT = {
    401: "invalid x-api-key",
    429: "Number of requests has exceeded your rate limit",
    500: "Internal server error",
    529: "Overloaded",
}


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """Every piece of text in the request (system prompt, messages, tool results), joined by newlines."""
        out: list[str] = []

        def walk(x: Any) -> None:
            if isinstance(x, str):
                out.append(x)
            elif isinstance(x, list):
                for y in x:
                    walk(y)
            elif isinstance(x, dict):
                for k in ("text", "content", "input", "output", "arguments"):
                    if k in x:
                        walk(x[k] if k != "input" else json.dumps(x[k]))

        walk(self.body.get("system"))
        walk(self.body.get("messages"))
        walk(
            self.body.get("instructions")
        )  # the OpenAI Responses API's fields (tests/support/openai_stub.py)
        walk(self.body.get("input"))
        return "\n".join(out)

    @property
    def last_user_text(self) -> str:
        msgs = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        return Recorded("", {}, {"messages": msgs[-1:]}).text if msgs else ""


@dataclass
class MessagesStub:
    hold_timeout: float = 20.0
    key: str = "sk-ant-stub-0000000000000000000000000000SECRETKEY"
    requests: list[Recorded] = field(default_factory=list)
    hold_failed: bool = False

    def __post_init__(self) -> None:
        self._queue: list[Reply] = []
        self._fn: Callable[[dict[str, Any]], Reply] | None = None
        self._cond = threading.Condition()
        self._inflight = 0
        self._hold_n: int | None = None
        self._held = False
        self._n = 0
        self._server: ThreadingHTTPServer | None = None

    # -- script ---------------------------------------------------------------------------------------------
    def push(
        self,
        text: str | None = None,
        *,
        tool_use: dict[str, Any] | list[dict[str, Any]] | None = None,
        error: int | None = None,
        retry_after: float | None = None,
        stop_reason: str | None = None,
        usage: dict[str, int] | None = None,
    ) -> MessagesStub:
        reply = {
            k: v
            for k, v in dict(
                text=text,
                tool_use=tool_use,
                error=error,
                retry_after=retry_after,
                stop_reason=stop_reason,
                usage=usage,
            ).items()
            if v is not None
        }
        with self._cond:
            self._queue.append(reply)
        return self

    def respond_with(self, fn: Callable[[dict[str, Any]], Reply]) -> MessagesStub:
        self._fn = fn
        return self

    # -- barriers -------------------------------------------------------------------------------------------
    def hold_until(self, n: int) -> None:
        with self._cond:
            self._hold_n = n

    def hold(self) -> None:
        with self._cond:
            self._held = True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._hold_n = None
            self._cond.notify_all()

    def wait_requests(self, n: int, timeout: float = 60.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"stub: {len(self.requests)} requests after {timeout}s, wanted {n}")
                self._cond.wait(left)
            return list(self.requests)

    # -- server ---------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "stub not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": self.url, "ANTHROPIC_API_KEY": self.key}

    def start(self) -> MessagesStub:
        stub = self

        class Handler(self._handler()):  # type: ignore[misc]
            pass

        Handler.stub = stub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="messages-stub").start()
        return self

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class (the other APIs' stubs subclass this stub and give their own)."""
        return _Handler

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> MessagesStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------------------
    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._cond:
            if self._queue:
                return self._queue.pop(0)
        if self._fn is not None:
            return self._fn(body)
        return {"text": "(stub: script exhausted)"}

    def _gate(self) -> bool:
        """Block while held; False when a hold_until barrier timed out."""
        deadline = time.monotonic() + self.hold_timeout
        with self._cond:
            self._inflight += 1
            self._cond.notify_all()
            try:
                while self._held or (self._hold_n is not None and self._inflight < self._hold_n):
                    if not self._held and time.monotonic() > deadline:
                        self.hold_failed = True
                        return False
                    self._cond.wait(0.2)  # a manual hold() waits for release() however long it takes
                if self._hold_n is not None:
                    self._hold_n = None  # barrier reached: let everyone through
                    self._cond.notify_all()
                return True
            finally:
                self._inflight -= 1

    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> int:
        with self._cond:
            self.requests.append(Recorded(path, headers, body))
            self._n += 1
            self._cond.notify_all()
            return self._n


def _estimate_tokens(body: dict[str, Any]) -> int:
    return max(
        1, len(json.dumps(body.get("messages", ""))) // 4 + len(json.dumps(body.get("system", ""))) // 4
    )


def _message(reply: dict[str, Any], body: dict[str, Any], n: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.get("text") is not None:
        content.append({"type": "text", "text": reply["text"]})
    uses = reply.get("tool_use")
    if isinstance(uses, dict):
        uses = [uses]
    for i, u in enumerate(uses or []):
        content.append(
            {
                "type": "tool_use",
                "id": u.get("id") or f"toolu_stub_{n:03d}_{i}",
                "name": u["name"],
                "input": u.get("input", {}),
            }
        )
    if not content:
        content.append({"type": "text", "text": ""})
    usage = {"input_tokens": _estimate_tokens(body), "output_tokens": 10, **(reply.get("usage") or {})}
    return {
        "id": f"msg_stub_{n:04d}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "stub-model"),
        "content": content,
        "stop_reason": reply.get("stop_reason") or ("tool_use" if uses else "end_turn"),
        "stop_sequence": None,
        "usage": {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, **usage},
    }


def _sse(msg: dict[str, Any]) -> bytes:
    def ev(kind: str, data: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    usage = msg["usage"]
    start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    out = [ev("message_start", {"message": start}), ev("ping", {})]
    for i, block in enumerate(msg["content"]):
        if block["type"] == "text":
            out.append(ev("content_block_start", {"index": i, "content_block": {"type": "text", "text": ""}}))
            text = block["text"]
            for j in range(0, len(text), 40) or [0]:
                delta = {"type": "text_delta", "text": text[j : j + 40]}
                out.append(ev("content_block_delta", {"index": i, "delta": delta}))
        else:
            out.append(ev("content_block_start", {"index": i, "content_block": {**block, "input": {}}}))
            js = json.dumps(block["input"])
            for j in range(0, len(js), 20):
                delta = {"type": "input_json_delta", "partial_json": js[j : j + 20]}
                out.append(ev("content_block_delta", {"index": i, "delta": delta}))
        out.append(ev("content_block_stop", {"index": i}))
    out.append(
        ev(
            "message_delta",
            {
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    out.append(ev("message_stop", {}))
    return "".join(out).encode()


class _Handler(BaseHTTPRequestHandler):
    stub: MessagesStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", "req_stub")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str | None = None, extra: dict[str, str] | None = None) -> None:
        kind = _ERRORS.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message or _ERROR_TEXT.get(status, kind)}}
        self._send(status, json.dumps(body).encode(), "application/json", extra)

    def do_GET(self) -> None:  # noqa: N802
        self._error(404, f"no such endpoint: {self.path}")

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(200, b"", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(400, "body is not JSON")
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            return self._send(
                200, json.dumps({"input_tokens": _estimate_tokens(body)}).encode(), "application/json"
            )
        if path != "/v1/messages":
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
            extra = {}
            if reply.get("retry_after") is not None:
                extra["retry-after"] = str(reply["retry_after"])
            if status == 429:
                extra.setdefault("retry-after", "0")
            extra["x-should-retry"] = "true" if status in (429, 500, 529) else "false"
            return self._error(status, None, extra)
        msg = _message(reply, body, n)
        if body.get("stream"):
            self._send(200, _sse(msg), "text/event-stream", {"cache-control": "no-cache"})
        else:
            self._send(200, json.dumps(msg).encode(), "application/json")
