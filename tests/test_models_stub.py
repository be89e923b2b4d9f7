"""The Messages-API stub answers the real Anthropic SDK: JSON, SSE streams, errors, barriers."""

from __future__ import annotations

import json
import threading
import urllib.request

import anthropic
import pytest


def client(stub, **kw):
    return anthropic.Anthropic(base_url=stub.url, api_key=stub.key, **kw)


def test_text_and_tool_use_plain_json(stub):
    stub.push(text="hello there")
    stub.push(text="let me look", tool_use={"name": "bash", "input": {"cmd": "ls -la"}})
    c = client(stub)
    r1 = c.messages.create(model="any-model", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert r1.content[0].text == "hello there" and r1.stop_reason == "end_turn"
    r2 = c.messages.create(model="m", max_tokens=100, messages=[{"role": "user", "content": "again"}])
    assert [b.type for b in r2.content] == ["text", "tool_use"]
    assert r2.content[1].input == {"cmd": "ls -la"} and r2.stop_reason == "tool_use"
    assert [r.body["messages"][0]["content"] for r in stub.requests] == ["hi", "again"]


def test_stream_builds_the_same_message(stub):
    stub.push(
        text="streamed " * 20, tool_use={"name": "write_file", "input": {"path": "a.txt", "text": "x" * 50}}
    )
    c = client(stub)
    with c.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "go"}]) as s:
        msg = s.get_final_message()
    assert msg.content[0].text == "streamed " * 20
    assert msg.content[1].input == {"path": "a.txt", "text": "x" * 50}
    assert msg.usage.output_tokens == 10 and msg.stop_reason == "tool_use"
    assert stub.requests[0].body["stream"] is True


def test_errors_have_anthropic_shape(stub):
    stub.push(error=429, retry_after=0).push(text="ok after retry")
    r = client(stub).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert r.content[0].text == "ok after retry" and len(stub.requests) == 2
    stub.push(error=401)
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(stub).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert "invalid x-api-key" in str(e.value)
    stub.push(error=529).push(error=529)
    with pytest.raises(anthropic.APIStatusError) as e2:
        client(stub, max_retries=1).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert e2.value.status_code == 529


def test_callable_count_tokens_and_beta_query(stub):
    stub.respond_with(lambda body: "echo: " + body["messages"][-1]["content"])
    c = client(stub)
    r = c.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "ping"}])
    assert r.content[0].text == "echo: ping"
    req = urllib.request.Request(
        stub.url + "/v1/messages?beta=true",
        data=json.dumps(
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "beta"}]}
        ).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = json.loads(resp.read())
    assert raw["content"][0]["text"] == "echo: beta"
    assert stub.requests[1].path == "/v1/messages?beta=true"
    n = c.messages.count_tokens(model="m", messages=[{"role": "user", "content": "ping" * 100}])
    assert n.input_tokens > 50


def test_hold_until_proves_parallelism(stub):
    stub.respond_with(lambda body: body["messages"][0]["content"])
    stub.hold_until(3)
    out: list[str] = []

    def call(i: int) -> None:
        r = client(stub).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": f"q{i}"}]
        )
        out.append(r.content[0].text)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(out) == ["q0", "q1", "q2"] and not stub.hold_failed


def test_hold_until_fails_when_calls_are_sequential(stub):
    stub.hold_timeout = 0.5
    stub.hold_until(2)
    with pytest.raises(anthropic.InternalServerError):
        client(stub, max_retries=0).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "alone"}]
        )
    assert stub.hold_failed


def test_manual_hold_and_release(stub):
    stub.push(text="released")
    stub.hold()
    out: list[str] = []
    t = threading.Thread(
        target=lambda: out.append(
            client(stub)
            .messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
            .content[0]
            .text
        )
    )
    t.start()
    stub.wait_requests(1)
    assert out == []
    stub.release()
    t.join(10)
    assert out == ["released"]
