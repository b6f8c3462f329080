"""Shared helpers of the benchmarks: an emulator to talk to, tokens, timing statistics, tables.

Not a benchmark itself. The scripts next to it import it by name (Python puts the script's own
folder first on ``sys.path``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import pstats
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "POWERBI_SCOPE",
    "REPO",
    "Emulator",
    "Stats",
    "app_token",
    "banner",
    "before_env",
    "connectorkit_command",
    "emulator",
    "installed_bytecode",
    "lean_python",
    "load_note",
    "print_table",
    "profile_summary",
    "stop_process",
    "token_for_request",
]

REPO = Path(__file__).resolve().parent.parent
POWERBI_SCOPE = "https://analysis.windows.net/powerbi/api/.default"
STOP_TIMEOUT_S = 20.0
START_TIMEOUT_S = 30.0

# Runs in a child interpreter: an emulator with the given options (PushLimits fields under
# "limits"), its endpoints as one JSON line on stdout, until stdin reaches EOF.
_EMULATOR_CHILD = """
import json, sys
from powerbi_emulator import PushLimits, running
options = json.loads(sys.argv[1])
limits = PushLimits(**options.pop("limits"))
with running(limits=limits, **options) as emu:
    info = emu.endpoints() | {"client_id": emu.client_id, "client_secret": emu.client_secret}
    sys.stdout.write(json.dumps(info) + "\\n")
    sys.stdout.flush()
    sys.stdin.read()
"""


@dataclasses.dataclass(frozen=True)
class Emulator:
    """Where a running emulator listens, and the demo client it knows."""

    url: str
    base_url: str
    token_url: str
    tenant: str
    client_id: str
    client_secret: str
    mode: str

    def describe(self) -> str:
        """One line for the report."""
        return f"{self.url} ({self.mode})"


def stop_process(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> None:
    """Close ``proc``'s stdin, wait for it, and kill it (this one process only) if it hangs."""
    with contextlib.suppress(OSError, ValueError):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def emulator(
    *,
    in_process: bool = False,
    latency_ms: float = 0.0,
    time_scale: float = 1.0,
    limits: Mapping[str, int] | None = None,
    token_lifetime: float | None = None,
) -> Iterator[Emulator]:
    """Run a loopback emulator for the length of the block.

    By default in a child process, so that its request handling does not share this process's
    GIL with the client being measured; ``in_process`` runs it in a thread of this process.
    ``limits`` overrides PushLimits fields (e.g. ``{"posts_per_minute": 10**9}``);
    ``token_lifetime`` is in emulated seconds (default one emulated hour).
    """
    options: dict[str, Any] = {
        "latency_ms": latency_ms,
        "time_scale": time_scale,
        "limits": dict(limits or {}),
    }
    if token_lifetime is not None:
        options["token_lifetime"] = token_lifetime
    if in_process:
        from powerbi_emulator import PushLimits, running  # noqa: PLC0415

        push = PushLimits(**options.pop("limits"))
        with running(limits=push, **options) as handle:
            yield Emulator(
                url=handle.url,
                base_url=handle.base_url,
                token_url=handle.token_url,
                tenant=handle.tenant,
                client_id=handle.client_id,
                client_secret=handle.client_secret or "",
                mode="thread in the bench process",
            )
        return
    proc = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR_CHILD, json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        line = _read_line(proc.stdout, START_TIMEOUT_S)
        if not line:
            raise RuntimeError("the emulator child did not start")
        info = json.loads(line)
        yield Emulator(
            url=info["url"],
            base_url=info["base_url"],
            token_url=info["token_url"],
            tenant=info["tenant"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            mode="child process",
        )
    finally:
        stop_process(proc)


def _read_line(stream: IO[str] | None, timeout: float) -> str:
    """One line from a child's stdout, waiting at most ``timeout`` seconds."""
    import selectors  # noqa: PLC0415

    if stream is None:
        return ""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return stream.readline()


def app_token(emu: Emulator) -> dict[str, Any]:
    """A service principal's token from the emulator's token endpoint (client credentials)."""
    response = httpx.post(
        emu.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "scope": POWERBI_SCOPE,
        },
        timeout=10.0,
        trust_env=False,
    )
    response.raise_for_status()
    token: dict[str, Any] = response.json()
    token["expires_at"] = int(time.time()) + int(token.get("expires_in", 3600))
    return token


def token_for_request(token: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's ``connection.token`` fields of a token response."""
    return {
        "access_token": token["access_token"],
        "token_type": token.get("token_type", "Bearer"),
        "expires_at": token["expires_at"],
    }


def connection(emu: Emulator, token: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``client_credentials`` connection pointed at ``emu``, with ``token`` when given.

    With a token the runtime uses it and fetches nothing; without one it fetches its own.
    """
    conn: dict[str, Any] = {
        "key": "client_credentials",
        "values": {
            "tenant_id": emu.tenant,
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "token_url": emu.token_url,
            "base_url": emu.base_url,
        },
    }
    if token is not None:
        conn["token"] = token_for_request(token)
    return conn


def connectorkit_command(python: str | Path | None = None) -> list[str]:
    """The installed ``connectorkit`` command next to ``python`` (default: this interpreter)."""
    interpreter = Path(python or sys.executable)
    beside = interpreter.with_name("connectorkit")
    if beside.is_file():
        return [str(beside)]
    if python is None and (found := shutil.which("connectorkit")):
        return [found]
    return [str(interpreter), "-m", "connectorkit"]


# A lean install: this checkout as a user installs it (`pip install .`, no extras and no dev
# tools), in a virtual environment of its own. The development environment has more packages
# than a user's (httpx imports rich, click and pygments when they are installed), so start-up
# figures are taken here.
LEAN_DIR = Path(
    os.environ.get("BENCH_LEAN_VENV") or Path.home() / ".cache" / "connectorkit-bench-lean"
)


def lean_python(*, quiet: bool = False) -> Path:
    """The interpreter of the lean install, made once and updated to this checkout each call."""
    python = LEAN_DIR / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    fresh = not python.is_file()
    if fresh:
        subprocess.run([sys.executable, "-m", "venv", str(LEAN_DIR)], check=True)
    if not quiet:
        print(f"(lean install: `pip install .` of {REPO} into {LEAN_DIR} ...)", flush=True)
    # pip builds the wheel from the tree and compiles the bytecode, as a user's install does.
    extra = [] if fresh else ["--force-reinstall", "--no-deps"]
    subprocess.run([*pip, *extra, str(REPO)], check=True, capture_output=True)
    return python


def installed_bytecode(python: Path) -> tuple[int, int]:
    """``(modules, compiled)``: the runtime's modules in ``python``'s install, and how many have
    bytecode beside them (``__pycache__``) for that interpreter.
    """
    code = (
        "import importlib.util as u, sys; "
        "print(u.find_spec('connectorkit').origin, sys.implementation.cache_tag)"
    )
    # -B and no import of the package: this check writes no bytecode of its own.
    done = subprocess.run(
        [str(python), "-B", "-c", code], capture_output=True, text=True, check=True
    )
    package, tag = done.stdout.split()
    sources = list(Path(package).parent.rglob("*.py"))
    compiled = sum(
        (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").is_file() for source in sources
    )
    return len(sources), compiled


def before_env(root: Path) -> dict[str, str]:
    """The environment that runs the connectorkit of another checkout ``root`` (``--before``).

    Its ``runtime/`` goes first on the path, and its Power BI pack is the pack: in
    ``packs/powerbi`` since the layout of packs by name, at the root before it.
    """
    pack = root / "packs" / "powerbi"
    return {
        **os.environ,
        "PYTHONPATH": str(root / "runtime"),
        "CONNECTORKIT_PACK": str(pack if pack.is_dir() else root),
    }


def load_note() -> str:
    """The machine's load average, to print next to figures taken on it."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs" + (
        "" if one < 0.5 * (os.cpu_count() or 1) else " (a LOADED machine: re-measure quiet)"
    )


@dataclasses.dataclass(frozen=True)
class Stats:
    """Summary of timing samples, in milliseconds."""

    n: int
    median: float
    p90: float
    p99: float
    minimum: float
    maximum: float
    mean: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Stats:
        """Summarise ``samples_ms`` (nearest-rank percentiles)."""
        ordered = sorted(samples_ms)
        if not ordered:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan, nan)
        return cls(
            n=len(ordered),
            median=statistics.median(ordered),
            p90=_percentile(ordered, 90),
            p99=_percentile(ordered, 99),
            minimum=ordered[0],
            maximum=ordered[-1],
            mean=statistics.fmean(ordered),
        )


def _percentile(ordered: Sequence[float], pct: float) -> float:
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table (numbers right-aligned)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # noqa: PLR0124 - NaN
            return "-"
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def banner(title: str, notes: Sequence[str] = ()) -> None:
    """The header every script prints: what, when, on what."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"== {title} ==")
    print(
        f"{now}; Python {platform.python_version()} ({sys.executable}); "
        f"{os.cpu_count()} CPU(s); {platform.platform(terse=True)}; httpx {httpx.__version__}"
    )
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average before the run: {load} (other work on the machine skews the figures)")
    for note in notes:
        print(f"note: {note}")
    print()


_BUILTIN_KINDS = (
    (("socket", "select"), "socket I/O (C)"),
    (("json",), "json (C)"),
    (("pydantic_core", "validate_python"), "pydantic-core (C)"),
)


def _category(filename: str, function: str) -> str:
    """Which part of the stack a profiled function belongs to."""
    if filename == "~":
        lowered = function.lower()
        kinds = (name for words, name in _BUILTIN_KINDS if any(w in lowered for w in words))
        return next(kinds, "other built-ins (C)")
    path = filename.replace("\\", "/")
    if "/connectorkit/" in path:
        return "connectorkit runtime (Python)"
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    # json's C scanner and encoder are called from json/*.py, and their time shows there.
    return "json (encode/decode)" if "/json/" in path else "stdlib (other)"


def profile_summary(stats: pstats.Stats, *, per: int, top: int) -> None:
    """Own time by part of the stack, then the runtime's own functions by cumulative time.

    ``per`` divides times (e.g. the number of requests profiled) so rows read as ms per item.
    """
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    own: collections.defaultdict[str, float] = collections.defaultdict(float)
    for (filename, _, function), (_, _, tottime, _, _) in raw.items():
        own[_category(filename, function)] += tottime
    total = sum(own.values()) or 1.0
    largest = sorted(own.items(), key=lambda item: -item[1])[:12]
    print_table(
        ["part of the stack (own time)", "ms per item", "%"],
        [[name, secs * 1000 / per, 100 * secs / total] for name, secs in largest],
    )
    print()
    ours = [
        (cumtime, tottime, calls, f"{Path(filename).name}:{line}({function})")
        for (filename, line, function), (_, calls, tottime, cumtime, _) in raw.items()
        if "/connectorkit/" in filename.replace("\\", "/")
    ]
    ours.sort(reverse=True)
    print_table(
        ["runtime function", "cumulative ms/item", "own ms/item", "calls"],
        [[name, cum * 1000 / per, tot * 1000 / per, calls] for cum, tot, calls, name in ours[:top]],
    )
    print()
