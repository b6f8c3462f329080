"""Write docs/settings.md from the settings table of the runtime (core/_settings.py)."""

from __future__ import annotations

from pathlib import Path

from connectorkit.core._settings import settings_table

HEAD = """# Settings

Every environment variable connectorkit reads. A command-line option or a request's input,
where there is one, wins over the variable. A number that does not read as one is ignored with
a warning naming the variable, and the default holds.

This file is generated from `runtime/connectorkit/core/_settings.py`
(`python scripts/settings_doc.py`); `tests/test_settings.py` fails when the two differ.

"""


def main() -> None:
    """Write the file."""
    target = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
    target.write_text(HEAD + settings_table(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
