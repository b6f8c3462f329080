"""How light and fast the studio page is: asset sizes, start-up, time to a rendered form.

Starts `connectorkit studio --emulator` (which starts its own emulator), then loads the page
in headless Chromium (Debian's, as the tests use) several times and times each step.

    .venv/bin/python bench/studio_page.py [--loads N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

STATIC = Path(__file__).resolve().parents[1] / "runtime" / "connectorkit" / "_studio" / "static"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()

    print("assets shipped in the package (bytes, and gzip -9):")
    total = total_gz = 0
    for path in sorted(STATIC.iterdir()):
        raw = path.read_bytes()
        packed = len(gzip.compress(raw, 9))
        total, total_gz = total + len(raw), total_gz + packed
        print(f"  {path.name:<12} {len(raw):>8,} {packed:>8,}")
    print(f"  {'all':<12} {total:>8,} {total_gz:>8,}")

    command = [str(Path(sys.executable).parent / "connectorkit"), "studio", "--emulator"]
    started = time.perf_counter()
    studio = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = json.loads(studio.stdout.readline())["url"] if studio.stdout else ""
    up_ms = (time.perf_counter() - started) * 1000
    print(f"studio + its emulator up (spawn to URL printed): {up_ms:.0f} ms")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        with sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
            context = driver.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True, args=FLAGS
            )
            page = context.new_page()
            loads, runs = [], []
            for _ in range(args.loads):
                begin = time.perf_counter()
                page.goto(f"{url}#create_dataset")
                page.wait_for_selector('[data-path="columns"]')
                loads.append((time.perf_counter() - begin) * 1000)
            page.goto(f"{url}#list_groups")
            page.wait_for_selector('.nav-item.active[data-action="list_groups"]')
            for _ in range(args.loads):
                begin = time.perf_counter()
                page.click("#run")
                page.wait_for_selector("#status.ok")
                runs.append((time.perf_counter() - begin) * 1000)
                page.goto(f"{url}#list_groups")
                page.wait_for_selector('.nav-item.active[data-action="list_groups"]')
            context.close()
    finally:
        studio.terminate()
        studio.wait()
    n = args.loads
    print(f"page load to Create Dataset's form, median of {n}: {statistics.median(loads):.0f} ms")
    run_ms = statistics.median(runs)
    print(f"Run of List Groups (click to result, emulator), median of {n}: {run_ms:.0f} ms")


if __name__ == "__main__":
    main()
