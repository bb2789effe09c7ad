"""The judge: any OpenAI-compatible chat endpoint that some benchmarks are scored by (MM-Vet,
LLaVA-Bench, MathVista's answer extraction, HallusionBench, MMVP, Video-Bench, and MMBench's
optional fallback), with an on-disk cache so that a rerun does not ask again.

    judge = Judge(JudgeConfig("http://127.0.0.1:8000/v1", "gpt-4-0613", api_key_env="OPENAI_API_KEY"),
                  cache=Path("eval-results/judge-cache.jsonl"))
    judge.chat([{"role": "user", "content": "..."}], temperature=0.0, max_tokens=3)

Requests go to `{base_url}/chat/completions`. The key is read from the environment variable named
by `api_key_env`, so it never appears in arguments, logs or result files; `describe()` records the
URL without credentials, the model and the cache file.

Cache: one JSON line per answer, keyed by (judge model, sha256 of the request: messages,
temperature, max tokens and the retry number). A benchmark that retries with the same messages
(MM-Vet) therefore caches each attempt separately and a rerun replays the same sequence.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


class JudgeError(RuntimeError):
    """The judge endpoint did not give an answer; the message names the URL (never the key)."""


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str  # e.g. https://api.openai.com/v1 ("/chat/completions" is appended)
    model: str  # recorded in every result the judge scores
    api_key_env: str | None = None  # name of the environment variable holding the key, if any
    timeout: float = 60.0  # seconds per request
    retries: int = 3  # extra attempts on network errors and 408/429/5xx answers
    retry_delay: float = 2.0  # seconds, doubled after each failed attempt

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlparse(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"judge URL {self.base_url!r}: expected http(s)://host[:port]/path")
        if not self.model:
            raise ValueError("judge model: expected a model name (e.g. gpt-4-0613)")


def public_url(url: str) -> str:
    """The URL without user, password or query string: what a result file may show."""
    parsed = urllib.parse.urlparse(url)
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return urllib.parse.urlunparse((parsed.scheme, netloc, parsed.path, "", "", ""))


def request_key(model: str, payload: dict) -> tuple[str, str]:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return model, hashlib.sha256(canonical.encode()).hexdigest()


class JudgeCache:
    """Answers on disk as JSONL, appended as they come (a crash keeps them); a torn last line is ignored."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.answers: dict[tuple[str, str], str] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.answers[(entry["model"], entry["request_sha256"])] = entry["answer"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def get(self, key: tuple[str, str]) -> str | None:
        return self.answers.get(key)

    def put(self, key: tuple[str, str], answer: str) -> None:
        self.answers[key] = answer
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                line = {"model": key[0], "request_sha256": key[1], "answer": answer}
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")


class Judge:
    def __init__(self, config: JudgeConfig, cache: Path | None = None) -> None:
        self.config = config
        self.cache = JudgeCache(cache)
        self.requests_sent = 0  # answers fetched from the endpoint (not from the cache)

    def describe(self) -> dict:
        return {
            "url": public_url(self.config.base_url),
            "model": self.config.model,
            "cache": str(self.cache.path) if self.cache.path else None,
        }

    def chat(
        self,
        messages: list[dict],
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        attempt: int = 0,
    ) -> str:
        """The judge's answer text. `temperature=None` leaves the endpoint's default (as benchmarks
        whose scripts pass none); `attempt` tells apart the retries of one request."""
        payload: dict = {"model": self.config.model, "messages": messages}
        if temperature is not None:
            payload["temperature"] = temperature
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        key = request_key(self.config.model, payload | {"attempt": attempt})
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        answer = self._post(payload)
        self.cache.put(key, answer)
        return answer

    def _post(self, payload: dict) -> str:
        import urllib.error  # with its HTTP stack: only where a judge is called (keeps `--help` instant)
        import urllib.request

        url = self.config.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env, "") if self.config.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers)
        delay, last_error = self.config.retry_delay, ""
        for attempt in range(self.config.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                    reply = json.loads(response.read())
                self.requests_sent += 1
                return answer_text(reply, public_url(url))
            except urllib.error.HTTPError as error:
                last_error = f"HTTP {error.code}: {error.read()[:200]!r}"
                if error.code not in RETRYABLE_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                last_error = f"{type(error).__name__}: {error}"
            except json.JSONDecodeError:
                raise JudgeError(f"judge at {public_url(url)}: the answer is not JSON") from None
            if attempt < self.config.retries:
                time.sleep(delay)
                delay *= 2
        raise JudgeError(f"judge at {public_url(url)} gave no answer ({last_error})")


def answer_text(reply: dict, url: str) -> str:
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeError(
            f"judge at {url}: expected choices[0].message.content, got {str(reply)[:200]}"
        ) from None
    return content if isinstance(content, str) else ""
