"""Value sets and error hints: pack data that picks defaults and explains failures.

A **value set** lets one connection value choose the defaults of others. A pack declares, in
``connector.yaml``::

    value_sets:
      cloud:                      # the connection value that chooses
        public: {authority: https://login.example.com, api_url: …, resource: …}
        gov: {authority: https://login.example.us, api_url: …, resource: …}
        custom: {}                # nothing: the caller gives the values

and a connection that has a ``cloud`` value gets, for every value the caller did not give, the
one its chosen set holds; other defaults may then refer to them (``"{authority}/…/token"``).
What the caller gives always wins, so an explicit ``token_url`` still beats the cloud's.

An **error hint** adds a sentence to an error whose text contains a marker, e.g. the sign-in
errors that mean "wrong cloud" name the setting to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from connectorkit.pack._definitions import ErrorHint

__all__ = ["hint_for", "preset_values"]


def preset_values(
    value_sets: Mapping[str, Mapping[str, Mapping[str, Any]]],
    values: Mapping[str, Any],
    given: Collection[str],
) -> dict[str, Any]:
    """The values the chosen sets supply, leaving out those the caller gave."""
    out: dict[str, Any] = {}
    for selector, options in value_sets.items():
        chosen = values.get(selector)
        if not isinstance(chosen, str):
            continue
        out.update({k: v for k, v in (options.get(chosen) or {}).items() if k not in given})
    return out


def hint_for(hints: Iterable[ErrorHint], *texts: object) -> str | None:
    """The hint of the first marker found in any of ``texts`` (case-insensitive)."""
    haystack = " ".join(str(t) for t in texts if t).lower()
    for hint in hints:
        if hint.match.lower() in haystack:
            return hint.hint
    return None
