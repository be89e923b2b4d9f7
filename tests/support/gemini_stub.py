"""A Gemini-API stub on 127.0.0.1 for tests: Gemini CLI talks to it through GOOGLE_GEMINI_BASE_URL.

The same script and barriers as the Messages stub (tests/support/messages_stub.py). Endpoints:
POST /v1beta/models/<model>:generateContent (JSON), :streamGenerateContent (`?alt=sse`: one
`data:` event a chunk), :countTokens; GET /v1beta/models. A reply dict's `text` becomes a text part
and each `tool_use` a `functionCall` part. `stub.env` is {"GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY"};
`Recorded.body["model"]` is the model named in the path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.messages_stub import MessagesStub, _Handler


def _parts(reply: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if reply.get("text") is not None:
        parts.append({"text": reply["text"]})
    uses = reply.get("tool_use")
    for u in [uses] if isinstance(uses, dict) else list(uses or []):
        parts.append({"functionCall": {"name": u["name"], "args": u.get("input", {})}})
    return parts or [{"text": ""}]


def _usage(reply: dict[str, Any], body: dict[str, Any]) -> dict[str, int]:
    u = reply.get("usage") or {}
    inp = int(u.get("input_tokens") or max(1, len(json.dumps(body.get("contents", ""))) // 4))
    out = int(u.get("output_tokens") or 10)
    return {"promptTokenCount": inp, "candidatesTokenCount": out, "totalTokenCount": inp + out}


class _GeminiHandler(_Handler):
    def _error(self, status: int, message: str | None = None, extra: dict[str, str] | None = None) -> None:
        body = {"error": {"code": status, "message": message or "stub error", "status": "UNAVAILABLE"}}
        self._send(status, json.dumps(body).encode(), "application/json", extra)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0].rstrip("/").endswith("/models"):
            models = {
                "models": [{"name": "models/stub-gemini", "supportedGenerationMethods": ["generateContent"]}]
            }
            return self._send(200, json.dumps(models).encode(), "application/json")
        self._error(404, f"no such endpoint: {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(400, "body is not JSON")
        path = self.path.split("?", 1)[0]
        model, _, method = path.rsplit("/", 1)[-1].partition(":")
        if method == "countTokens":
            n = max(1, len(json.dumps(body)) // 4)
            return self._send(200, json.dumps({"totalTokens": n}).encode(), "application/json")
        if method not in ("generateContent", "streamGenerateContent"):
            return self._error(404, f"no such endpoint: {self.path}")
        stub = self.stub
        stub._record(self.path, {k.lower(): v for k, v in self.headers.items()}, {**body, "model": model})
        reply = stub._next_reply(body)
        if isinstance(reply, str):
            reply = {"text": reply}
        if not stub._gate():
            return self._error(500, "stub: hold_until barrier never reached")
        if reply.get("error"):
            return self._error(int(reply["error"]))
        full = {
            "candidates": [
                {"content": {"role": "model", "parts": _parts(reply)}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": _usage(reply, body),
            "modelVersion": model,
        }
        if method == "generateContent":
            return self._send(200, json.dumps(full).encode(), "application/json")
        chunks = []
        parts = full["candidates"][0]["content"]["parts"]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            cand: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
            chunk: dict[str, Any] = {"candidates": [cand], "modelVersion": model}
            if last:
                cand["finishReason"] = "STOP"
                chunk["usageMetadata"] = full["usageMetadata"]
            chunks.append(f"data: {json.dumps(chunk)}\r\n\r\n")
        self._send(200, "".join(chunks).encode(), "text/event-stream")


@dataclass
class GeminiStub(MessagesStub):
    key: str = "AIzaSyStub0000000000000000000GEMINISECRET"

    @property
    def env(self) -> dict[str, str]:
        return {"GOOGLE_GEMINI_BASE_URL": self.url, "GEMINI_API_KEY": self.key}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _GeminiHandler
