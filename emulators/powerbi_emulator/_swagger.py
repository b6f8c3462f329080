"""Microsoft's Power BI REST swagger (MIT licence beside it in `_data/`), shipped gzipped.

The emulator answers the operations it describes; tests validate responses against it.
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from typing import Any, cast

__all__ = ["SWAGGER_URI", "load_swagger"]

SWAGGER_URI = "https://api.powerbi.com/swagger.json"


@functools.cache
def load_swagger() -> dict[str, Any]:
    """The swagger document, parsed once per process (callers must not mutate it)."""
    data = resources.files(__package__).joinpath("_data", "powerbi-swagger.json.gz").read_bytes()
    return cast("dict[str, Any]", json.loads(gzip.decompress(data)))
