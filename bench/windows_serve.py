"""Windows authentication through `serve`: leased signed-in connections vs a handshake per call.

Runs the Report Server emulator (real NTLM handshakes, optional latency per request) and sends
the same batch of `list_folders` requests three ways:

- connectorkit serve --concurrency C, the pack's `windows` connection (leased connections:
  one handshake per connection, reused afterwards); timed from its first answer to its last,
  so the process's start-up is left out (it answers one call more than the others);
- a hand-written baseline that signs in on a fresh connection for every call (what a client
  without connection reuse does: requests-ntlm with a new session per call, for example);
- the same hand-written client reusing one signed-in connection per thread (the best case).

Prints requests/s and the emulator's count of handshakes for each.

    .venv/bin/python bench/windows_serve.py [--requests 200] [--concurrency 20] [--latency 20]
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import spnego

REPO = Path(__file__).resolve().parent.parent
PACK = REPO / "packs" / "reportserver"
USER, PASSWORD = "CONTOSO\\alice", "Passw0rd!"


def start_emulator(latency: float) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "reportserver_emulator", "--port", "0", "--quiet",
            "--user", f"{USER}:{PASSWORD}", "--latency", str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    if process.stdout is None:  # pragma: no cover - PIPE always gives one
        raise RuntimeError("no stdout")
    return process, json.loads(process.stdout.readline())


def stats(urls: dict[str, str]) -> dict[str, int]:
    return httpx.get(urls["stats_url"]).json()


def through_serve(urls: dict[str, str], count: int, concurrency: int) -> float:
    """Seconds from the first answer to the last (the process's start-up left out)."""
    connection = {
        "key": "windows",
        "values": {"base_url": urls["base_url"], "username": USER, "password": PASSWORD},
    }
    lines = "".join(
        json.dumps({"id": str(n), "action": "list_folders", "inputs": {}, "connection": connection})
        + "\n"
        for n in range(count + 1)
    )
    command = Path(sys.executable).parent / "connectorkit"
    with subprocess.Popen(
        [str(command), "serve", "--pack", str(PACK), "--concurrency", str(concurrency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as serve:
        if serve.stdin is None or serve.stdout is None:  # pragma: no cover - PIPE gives both
            raise RuntimeError("no pipes")
        serve.stdin.write(lines)
        serve.stdin.close()
        answers = [json.loads(serve.stdout.readline())]
        started = time.perf_counter()  # the first answer: the process is up and signed in
        answers += [json.loads(line) for line in serve.stdout]
        elapsed = time.perf_counter() - started
    if len(answers) != count + 1 or not all(a["ok"] for a in answers):
        raise RuntimeError(f"serve failed: {answers[:2]}")
    return elapsed


def _signed_in_get(client: httpx.Client, url: str) -> httpx.Response:
    context = spnego.client(USER, PASSWORD, hostname="127.0.0.1", protocol="ntlm")
    first = client.get(
        url, headers={"Authorization": "NTLM " + base64.b64encode(context.step() or b"").decode()}
    )
    challenge = base64.b64decode(first.headers["www-authenticate"].split(" ", 1)[1])
    answer = base64.b64encode(context.step(challenge) or b"").decode()
    return client.get(url, headers={"Authorization": f"NTLM {answer}"})


def handshake_per_call(urls: dict[str, str], count: int, concurrency: int) -> float:
    url = urls["base_url"] + "/Folders"
    ssl = httpx.create_ssl_context()

    def one(_: int) -> None:
        with httpx.Client(verify=ssl) as client:
            _signed_in_get(client, url).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as threads:
        list(threads.map(one, range(count)))
    return time.perf_counter() - started


def connection_per_thread(urls: dict[str, str], count: int, concurrency: int) -> float:
    url = urls["base_url"] + "/Folders"
    local = threading.local()
    clients: list[httpx.Client] = []
    ssl = httpx.create_ssl_context()

    def one(_: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(verify=ssl)
            clients.append(client)
            _signed_in_get(client, url).raise_for_status()
            return
        client.get(url).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as threads:
        list(threads.map(one, range(count)))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency", type=float, default=20.0, help="ms per request at the server")
    args = parser.parse_args()
    process, urls = start_emulator(args.latency)
    try:
        rows = []
        for name, run in [
            ("connectorkit serve (leased connections)", through_serve),
            ("handshake on a fresh connection per call", handshake_per_call),
            ("one signed-in connection per thread", connection_per_thread),
        ]:
            before = stats(urls)
            elapsed = run(urls, args.requests, args.concurrency)
            after = stats(urls)
            rows.append(
                (
                    name,
                    args.requests / elapsed,
                    after["logons"] - before["logons"],
                    after["requests"] - before["requests"],
                )
            )
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(
        f"{args.requests} list_folders calls, concurrency {args.concurrency}, "
        f"server latency {args.latency:g} ms per request"
    )
    print(f"{'':44} {'calls/s':>9} {'sign-ins':>9} {'HTTP requests':>14}")
    for name, rate, logons, requests in rows:
        print(f"{name:44} {rate:9.1f} {logons:9d} {requests:14d}")


if __name__ == "__main__":
    main()
