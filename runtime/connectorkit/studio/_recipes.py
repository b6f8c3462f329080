"""What to copy from the page to do the same run elsewhere.

The ``invoke`` request and the ``connectorkit run`` command line; secrets are written as ``***``
for the reader to put back.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from connectorkit.core._redact import MASK

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "LONGEST_ARGUMENT",
    "TOKEN_FIELDS",
    "invoke_recipe",
    "masked_connection",
    "run_recipe",
    "token_values",
]

# Past this many characters a value goes in a file: a command line is for reading.
LONGEST_ARGUMENT = 2000
# The fields of a token that are credentials, masked wherever a token shows.
TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")


def token_values(token: Any) -> list[str]:
    """The credentials a token (as the runtime keeps it) carries, to mask them; none if no dict."""
    if not isinstance(token, dict):
        return []
    return [str(token[k]) for k in TOKEN_FIELDS if isinstance(token.get(k), str)]


def masked_connection(connection: Mapping[str, Any], secret: set[str]) -> dict[str, Any]:
    """The request's ``connection`` with its secret values and tokens written as ``***``."""
    out: dict[str, Any] = dict(connection)
    values = connection.get("values")
    if isinstance(values, dict):
        out["values"] = {k: MASK if k in secret else v for k, v in values.items()}
    token = connection.get("token")
    if isinstance(token, dict):
        out["token"] = {k: MASK if k in TOKEN_FIELDS else v for k, v in token.items()}
    return out


def invoke_recipe(request: Mapping[str, Any], secret: set[str]) -> str:
    """The shell text that sends this request to ``connectorkit invoke``."""
    shown = dict(request)
    if isinstance(request.get("connection"), dict):
        shown["connection"] = masked_connection(request["connection"], secret)
    body = json.dumps(shown, indent=2, ensure_ascii=False)
    return f"connectorkit invoke <<'JSON'\n{body}\nJSON"


def run_recipe(action: str, inputs: Mapping[str, Any], connection_ref: str) -> str:
    """The ``connectorkit run ACTION key=value …`` line for these inputs.

    Strings go as they are; numbers, booleans, lists and objects as JSON, as ``run`` types them
    by the action's definitions. A value too long for a command line is read from a file
    (``key=@key.json``), which a comment line above the command names.
    """
    words = ["connectorkit", "run", action]
    notes: list[str] = []
    for key, value in inputs.items():
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        )
        if len(text) > LONGEST_ARGUMENT:
            notes.append(f"# {key}.json: the {key} input as JSON{_count(value)}")
            text = f"@{key}.json"
        words.append(f"{key}={text}")
    words += ["--connection", connection_ref]
    return "\n".join([*notes, " ".join(shlex.quote(word) for word in words)])


def _count(value: Any) -> str:
    return f" ({len(value):,} items)" if isinstance(value, list) else ""
