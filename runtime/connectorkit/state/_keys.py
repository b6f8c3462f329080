"""Every key the runtime keeps in a state store, named in one place.

Keys are laid out for a Redis Cluster: what one operation touches shares a ``{tag}``, so it
stays in one hash slot (a token and its lease; a budget's windows and slots; a record and its
entries). Text from outside (a table's name, a resource) goes through :func:`tag` first.
"""

from __future__ import annotations

__all__ = [
    "CONNECTIONS",
    "budget",
    "record",
    "record_index",
    "remembered",
    "subscription",
    "tag",
    "token",
    "token_lease",
]

CONNECTIONS = "ck:{connections}"


def tag(text: str) -> str:
    """``text`` made safe inside a hash tag (a tag must not hold braces)."""
    return text.replace("{", "(").replace("}", ")")


def token(key: str) -> str:
    """The sealed token record of the lineage ``key``."""
    return f"ck:{{tok:{key}}}:token"


def token_lease(key: str) -> str:
    """The lease of whoever renews the token of ``key``."""
    return f"ck:{{tok:{key}}}:lease"


def budget(name: str, resource: str) -> str:
    """The prefix of a rate budget's keys for one resource (``resource`` already tagged)."""
    return f"ck:{{res:{name}:{resource}}}"


def record(kind: str, record_id: str, part: str) -> str:
    """One part (its description, its entries) of the record ``record_id`` of ``kind``."""
    return f"ck:{{{kind}:{record_id}}}:{part}"


def record_index(kind: str) -> str:
    """The index of every record of ``kind`` (``ck:jobs`` for push jobs)."""
    return f"ck:{kind}s"


def remembered(key: str) -> str:
    """A value an action remembered (a table's columns) under ``key``."""
    return f"ck:{{mem:{tag(key)}}}"


def subscription(name: str, part: str) -> str:
    """One part (its cursor, its lease) of a trigger subscription (``name`` already tagged)."""
    return f"ck:{{sub:{name}}}:{part}"
