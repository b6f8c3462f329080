"""The long randomized run of the protocol: tens of thousands of hostile requests through `serve`.

Requests are drawn from a seeded generator: any JSON document, well-formed requests for every
action with random inputs, and the classes of input that once broke the protocol (lone
surrogates, numbers past a float's range, NaN literals, deep nesting, bytes that are not UTF-8,
CR/LF in headers, NUL in URLs, ids of every type). They go to a local HTTP service that answers
each request with a random one of: a normal body, NaN/Infinity, a lone surrogate escape, a body
nested past the JSON parser's depth, a 5xx, or a 429 with a Retry-After of inf or 1e20.

All requests go through one `connectorkit serve` process; a sample also through one
`connectorkit invoke` process each. Printed: cases, crashes (a process that died or answered a
different number of lines), non-JSON outputs (not strict RFC 8259 or not UTF-8), schema
violations (schemas/response.schema.json), internal errors, and the spread of error types.

    .venv/bin/python bench/fuzz_protocol.py                   # 30,000 through serve, 300 invoke
    .venv/bin/python bench/fuzz_protocol.py -n 2000 --invoke 50 --seed 7
"""

# ruff: noqa: S311 - a seeded generator is the point: the same run again for the same seed

from __future__ import annotations

import argparse
import collections
import json
import random
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "connectorkit"]
SURROGATE = "\x00SURROGATE\x00"  # replaced by a lone surrogate escape in the request text
HUGE = 987654321.125  # replaced by 1e400 in the request text

ANSWERS = [
    (200, {}, b'{"value": [{"id": "1"}, {"id": "2"}]}'),
    (200, {}, b'{"value": [NaN, Infinity, -Infinity]}'),
    (200, {}, b'{"value": ["\\ud800", "\\udfff"]}'),
    (200, {}, b'{"value": [1e400]}'),
    (200, {}, b"[" * 50_000 + b"]" * 50_000),
    (200, {}, b"\xff\xfe not text"),
    (500, {}, b'{"error": ' * 20_000),
    (503, {"Retry-After": "inf"}, b"{}"),
    (429, {"Retry-After": "1e20"}, b"{}"),
    (429, {"Retry-After": "inf"}, b'{"error": {"code": "TooMany"}}'),
]


def _service() -> tuple[ThreadingHTTPServer, str]:
    rng = random.Random(1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if self.path.endswith("/token"):
                status, headers, body = 200, {}, b'{"access_token": "fz-at", "expires_in": 3600}'
            else:
                with lock:
                    status, headers, body = rng.choice(ANSWERS)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        # http.server dispatches on these names.
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = answer  # noqa: N815

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that hung up (a call past its budget, a closed pool): not news

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class Generator:
    """Seeded hostile requests, each one line of bytes."""

    def __init__(self, seed: int, base: str, actions: dict[str, list[str]]) -> None:
        self.rng = random.Random(seed)
        self.base = base
        self.actions = actions
        self.keys = sorted({k for keys in actions.values() for k in keys})

    def text(self) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.1:
            return SURROGATE
        if pick < 0.15:
            return rng.choice(["a\r\nb", "nul\x00", "caf\u00e9", "\U0001f600", "", " ", "../.."])
        alphabet = "abcXYZ019-_ ./:%{}[]\"'\\\u00e9\u4e2d"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randint(0, 9 if depth < 3 else 6)
        scalars = [
            None,
            rng.random() < 0.5,
            rng.randint(-(2**40), 2**40),
            rng.uniform(-1e6, 1e6),
            HUGE,
            self.text(),
            rng.choice([0, 1, -1, 1000, 10_001]),
        ]
        if kind <= 6:
            return scalars[kind]
        if kind == 7:
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {self.text(): self.value(depth + 1) for _ in range(rng.randint(0, 4))}

    def typed(self) -> Any:
        """Mostly values an input could take (so most requests reach the service), some not."""
        rng = self.rng
        return rng.choice(
            [
                rng.randint(0, 20),
                "cfafbeb1-8037-4d0c-896e-a46fb27ff229",
                "Sales",
                [{"Product": self.text(), "Qty": rng.randint(0, 9)}],
                [{"name": "Product", "dataType": "String"}],
                rng.choice(["GET", "POST", "DELETE", "json", "text", "binary"]),
                {self.text(): self.text()},
                self.value(),
                self.value(),
            ]
        )

    def reaching(self) -> dict[str, Any]:
        """A request valid enough to reach the service (whose answer is then hostile)."""
        rng = self.rng
        dataset = {"dataset_id": "cfafbeb1-8037-4d0c-896e-a46fb27ff229", "table_name": "Sales"}
        action, inputs = rng.choice(
            [
                ("list_groups", {"top": rng.randint(1, 5)}),
                ("list_datasets", {}),
                ("delete_rows", dataset),
                ("create_rows", {**dataset, "rows": [{"a": self.text()}]}),
                (
                    "raw_request",
                    {
                        "url": rng.choice(["/imports", "/groups", self.text()]),
                        "method": rng.choice(["GET", "POST", "PUT"]),
                        "data": self.value(),
                        "query_params": {self.text(): self.text()},
                        "response_type": rng.choice(["json", "text", "binary"]),
                    },
                ),
            ]
        )
        inputs["max_retry_count"] = rng.choice([0, 0, 1])
        return {
            "id": rng.randint(0, 10**6),
            "action": action,
            "inputs": inputs,
            "connection": self.connection(),
        }

    def connection(self) -> Any:
        rng = self.rng
        user = {
            "key": "oauth2",
            "values": {
                "client_id": "fz",
                "client_secret": "fz-secret-value",
                "token_url": f"{self.base}/t/token",
                "base_url": f"{self.base}/v1.0/myorg",
            },
            "token": {
                "access_token": "fz-user-at",
                "refresh_token": "fz-rt",
                "expires_at": int(time.time()) + rng.choice([-100, 3600]),
            },
        }
        principal = {
            "key": "client_credentials",
            "values": {
                "client_id": "fz",
                "client_secret": "fz-secret-value",
                "token_url": f"{self.base}/t/token",
                "base_url": f"{self.base}/v1.0/myorg",
            },
        }
        return rng.choice([user, principal] * 8 + [self.value(), None])

    def request(self) -> bytes:
        rng = self.rng
        shape = rng.random()
        if shape < 0.1:
            doc: Any = self.value()
        elif shape < 0.45:
            doc = self.reaching()
        else:
            action = rng.choice([*self.actions, "nope", SURROGATE])
            keys = self.actions.get(action, self.keys)
            inputs = {rng.choice(keys): self.typed() for _ in range(rng.randint(0, 5))}
            if action == "raw_request" and rng.random() < 0.5:
                inputs["headers"] = {self.text(): self.text()}
                inputs["url"] = rng.choice(["/imports", "/a\x00b", "/x\r\ny", SURROGATE])
            doc = {"action": action, "inputs": inputs if rng.random() < 0.95 else self.value()}
            if rng.random() < 0.9:
                doc["connection"] = self.connection()
            if rng.random() < 0.8:
                odd = rng.choice([HUGE, [1], {}, True, None, SURROGATE])
                doc["id"] = rng.choice([self.text(), rng.randint(0, 9)] * 6 + [odd])
            if rng.random() < 0.03:
                doc[self.text()] = 1
        text = json.dumps(doc)
        text = text.replace(json.dumps(SURROGATE)[1:-1], "\\ud800").replace(str(HUGE), "1e400")
        extra = rng.random()
        if extra < 0.02:
            text = text.replace("1", "NaN", 1)
        elif extra < 0.03:
            text = "[" * 60_000
        data = text.encode()
        if rng.random() < 0.01:
            data += b"\xff"
        return data.replace(b"\n", b" ")


def _schema() -> Draft202012Validator:
    folder = ROOT / "schemas"
    registry = Registry().with_resources(
        (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in folder.glob("*.json")
    )
    schema = json.loads((folder / "response.schema.json").read_text())
    return Draft202012Validator(schema, registry=registry)


class Tally:
    """What the answers were."""

    def __init__(self) -> None:
        self.cases = 0
        self.crashes = 0
        self.non_json = 0
        self.schema_violations = 0
        self.internal_errors = 0
        self.types: collections.Counter[str] = collections.Counter()
        self.examples: list[str] = []
        self.validator = _schema()

    def answer(self, line: bytes, request: bytes) -> None:
        self.cases += 1

        def refuse(name: str) -> Any:
            raise ValueError(name)

        try:
            response = json.loads(line.decode("utf-8"), parse_constant=refuse)
        except ValueError:
            self.non_json += 1
            self._keep("non-JSON", request, line)
            return
        if not isinstance(response, dict) or any(self.validator.iter_errors(response)):
            self.schema_violations += 1
            self._keep("schema", request, line)
            return
        kind = "ok" if response.get("ok") else response["error"]["type"]
        self.types[kind] += 1
        if kind == "internal_error":
            self.internal_errors += 1
            self._keep("internal_error", request, line)

    def _keep(self, what: str, request: bytes, line: bytes) -> None:
        if len(self.examples) < 5:
            self.examples.append(f"{what}: {request[:200]!r} -> {line[:200]!r}")


def run_serve(requests: list[bytes], tally: Tally, concurrency: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*COMMAND, "serve", "--quiet", "--concurrency", str(concurrency)],
        input=b"".join(r + b"\n" for r in requests),
        capture_output=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != len(requests):
        tally.crashes += 1
        tally.examples.append(f"serve exited {done.returncode} with {len(lines)} answers")
    for request, line in zip(requests, lines, strict=False):
        tally.answer(line, request)
    return time.perf_counter() - started


def run_invoke(requests: list[bytes], tally: Tally) -> None:
    for request in requests:
        done = subprocess.run(
            [*COMMAND, "invoke", "--quiet"], input=request, capture_output=True, check=False
        )
        lines = done.stdout.splitlines()
        if len(lines) != 1 or done.returncode not in {0, 1, 2} or b"Traceback" in done.stderr:
            tally.crashes += 1
            tally.examples.append(f"invoke exited {done.returncode}: {request[:120]!r}")
        for line in lines[:1]:
            tally.answer(line, request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30_000, help="requests through serve")
    parser.add_argument("--invoke", type=int, default=300, help="of them, also through invoke")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "runtime"))
    from connectorkit.pack._load import load_pack  # noqa: PLC0415 - the pack under test

    pack = load_pack(ROOT)
    actions = {key: [i.key for i in action.inputs] for key, action in pack.actions.items()}
    server, base = _service()
    try:
        generator = Generator(args.seed, base, actions)
        requests = [generator.request() for _ in range(args.n)]
        served = Tally()
        seconds = run_serve(requests, served, args.concurrency)
        invoked = Tally()
        run_invoke(random.Random(args.seed).sample(requests, min(args.invoke, args.n)), invoked)
    finally:
        server.shutdown()
    print(f"seed {args.seed}; serve --concurrency {args.concurrency} took {seconds:.1f} s")
    print(f"{'':<10} {'cases':>8} {'crashes':>8} {'non-JSON':>9} {'schema':>7} {'internal':>9}")
    for name, tally in (("serve", served), ("invoke", invoked)):
        print(
            f"{name:<10} {tally.cases:>8} {tally.crashes:>8} {tally.non_json:>9} "
            f"{tally.schema_violations:>7} {tally.internal_errors:>9}"
        )
    print("answers by type (serve):", dict(served.types.most_common()))
    for example in served.examples + invoked.examples:
        print("  ", example)


if __name__ == "__main__":
    main()
