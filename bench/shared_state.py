"""Workers sharing one state store: token refreshes per expiry, push budgets, store operations.

Runs real `connectorkit` processes against the emulator (rotating refresh tokens):

* 20 concurrent `invoke`s on one SQLite file, two waves with the access token expiring between;
* 4 `serve` workers x 50 concurrent requests on one SQLite file, the same two waves;
* both again as two "machines" (each its own state folder) sharing only a Redis server;
* a worker killed while it holds the refresh lease: how long the others are blocked;
* 4 `serve` workers pushing small batches to one dataset at the emulator's real push limits,
  time-scaled: 429s received and POST-rows requests a minute as a fraction of the limit;
* store operations per request and per pushed batch, and what one Redis carries.

    .venv/bin/python bench/shared_state.py [--push-minutes 3] [--time-scale 2]

Needs `redis-server` on PATH (scripts/test installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from connectorkit.state import KEY_ENV, new_key, open_state
from fleet import (
    COMMAND,
    Emulator,
    Gate,
    Server,
    env,
    invoke_many,
    request,
    serve_waves,
)


def redis_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (scripts/test installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    return server, f"redis://127.0.0.1:{port}/0"


def grants(emulator: Emulator) -> tuple[int, int]:
    """(refresh requests, failed token requests) the emulator saw."""
    seen = emulator.token_requests()
    return (
        sum(1 for g, _ in seen if g == "refresh_token"),
        sum(1 for _, status in seen if status != 200),
    )


def row(case: str, expiries: int, emulator: Emulator, failed: int, seconds: float) -> None:
    refreshes, bad_tokens = grants(emulator)
    print(f"{case:<44} {expiries:>8} {refreshes:>9} {bad_tokens:>13} {failed:>15} {seconds:>8.1f}")


def refresh_cases(folder: Path, redis_url: str) -> None:
    print(f"{'case':<44} {'expiries':>8} {'refreshes':>9} {'failed tokens':>13} "
          f"{'failed requests':>15} {'seconds':>8}")  # fmt: skip
    print("baseline (issue 15, no shared store): 20 invokes -> 19 failed; 2 serve -> 100 failed")
    key = new_key()
    machines = [
        {"XDG_STATE_HOME": str(folder / "machine-a"), KEY_ENV: key},
        {"XDG_STATE_HOME": str(folder / "machine-b"), KEY_ENV: key},
    ]
    for label, state, extra in (
        ("SQLite", f"sqlite:///{folder / 'one-machine.sqlite3'}", None),
        ("Redis, two machines", redis_url, machines),
    ):
        emulator = Emulator()
        try:
            token = emulator.user_token(expired=True)
            text = request(emulator.connection(token))
            started = time.monotonic()
            results = invoke_many(20, text, state, extra)
            emulator.expire_access_tokens()
            results += invoke_many(20, text, state, extra)
            failed = sum(1 for code, r in results if code != 0 or not r["ok"])
            row(f"20 invoke x 2 waves, {label}", 2, emulator, failed, time.monotonic() - started)
        finally:
            emulator.close()
        emulator = Emulator()
        try:
            started = time.monotonic()
            responses = serve_waves(
                emulator,
                [state] * 4,
                emulator.user_token(expired=True),
                per_wave=50,
                waves=2,
                concurrency=50,
                extra_env=extra,
            )
            failed = sum(1 for r in responses if not r["ok"])
            row(f"4 serve x 50 concurrent x 2 waves, {label}", 2, emulator, failed,
                time.monotonic() - started)  # fmt: skip
        finally:
            emulator.close()


def killed_lease_holder(folder: Path, ttl: float) -> None:
    emulator = Emulator()
    state = f"sqlite:///{folder / 'lease.sqlite3'}"
    # The token endpoint behind a gate: the first worker's refresh hangs unprocessed there.
    gate = Gate(urlsplit(emulator.urls["url"]).port)
    try:
        connection = emulator.connection(emulator.user_token(expired=True))
        token_url = urlsplit(emulator.urls["token_url"])
        connection["values"]["token_url"] = token_url._replace(
            netloc=f"127.0.0.1:{gate.port}"
        ).geturl()
        text = request(connection)
        lease = {"CONNECTORKIT_LEASE_TTL": str(ttl)}
        holder = subprocess.Popen(
            [COMMAND, "invoke", "--quiet", "--state", state],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            text=True, env=env(**lease),
        )  # fmt: skip
        assert holder.stdin is not None  # noqa: S101 - Popen with PIPE
        holder.stdin.write(text)
        holder.stdin.close()
        while not gate._held:  # noqa: SLF001 - the bench looks into its own helper
            time.sleep(0.01)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        gate.open()
        results = invoke_many(5, text, state, [lease])
        waits = [r["meta"]["duration_ms"] / 1000 for _, r in results if r.get("meta")]
        failed = sum(1 for code, r in results if code != 0 or not r["ok"])
        refreshes, bad = grants(emulator)
        print(
            f"\nkilled lease holder (lease TTL {ttl:g} s): 5 workers started after the kill; "
            f"their calls took at most {max(waits):.2f} s; {refreshes} refresh, {bad} failed "
            f"token requests, {failed} failed calls"
        )
    finally:
        gate.close()
        emulator.close()


def push(folder: Path, minutes: float, scale: float) -> None:
    emulator = Emulator("--time-scale", str(scale))
    state = f"sqlite:///{folder / 'push.sqlite3'}"
    extra = {"CONNECTORKIT_LIMITS_TIME_SCALE": str(scale)}
    try:
        token = emulator.user_token()
        connection = emulator.connection(token)
        created = subprocess.run(
            [COMMAND, "invoke", "--quiet", "--state", state],
            input=request(connection, "create_dataset", dataset_name="bench", table_name="T",
                          columns=[{"name": "n", "dataType": "Int64"}]),
            capture_output=True, text=True, env=env(**extra), check=True,
        )  # fmt: skip
        dataset = json.loads(created.stdout)["result"]["id"]
        emulator.clear_log()
        line = request(
            connection, "create_rows", dataset_id=dataset, table_name="T",
            rows=[{"n": i} for i in range(10)], timeout=600_000,
        )  # fmt: skip
        servers = [Server(state, 4, **extra) for _ in range(4)]
        time.sleep(1.0)  # let the workers start before the clock runs
        stop = time.monotonic() + minutes * 60 / scale
        sent = [0] * len(servers)

        def feed(number: int, server: Server) -> None:
            while time.monotonic() < stop:
                if sent[number] - len(server.responses) < 8:  # keep 8 waiting per worker
                    server.send([line])
                    sent[number] += 1
                else:
                    time.sleep(0.005)

        feeders = [threading.Thread(target=feed, args=(i, s)) for i, s in enumerate(servers)]
        for feeder in feeders:
            feeder.start()
        for feeder in feeders:
            feeder.join()
        ended = time.monotonic()
        for server in servers:
            server.close()
        statuses = emulator.api_statuses()
        throttled = sum(1 for s in statuses if s == 429)
        accepted = sum(
            1
            for server in servers
            for response, at in zip(server.responses, server.arrived, strict=True)
            if response["ok"] and at <= stop
        )
        failed = sum(1 for srv in servers for r in srv.responses if not r["ok"])
        # Requests still queued when the clock stopped finish after it: count the window only.
        real = minutes * 60 / scale
        print(
            f"\npush: 4 serve workers, 10-row batches, {minutes:g} minutes at time scale "
            f"{scale:g} ({real:.0f} s real, {ended - stop + real:.0f} s with the tail)"
        )
        per_minute = accepted / minutes
        print(f"{'':<4}{'POST rows accepted':<28}{accepted:>8}")
        print(f"{'':<4}{'429 received':<28}{throttled:>8}")
        print(f"{'':<4}{'failed responses':<28}{failed:>8}")
        print(
            f"{'':<4}{'requests a minute':<28}{per_minute:>8.1f}   of 120 = {per_minute / 120:.1%}"
        )
    finally:
        emulator.close()


def store_operations(folder: Path, redis_url: str) -> None:
    """Count store operations of a serve-like runner: per request, per pushed batch."""
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415
    from connectorkit.protocol._protocol import respond  # noqa: PLC0415
    from connectorkit.state import State  # noqa: PLC0415

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner, self.calls = inner, 0
            self.url = inner.url

        def __getattr__(self, name: str) -> Any:
            target = getattr(self.inner, name)
            if not callable(target) or name == "close":
                return target

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls += 1
                return target(*args, **kwargs)

            return counted

    # Fast rate windows, but tokens that outlive the run: renewals are counted elsewhere.
    emulator = Emulator("--time-scale", "1000", "--token-lifetime", "36000000")
    try:
        opened = open_state(f"sqlite:///{folder / 'ops.sqlite3'}")
        counting = Counting(opened.store)
        runner = Runner(state=State(counting, opened.sealer))  # type: ignore[arg-type]
        pack = load_pack(None)
        os.environ["CONNECTORKIT_LIMITS_TIME_SCALE"] = "1000"
        connection = emulator.connection(emulator.user_token())
        stored = emulator.connection(emulator.user_token())
        from connectorkit.state import StoredConnections  # noqa: PLC0415

        StoredConnections(runner.state).save("bench", "oauth2", stored["values"], stored["token"])
        created, _ = respond(pack, runner, request(connection, "create_dataset",
                             dataset_name="ops", table_name="T",
                             columns=[{"name": "n", "dataType": "Int64"}]))  # fmt: skip
        dataset = created["result"]["id"]
        figures = []
        for label, text in (
            ("list_groups, token in the request", request(connection)),
            ("list_groups, stored connection", json.dumps(
                {"action": "list_groups", "connection": {"name": "bench"}})),
            ("create_rows, one 10-row batch", request(
                connection, "create_rows", dataset_id=dataset, table_name="T",
                rows=[{"n": 1}] * 10)),
        ):  # fmt: skip
            counting.calls = 0
            for _ in range(50):
                response, _ = respond(pack, runner, text)
                assert response["ok"], response  # noqa: S101 - a failed request spoils the count
            figures.append((label, counting.calls / 50))
        runner.close()
    finally:
        emulator.close()
    state = open_state(redis_url)
    from connectorkit.state import Window  # noqa: PLC0415

    count, started = 0, time.perf_counter()
    window = Window("ck:{res:bench}:w", limit=10**9, seconds=60)
    while time.perf_counter() - started < 2:
        state.store.take((window,))
        count += 1
    per_second = count / (time.perf_counter() - started)
    state.close()
    print("\nstore operations (a serve worker, token valid and cached)")
    for label, ops in figures:
        print(f"    {label:<40}{ops:>6.1f} per request")
    push_ops = figures[-1][1]
    print(
        f"    one Redis, one client on this machine: {per_second:,.0f} budget takes a second "
        f"(the heaviest operation) -> about {per_second / max(push_ops, 1):,.0f} pushed "
        f"batches a second; many clients carry more"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--push-minutes", type=float, default=3.0)
    parser.add_argument("--time-scale", type=float, default=2.0)
    parser.add_argument("--lease-ttl", type=float, default=3.0)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["refresh", "lease", "push", "ops"])  # fmt: skip
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="connectorkit-bench-state-"))
    os.environ[KEY_ENV] = new_key()
    server, redis_url = redis_server(folder)
    try:
        if "refresh" not in options.skip:
            refresh_cases(folder, redis_url)
        if "lease" not in options.skip:
            killed_lease_holder(folder, options.lease_ttl)
        if "push" not in options.skip:
            push(folder, options.push_minutes, options.time_scale)
        if "ops" not in options.skip:
            store_operations(folder, redis_url)
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
