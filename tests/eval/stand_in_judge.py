"""A stand-in for an OpenAI-compatible judge on 127.0.0.1: answers `/chat/completions` from a fixed
table (the first rule whose text occurs in the last message wins) and records every request."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandInJudge:
    def __init__(self, rules: list[tuple[str, str]], default: str = "", fail_first: int = 0) -> None:
        self.rules = rules  # (text to look for in the last message, answer)
        self.default = default
        self.fail_first = fail_first  # answer that many requests with HTTP 503 first
        self.requests: list[dict] = []
        self.headers: list[dict] = []

    def answer(self, body: dict) -> str:
        last = body["messages"][-1]["content"]
        return next((answer for text, answer in self.rules if text in last), self.default)


def handler_for(judge: StandInJudge):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            judge.requests.append(body)
            judge.headers.append(dict(self.headers))
            if self.path != "/v1/chat/completions":
                self.send_response(404)
                self.end_headers()
                return
            if judge.fail_first > 0:
                judge.fail_first -= 1
                self.send_response(503)
                self.end_headers()
                return
            reply = {"choices": [{"message": {"role": "assistant", "content": judge.answer(body)}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # keep test output quiet
            pass

    return Handler


@contextmanager
def serving(judge: StandInJudge):
    """Yields the base URL (`http://127.0.0.1:PORT/v1`) while the stand-in serves on a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(judge))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
