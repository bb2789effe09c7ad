import json

import pytest

from sphinx_x.eval.judge import Judge, JudgeConfig, JudgeError, public_url

from .stand_in_judge import StandInJudge, serving


def test_answers_come_from_the_endpoint_then_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STAND_IN_KEY", "sk-secret")
    stand_in = StandInJudge([("capital of France", "Paris")], default="?")
    cache = tmp_path / "judge-cache.jsonl"
    with serving(stand_in) as url:
        config = JudgeConfig(url, "judge-model", api_key_env="STAND_IN_KEY", retry_delay=0)
        first = Judge(config, cache)
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        assert first.chat(messages, temperature=0.0, max_tokens=5) == "Paris"
        assert first.chat(messages, temperature=0.0, max_tokens=5) == "Paris"
        assert first.requests_sent == 1 and len(stand_in.requests) == 1
        # A new client over the same cache file does not ask again (a rerun).
        rerun = Judge(config, cache)
        assert rerun.chat(messages, temperature=0.0, max_tokens=5) == "Paris" and len(stand_in.requests) == 1
        # Another temperature, retry number or model is another request.
        rerun.chat(messages, temperature=0.5, max_tokens=5)
        rerun.chat(messages, temperature=0.0, max_tokens=5, attempt=1)
        Judge(JudgeConfig(url, "other-model", retry_delay=0), cache).chat(messages, 0.0, 5)
        assert len(stand_in.requests) == 4
    request = stand_in.requests[0]
    assert request == {"model": "judge-model", "messages": messages, "temperature": 0.0, "max_tokens": 5}
    assert stand_in.headers[0]["Authorization"] == "Bearer sk-secret"
    assert "Authorization" not in stand_in.headers[3]  # no key variable configured: no header
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [line["model"] for line in lines] == ["judge-model"] * 3 + ["other-model"]
    assert lines[0]["answer"] == "Paris" and len(lines[0]["request_sha256"]) == 64
    assert "sk-secret" not in cache.read_text()


def test_temperature_none_is_left_to_the_endpoint_and_transient_errors_are_retried(tmp_path):
    stand_in = StandInJudge([], default="ok", fail_first=2)
    with serving(stand_in) as url:
        judge = Judge(JudgeConfig(url, "m", retries=2, retry_delay=0))
        assert judge.chat([{"role": "user", "content": "hi"}], temperature=None) == "ok"
    assert len(stand_in.requests) == 3 and "temperature" not in stand_in.requests[-1]


def test_errors_name_the_url_without_credentials(tmp_path):
    stand_in = StandInJudge([], default="never", fail_first=5)
    with serving(stand_in) as url:
        judge = Judge(JudgeConfig(url, "m", retries=1, retry_delay=0))
        with pytest.raises(
            JudgeError, match=r"judge at http://127\.0\.0\.1:\d+/v1/chat/completions .*HTTP 503"
        ):
            judge.chat([{"role": "user", "content": "hi"}])
        wrong_path = Judge(JudgeConfig(url.removesuffix("/v1") + "/nope", "m", retries=3, retry_delay=0))
        with pytest.raises(JudgeError, match="HTTP 404"):
            wrong_path.chat([{"role": "user", "content": "hi"}])
    assert len(stand_in.requests) == 2 + 1  # 404 is not retried


def test_public_url_drops_user_password_and_query():
    assert public_url("https://user:pw@api.example.com:8443/v1?key=abc") == "https://api.example.com:8443/v1"
    with pytest.raises(ValueError, match="expected http"):
        JudgeConfig("api.example.com", "m")
    with pytest.raises(ValueError, match="expected a model name"):
        JudgeConfig("http://localhost/v1", "")
