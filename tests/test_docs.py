"""The repository stands on its own: every relative link in every Markdown file resolves.

A link to a file must name a file of the repository (never a folder beside it, such as
``../shared``); a link to ``#anchor`` must name a heading of the page it points at, spelled as
GitHub spells heading anchors. No page names a path outside the repository.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return sorted(ROOT / name for name in listed if (ROOT / name).is_file())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__|\[|\]\([^)]*\)", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.MULTILINE):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    return LINK.findall(text) + IMAGE.findall(text)


def test_there_are_pages_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert {"README.md", "docs/protocol.md", "docs/write-and-test-a-pack.md"} <= names


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: — outside the repository
            continue
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if ROOT not in (destination, *destination.parents):
            broken.append(f"{target}: outside the repository")
        elif not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading '#{anchor}' in {destination.name}")
    assert broken == [], f"{page.relative_to(ROOT)}"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_page_names_a_path_outside_the_repository(page):
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text
    assert not re.search(r"(?<![\w.])/(work|home|root)/", text)


def test_no_test_reads_outside_the_repository():
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name == "test_docs.py":
            continue  # names them, to look for them
        text = path.read_text(encoding="utf-8")
        assert '"shared"' not in text, path.name
        assert "ROOT.parent" not in text, path.name


def test_the_slugs_are_githubs():
    assert slug("Shared state: several workers, several machines") == (
        "shared-state-several-workers-several-machines"
    )
    assert slug("Ready connections (`connectorkit emulator` only)") == (
        "ready-connections-connectorkit-emulator-only"
    )
    assert slug("Issue 8: layered runtime, one type system (2026-11-28)") == (
        "issue-8-layered-runtime-one-type-system-2026-11-28"
    )


def test_no_install_command_names_the_package_alone():
    # connectorkit is not on PyPI: `pip install 'connectorkit[studio]'` would fail, or install a
    # stranger's package. Every install command is from a clone ('.[x]', a path) or a Git URL.
    # A line that says what *would* happen with such a command is an explanation, not advice.
    by_name = re.compile(r"(?:pip|pipx|uv tool|uv pip) install\s+['\"]?connectorkit\b")
    sources = [*markdown_files(), *(ROOT / "runtime").rglob("*.py")]
    sources += (ROOT / "emulators").rglob("*.py")
    found = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sources
        for line in path.read_text(encoding="utf-8").splitlines()
        if by_name.search(line) and " @ " not in line and "would" not in line
    ]
    assert found == []
