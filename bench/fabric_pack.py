"""Cold ``invoke`` of one Fabric action: the whole 725-action pack next to a 9-action one.

The Fabric pack (``packs/fabric``, every operation of Microsoft's Fabric REST documents) is
copied twice: whole, and with only nine of its actions (``list_workspaces`` and eight others).
Against the Fabric emulator, a cold ``connectorkit invoke`` of ``list_workspaces`` (token given,
the checked-pack cache warm, as on a platform's worker) runs N times with each, interleaved, on
a lean install (``pip install .`` into a virtual environment of its own, as a user gets it).
Target: the big pack within x1.10 of the small one.

    .venv/bin/python bench/fabric_pack.py [-n 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _benchlib import REPO, Stats, banner, connectorkit_command, lean_python, print_table

FABRIC = REPO / "packs" / "fabric"
ACTION = "list_workspaces"
SMALL = 9
TARGET = 1.10


def small_copy(folder: Path) -> Path:
    """The Fabric pack with nine actions: ``list_workspaces`` and the first eight others."""
    pack = folder / "fabric-9"
    shutil.copytree(FABRIC, pack, ignore=shutil.ignore_patterns("openapi"))
    actions = sorted((pack / "actions").glob("*.yaml"))
    kept = {f"{ACTION}.yaml", *[p.name for p in actions if p.stem != ACTION][: SMALL - 1]}
    for path in actions:
        if path.name not in kept:
            path.unlink()
    return pack


def whole_copy(folder: Path) -> Path:
    pack = folder / "fabric-725"
    shutil.copytree(FABRIC, pack, ignore=shutil.ignore_patterns("openapi"))
    return pack


def start_emulator() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "connectorkit", "emulator", "fabric", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline() if process.stdout is not None else ""
    if not line:
        raise RuntimeError("the Fabric emulator did not start")
    return process, json.loads(line)


def connection(urls: dict[str, Any]) -> dict[str, Any]:
    """The emulator's service principal, its token obtained once here."""
    values = {
        "tenant_id": urls["tenant"],
        "client_id": "connectorkit-demo",
        "client_secret": "demo-secret",
        "token_url": urls["token_url"],
        "base_url": urls["base_url"],
        "onelake_url": urls["onelake_url"],
    }
    answer = httpx.post(
        urls["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": values["client_id"],
            "client_secret": values["client_secret"],
            "scope": f"{urls['resource']}/.default",
        },
        timeout=30,
    )
    answer.raise_for_status()
    token = answer.json()
    return {
        "key": "client_credentials",
        "values": values,
        "token": {
            "access_token": token["access_token"],
            "token_type": "Bearer",
            "expires_at": int(time.time()) + int(token.get("expires_in", 3600)) - 60,
        },
    }


def timed(argv: list[str], stdin: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"invoke failed ({done.returncode}): {done.stdout[-400:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=15, help="timed runs per pack, interleaved")
    args = parser.parse_args()
    command = connectorkit_command(lean_python())
    banner(
        "cold invoke of one Fabric action: the whole Fabric pack vs a 9-action pack",
        [
            (
                f"{ACTION} against the Fabric emulator, token given; {args.n} timed runs per "
                "pack (after 2 untimed), interleaved; the checked-pack cache warm"
            ),
            f"interpreter: {command[0]} (lean install)",
        ],
    )
    process, urls = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            packs = {SMALL: small_copy(folder), 725: whole_copy(folder)}
            counted = {size: len(list((p / "actions").glob("*.yaml"))) for size, p in packs.items()}
            request = json.dumps({"action": ACTION, "inputs": {}, "connection": connection(urls)})
            env = {**os.environ, "CONNECTORKIT_CACHE_DIR": str(folder / "cache")}
            env.pop("CONNECTORKIT_PACK", None)
            runs = {size: [*command, "invoke", "--pack", str(p)] for size, p in packs.items()}
            for argv in runs.values():
                for _ in range(2):
                    timed(argv, request, env)
            samples: dict[int, list[float]] = {size: [] for size in runs}
            for _ in range(args.n):
                for size, argv in runs.items():
                    samples[size].append(timed(argv, request, env))
    finally:
        process.terminate()
        process.wait(15)
    small = Stats.of(samples[SMALL])
    rows: list[list[Any]] = []
    for size in runs:
        stats = Stats.of(samples[size])
        rows.append(
            [
                counted[size],
                stats.median,
                f"{stats.minimum:.1f}-{stats.p90:.1f}",
                stats.median / small.median,
            ]
        )
    print_table(["actions", "median ms", "min-p90 ms", "x 9-action pack"], rows)
    ratio = Stats.of(samples[725]).median / small.median
    verdict = "MET" if ratio <= TARGET else f"MISSED by {100 * (ratio / TARGET - 1):.0f}%"
    print(
        f"\n{counted[725]}-action pack vs {SMALL}-action pack: x{ratio:.3f} -> target <= "
        f"x{TARGET:.2f}: {verdict}"
    )


if __name__ == "__main__":
    main()
