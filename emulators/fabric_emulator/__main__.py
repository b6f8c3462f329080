"""`python -m fabric_emulator`: the same as `connectorkit emulator fabric`."""

from __future__ import annotations

import sys

from fabric_emulator import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
