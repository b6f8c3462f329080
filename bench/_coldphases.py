"""Child of cold_start.py: one ``invoke`` done step by step in a fresh interpreter, each timed.

Reads a contract request on stdin and prints ``{"phases": [[name, ms], ...], "ok": bool}`` on
stdout. The steps are those ``connectorkit invoke`` takes (see ``connectorkit.cli``), split so
that the import of each dependency shows apart from the work that needed it. It uses private
runtime functions on purpose; if the runtime has moved on, it prints ``{"error": ...}``.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import json  # noqa: E402 - timed from the first line
import sys  # noqa: E402
from typing import Any  # noqa: E402


def main() -> int:
    phases: list[tuple[str, float]] = []
    mark = _T0

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases.append((name, (now - mark) * 1000))
        mark = now

    try:
        ok = _steps(lap)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the runtime may have changed
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    sys.stdout.write(json.dumps({"phases": phases, "ok": ok}) + "\n")
    return 0


def _steps(lap: Any) -> bool:
    lap("import json, typing")
    from connectorkit import cli as _cli  # noqa: PLC0415

    lap("import connectorkit.cli (argparse, logging, package)")
    args = _cli._parser("invoke")[0].parse_args(["invoke", "--quiet"])  # noqa: SLF001
    _cli._configure_logging(quiet=args.quiet)  # noqa: SLF001
    lap("argparse + logging setup")
    from connectorkit.call import _run  # noqa: PLC0415
    from connectorkit.protocol import _protocol  # noqa: PLC0415

    lap("import _protocol, _run (httpx, httpcore, ...)")
    import yaml  # noqa: PLC0415, F401

    from connectorkit.pack import _check, _files, _load, _read  # noqa: PLC0415

    lap("import yaml, _load, _read, _check (+_crosscheck, _types)")
    root = _files.default_pack_root()
    documents, problems = _read.read_documents(root)
    lap(f"pack: read + parse {len(documents)} YAML files")
    _check._validators()  # noqa: SLF001
    lap("pack: import jsonschema/referencing + compile 3 validators")
    problems += _check.check_documents(root, documents)
    lap("pack: check_documents (schema + cross-file checks)")
    if problems:
        raise RuntimeError(f"the pack has {len(problems)} problem(s)")
    pack = _load._build(root, documents)  # noqa: SLF001
    lap("pack: build definitions")
    from connectorkit.auth import _flow  # noqa: PLC0415, F401

    lap("import auth._flow, auth._oauth (a call needs them)")
    runner = _run.Runner()
    lap("Runner() (httpx.Client: SSL context, certifi)")
    text = sys.stdin.read()
    request = _protocol.parse_request(text)
    lap("read stdin + parse_request")
    from connectorkit import _bind  # noqa: PLC0415

    lap("import _bind, _types")
    action = _bind.bind_action(pack, request["action"], request.get("inputs") or {})
    connection = _bind.bind_connection(pack, request.get("connection"))
    lap("bind (first: compiles the inputs of an action and a connection)")
    outcome = runner.run(action, connection)
    lap("run: the HTTP request (first: TCP connect)")
    response = _protocol._envelope(  # noqa: SLF001
        request,
        request["action"],
        result=outcome.result,
        error=outcome.error,
        token=outcome.token,
        meta=outcome.meta,
    )
    sys.stdout.flush()
    encoded = _protocol._dump(response)  # noqa: SLF001
    lap("envelope + JSON encode")
    runner.close()
    lap("runner.close")
    # Not part of invoke: what the same request costs once everything is warm (as in serve).
    runner = _run.Runner()
    lap("(extra) a second Runner()")
    _protocol.respond(pack, runner, text)
    lap("(extra) the same request again via respond(), warm")
    runner.close()
    return bool(encoded) and outcome.error is None


if __name__ == "__main__":
    sys.exit(main())
