"""`GET /metrics`: the engine's gauges and counters, and the API's responses, as Prometheus text."""

from __future__ import annotations

from collections import Counter

GAUGES = {
    "waiting": ("sphinx_x_requests_waiting", "Requests queued for a running slot."),
    "running": ("sphinx_x_requests_running", "Requests decoding now."),
    "max_running": ("sphinx_x_requests_running_max", "Running slots."),
    "cached_tokens": ("sphinx_x_cached_tokens", "Tokens held in the packed KV cache."),
    "tokens_per_second": ("sphinx_x_generation_tokens_per_second", "Tokens generated per second, last 10 s."),
}
COUNTERS = {
    "prompt_tokens": ("sphinx_x_prompt_tokens_total", "Prompt tokens prefilled, visual tokens included."),
    "generated_tokens": ("sphinx_x_generation_tokens_total", "Tokens generated."),
    "steps": ("sphinx_x_engine_steps_total", "Engine steps (forward passes)."),
}


class CountResponses:
    """ASGI wrapper counting responses by status code."""

    def __init__(self, app, counts: Counter):
        self.app = app
        self.counts = counts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def counting_send(message):
            if message["type"] == "http.response.start":
                self.counts[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counting_send)


def prometheus_text(snapshot: dict, responses: Counter) -> str:
    lines = []
    for key, (name, help_text) in GAUGES.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {snapshot[key]:g}"]
    for key, (name, help_text) in COUNTERS.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {snapshot[key]}"]
    name = "sphinx_x_requests_finished_total"
    lines += [f"# HELP {name} Requests the engine finished, by finish reason.", f"# TYPE {name} counter"]
    lines += [
        f'{name}{{reason="{reason}"}} {count}' for reason, count in sorted(snapshot["finished"].items())
    ]
    name = "sphinx_x_http_responses_total"
    lines += [f"# HELP {name} HTTP responses, by status code.", f"# TYPE {name} counter"]
    lines += [f'{name}{{status="{status}"}} {count}' for status, count in sorted(responses.items())]
    return "\n".join(lines) + "\n"
