"""Selection on facts: a prose WHEN criterion that names a size is judged against the measured profile
(offline), the model judge is given the profile with the criteria, and `scope skills --explain` says
which way each criterion was judged. Through the real CLI; the model side is the real SDK on the stub."""

from __future__ import annotations

SEED_RLM = """+++
name = "rlm"
version = 9
description = "the seed's RLM criterion"
when = ["Single large context (>100K tokens)"]
+++
Explore the context as a variable.
"""


def _seed_skill(scope) -> None:
    d = scope.scope_dir / "skills" / "rlm"
    d.mkdir(parents=True)
    (d / "v9.md").write_text(SEED_RLM)


def _rlm_block(out: str) -> str:
    start = out.index("rlm v9")
    return out[start : out.index("\n", out.index("Single large", start))]


def test_the_seeds_large_context_criterion_passes_for_5m_tokens_and_fails_for_10_tokens_saying_log(
    scope, tmp_path
):
    _seed_skill(scope)
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:  # 20 MB, sparse: about 5 M tokens by bytes
        fh.truncate(20_000_000)
    small = tmp_path / "small.log"
    small.write_text("ERROR log line here\n")
    out = scope.ok("skills", "--explain", "read it", "--context", str(big))
    block = _rlm_block(out)
    assert '✓ "Single large context (>100K tokens)"' in block, block
    assert "by the measured profile: context_tokens=5,000,000 > 100,000" in block
    out = scope.ok("skills", "--explain", "scan the log", "--context", str(small))
    block = _rlm_block(out)
    assert '✗ "Single large context (>100K tokens)"' in block, block
    assert "context_tokens=5 <= 100,000" in block


def test_a_prose_criterion_without_a_size_is_judged_by_keywords_and_says_so(scope, tmp_path):
    out = scope.ok("skills", "--explain", "keep going until the tests pass")
    assert "by keywords: 'until'" in out, out


def test_the_model_judge_is_given_the_measured_profile(scope, stub, tmp_path):
    _seed_skill(scope)
    small = tmp_path / "few.txt"
    small.write_text("x" * 400)
    stub.respond_with(lambda body: {"text": '{"0": [false, "only 100 tokens"]}'})
    scope.env.update(stub.env)
    scope.ok("skills", "--explain", "read it", "--context", str(small), "--model", "claude-test-1")
    assert stub.requests, "the model judged the prose"
    assert "context_tokens=100" in stub.requests[0].text and "files=1" in stub.requests[0].text
