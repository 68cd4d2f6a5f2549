"""The OpenAI-compatible client against a server on 127.0.0.1 that misbehaves on purpose:
rate limits with Retry-After, server errors, hangs past the timeout, malformed JSON, answers
cut off at max_tokens, refused keys. Every request ends as a retry that succeeds or a row with
its cause; the server never sees more requests at once than the limit; the key shows
nowhere."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import ragplay

KEY = "sk-test-SECRET-4f9a1c"


class Server:
    """A chat-completions endpoint whose behaviour is chosen by the user message."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, status: int, body: str, headers: dict[str, str] | None = None):
                data = body.encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    self.answer(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def answer(self, body: dict) -> None:
                text = body["messages"][-1]["content"]
                with server.lock:
                    n = server.attempts[text] = server.attempts.get(text, 0) + 1
                auth = self.headers.get("Authorization", "")
                if auth != f"Bearer {KEY}":
                    # A server that quotes the credential back: the client must redact it.
                    return self.reply(401, json.dumps({"error": f"invalid key in {auth!r}"}))
                kind = text.split(":")[0]
                ok = {
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": f"echo {text}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3},
                    "system_fingerprint": "fp_test",
                }
                if kind == "slow":
                    time.sleep(0.05)
                elif kind == "429" and n == 1:
                    return self.reply(429, '{"error": "slow down"}', {"Retry-After": "0.4"})
                elif kind == "500" and n == 1:
                    return self.reply(500, '{"error": "oops"}')
                elif kind == "503":
                    return self.reply(503, '{"error": "unavailable"}')
                elif kind == "hang" and n == 1:
                    time.sleep(2.5)
                elif kind == "hangalways":
                    time.sleep(2.5)
                elif kind == "malformed":
                    return self.reply(200, '{"choices": [ {"message": ')
                elif kind == "length":
                    ok["choices"][0]["finish_reason"] = "length"
                elif kind == "bad":
                    return self.reply(400, '{"error": "unknown parameter"}')
                self.reply(200, json.dumps(ok))

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a client that gave up on a hanging answer closed its end

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("RAGPLAY_TEST_KEY", KEY)
    s = Server()
    yield s
    s.httpd.shutdown()


def client(server: Server, **knobs) -> ragplay.LLM:
    base = dict(api_key_env="RAGPLAY_TEST_KEY", timeout_s=1.0, max_retries=2, backoff_s=0.01)
    return ragplay.LLM.openai(server.url, "test-model", **{**base, **knobs})


def test_every_request_ends_as_a_success_or_a_row_with_its_cause(server, capfd):
    llm = client(server)
    prompts = [
        "ok:1",
        "429:a",
        "500:b",
        "503:c",
        "hang:d",
        "hangalways:e",
        "malformed:f",
        "length:g",
        "bad:h",
    ]
    out = llm.complete(prompts, max_tokens=5, show_progress=False)
    assert out.height == len(prompts)
    rows = dict(zip(prompts, out.iter_rows(named=True)))
    for p in ["ok:1", "429:a", "500:b", "hang:d", "length:g"]:
        assert rows[p]["failure"] is None and rows[p]["answer"] == f"echo {p}", rows[p]
        assert rows[p]["prompt_tokens"] == 7 and rows[p]["completion_tokens"] == 3
    assert server.attempts["ok:1"] == 1
    assert server.attempts["429:a"] == 2 and rows["429:a"]["latency_ms"] >= 400  # Retry-After
    assert server.attempts["500:b"] == 2 and server.attempts["hang:d"] == 2
    assert rows["length:g"]["finish_reason"] == "length"
    assert rows["503:c"]["failure"] == "server" and server.attempts["503:c"] == 3
    assert rows["hangalways:e"]["failure"] == "timeout"
    assert rows["malformed:f"]["failure"] == "unparseable"
    assert rows["bad:h"]["failure"] == "request" and server.attempts["bad:h"] == 1
    assert "after 3 attempts" in rows["503:c"]["error"]
    assert KEY not in capfd.readouterr().err


def test_json_output_cut_off_at_max_tokens_is_a_failure(server):
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    llm = client(server, response_format=schema)
    out = llm.complete(["length:x", "ok:y"], max_tokens=5, show_progress=False)
    assert out["failure"].to_list() == ["truncated", None]


def test_the_server_never_sees_more_than_the_concurrency_limit(server):
    llm = client(server, concurrency=3)
    out = llm.complete([f"slow:{i}" for i in range(24)], max_tokens=5, show_progress=False)
    assert out["failure"].null_count() == 24
    assert server.most_in_flight == 3


def test_the_key_is_never_shown(server, monkeypatch, capfd):
    llm = client(server)
    assert KEY not in repr(llm) and KEY not in str(llm.fingerprint)
    monkeypatch.setenv("RAGPLAY_TEST_KEY", KEY + "-wrong")
    refused = client(server)
    out = refused.complete(["ok:z"], max_tokens=5, show_progress=False)
    assert out["failure"][0] == "auth"
    assert "invalid key" in out["error"][0]
    assert KEY not in out["error"][0] and "***" in out["error"][0]
    assert KEY not in repr(refused)
    monkeypatch.delenv("RAGPLAY_TEST_KEY")
    with pytest.raises(ragplay.ConfigError, match="RAGPLAY_TEST_KEY is not set") as e:
        client(server)
    assert KEY not in str(e.value)
    assert KEY not in capfd.readouterr().err


def test_an_unreachable_server_is_a_row_per_request():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = ragplay.LLM.openai(
        f"http://127.0.0.1:{port}/v1", "m", api_key_env=None, max_retries=1, backoff_s=0.01
    )
    out = llm.complete(["a", "b"], max_tokens=5, show_progress=False)
    assert out["failure"].to_list() == ["connection", "connection"]
    with pytest.raises(ragplay.ConfigError, match="base_url"):
        ragplay.LLM.openai("localhost:8080", "m", api_key_env=None)


def test_generate_through_an_endpoint_and_its_cache(server, tmp_path):
    sample = ragplay.sample_collection()
    run = ragplay.overlap_run(sample.corpus, sample.queries, k=5)
    llm = client(server)
    cache = ragplay.ResponseCache(tmp_path / "c")
    prompt = ragplay.Prompt(system=None, user="ok:{question}")
    first = ragplay.generate(
        run, sample.queries, sample.corpus, llm, prompt=prompt, cache=cache, show_progress=False
    )
    assert first["failure"].null_count() == first.height
    calls = sum(server.attempts.values())
    second = ragplay.generate(
        run, sample.queries, sample.corpus, llm, prompt=prompt, cache=cache, show_progress=False
    )
    assert sum(server.attempts.values()) == calls and second["cached"].all()
    with pytest.raises(ragplay.ConfigError, match="passage_tokens"):
        ragplay.generate(run, sample.queries, sample.corpus, llm, passage_tokens=10)
