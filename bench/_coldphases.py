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
    from connectorkit.protocol import _protocol  # noqa: PLC0415

    lap("import _protocol (the contract: msgspec; call, bind, types)")
    taken = _protocol.take_request(sys.stdin.buffer.read())
    if taken.request is None:
        raise RuntimeError(f"the request was refused: {taken.error}")
    lap("read stdin + decode the request")
    from connectorkit.pack import _load  # noqa: PLC0415

    pack = _load.load_pack()
    lap("pack: load (from the checked-pack cache when it is warm)")
    from connectorkit.call import _run  # noqa: PLC0415

    lap("import call._run (httpx, auth kinds, sender)")
    runner = _run.Runner()
    lap("Runner()")
    from connectorkit.call._entry import call  # noqa: PLC0415

    response = call(taken.request, pack, runner)
    lap("call: bind + the HTTP request (first: client, TCP connect)")
    encoded = _protocol.dump_response(response)
    lap("envelope JSON encode")
    runner.close()
    lap("runner.close")
    # Not part of invoke: what the same request costs once everything is warm (as in serve).
    call(taken.request, pack, runner := _run.Runner())
    lap("(extra) the same request again on a new Runner")
    call(taken.request, pack, runner)
    lap("(extra) the same request again, warm")
    runner.close()
    return bool(encoded) and bool(response.get("ok"))


if __name__ == "__main__":
    sys.exit(main())
