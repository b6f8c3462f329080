"""``python -m connectorkit``: the same as the ``connectorkit`` command."""

from __future__ import annotations

import sys

from connectorkit._cli import main

sys.exit(main())
