"""`python -m reportserver_emulator`: the same as `connectorkit emulator reportserver`."""

from __future__ import annotations

import sys

from reportserver_emulator import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
