"""Listings cut into pages, each pointing at the next with an opaque continuation token."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import zlib
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlencode

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["BadTokenError", "Page", "Pages"]

T = TypeVar("T")
TOKEN_PARAMETER = "continuationToken"  # noqa: S105 - a query parameter's name


class BadTokenError(ValueError):
    """A continuation token that this listing did not give out."""


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next (None on the last page)."""

    items: list[T]
    token: str | None

    def next_uri(self, url: str, query: Mapping[str, str]) -> str | None:
        """The URL of the next page: `url` with the query, its token replaced."""
        if self.token is None:
            return None
        params = {k: v for k, v in query.items() if k != TOKEN_PARAMETER}
        params[TOKEN_PARAMETER] = self.token
        return f"{url}?{urlencode(params)}"


class Pages:
    """Cuts listings into pages of at most `page_size` items (or the caller's `maxResults`)."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size

    def cut(
        self,
        items: Sequence[T],
        listing: str,
        query: Mapping[str, str],
        *,
        limit: int | None = None,
    ) -> Page[T]:
        """The page the query asks for; raises BadTokenError for a foreign or broken token.

        `listing` names the listing (its path), so that its tokens are refused by another.
        """
        size = min(limit, self.page_size) if limit else self.page_size
        offset = 0
        token = query.get(TOKEN_PARAMETER)
        if token:
            offset = self._offset(token, listing)
        end = offset + size
        following = self._token(end, listing) if end < len(items) else None
        return Page(list(items[offset:end]), following)

    @staticmethod
    def _token(offset: int, listing: str) -> str:
        data = json.dumps({"l": zlib.crc32(listing.lower().encode()), "o": offset})
        return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")

    @staticmethod
    def _offset(token: str, listing: str) -> int:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise BadTokenError("The continuation token is not valid.") from None
        if (
            not isinstance(data, dict)
            or data.get("l") != zlib.crc32(listing.lower().encode())
            or not isinstance(data.get("o"), int)
            or data["o"] < 0
        ):
            raise BadTokenError("The continuation token does not belong to this listing.")
        return int(data["o"])
