"""`python -m powerbi_emulator`: the same as `connectorkit emulator`."""

from __future__ import annotations

import sys

from powerbi_emulator import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
