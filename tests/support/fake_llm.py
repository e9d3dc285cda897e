"""A scripted OpenAI-compatible chat server for tests: no model, no network beyond 127.0.0.1.

Rules map prompts to answers. A rule fires when its `key` occurs in the first user message (the
problem), every `when` string occurs in the last user message (the latest feedback), and the
conversation has at least `min_turns` user messages (round r of a repair dialog sends r + 1; this
depends only on the loop, never on how the service words its feedback). The first matching rule
wins; its answers are returned in turn (cycling), so n samples of one problem get a fixed
multiset of answers whatever the concurrency. Token usage is counted as whitespace-separated
words, so expected token totals can be recomputed from the request log.

Run by hand:  python tests/support/fake_llm.py --port 8011 --rules rules.json
"""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Rule:
    key: str
    answers: list[str]
    when: list[str] = field(default_factory=list)
    min_turns: int = 0
    name: str = ""
    _next: int = 0

    def matches(self, first_user: str, last_user: str, user_turns: int) -> bool:
        return (self.key in first_user and all(w in last_user for w in self.when)
                and user_turns >= self.min_turns)

    def take(self) -> str:
        answer = self.answers[self._next % len(self.answers)]
        self._next += 1
        return answer


def words(text: str) -> int:
    return len(text.split())


class FakeLLM:
    """Threaded HTTP server speaking POST /v1/chat/completions and GET /v1/models."""

    DEFAULT = "I am not able to help with that."

    def __init__(self, rules: list[Rule] | None = None, default: str | None = None) -> None:
        self.rules: list[Rule] = list(rules or [])
        self.default = self.DEFAULT if default is None else default
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def add(self, key: str, *answers: str, when: list[str] | None = None,
            min_turns: int = 0, name: str = "") -> Rule:
        rule = Rule(key, list(answers), when or [], min_turns, name)
        self.rules.append(rule)
        return rule

    def answer(self, messages: list[dict[str, Any]]) -> tuple[str, str]:
        users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
        first, last = (users[0], users[-1]) if users else ("", "")
        with self._lock:
            for rule in self.rules:
                if rule.matches(first, last, len(users)):
                    return rule.take(), rule.name or rule.key
        return self.default, "default"

    def calls_for(self, key: str) -> int:
        return sum(1 for e in self.log
                   if any(key in str(m.get("content")) for m in e["messages"]
                          if m.get("role") == "user"))

    def totals(self) -> dict[str, int]:
        return {"calls": len(self.log),
                "prompt_tokens": sum(e["prompt_tokens"] for e in self.log),
                "completion_tokens": sum(e["completion_tokens"] for e in self.log)}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [
                        {"id": "fake", "object": "model", "created": 0, "owned_by": "tests"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found"}})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(length) or b"{}")
                messages = req.get("messages") or []
                text, rule = fake.answer(messages)
                prompt_tokens = sum(words(str(m.get("content") or "")) for m in messages)
                completion_tokens = words(text)
                with fake._lock:
                    fake.log.append({"messages": messages, "answer": text, "rule": rule,
                                     "temperature": req.get("temperature"),
                                     "prompt_tokens": prompt_tokens,
                                     "completion_tokens": completion_tokens})
                    n = len(fake.log)
                self._json(200, {
                    "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 0,
                    "model": req.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": prompt_tokens,
                              "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                })

        return Handler

    def start(self) -> FakeLLM:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--rules", help="JSON list of {key, answers, when?, min_turns?}")
    args = ap.parse_args()
    rules = []
    if args.rules:
        with open(args.rules, encoding="utf-8") as fh:
            rules = [Rule(**r) for r in json.load(fh)]
    fake = FakeLLM(rules)
    fake._server.server_close()
    fake._server = ThreadingHTTPServer(("127.0.0.1", args.port), fake._handler())
    print(f"fake LLM on {fake.base_url}", flush=True)
    fake._server.serve_forever()


if __name__ == "__main__":
    main()
