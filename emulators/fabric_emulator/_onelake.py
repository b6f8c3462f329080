"""OneLake's storage API: Azure Data Lake Storage Gen2 paths over `/{workspace}/{item}/{path}`.

The workspace is a file system, named by its id or its name; the item is named by its id or
as `Name.Type` (`SalesLakehouse.Lakehouse`). Files are created, appended to at a position,
flushed, read (whole or a byte range), described (HEAD), listed and deleted. A token for the
storage audience is required, as OneLake does.
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
from typing import TYPE_CHECKING

from fabric_emulator._errors import StorageError
from fabric_emulator._onelake_files import Directory, OneLakeFile, PathError
from powerbi_emulator._http import HttpResponse

if TYPE_CHECKING:
    from fabric_emulator._onelake_files import ItemFiles
    from fabric_emulator._service import FabricService
    from fabric_emulator._store import Item, Workspace
    from powerbi_emulator._http import HttpRequest
    from powerbi_emulator._identity import TokenService

__all__ = ["MAX_APPEND_BYTES", "OneLake"]

MAX_APPEND_BYTES = 100 * 1024 * 1024
STORAGE_VERSION = "2023-11-03"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_LIST_PAGE = 5000


@dataclasses.dataclass(frozen=True)
class _Target:
    workspace: Workspace
    item: Item | None
    item_segment: str
    path: str


def _http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


class OneLake:
    """The storage endpoints of every item's files."""

    def __init__(self, service: FabricService, tokens: TokenService) -> None:
        self._service = service
        self._tokens = tokens

    def handle(self, request: HttpRequest, segments: tuple[str, ...]) -> HttpResponse:
        """The response to a storage request for `segments` (workspace, item, path...)."""
        try:
            self._authenticate(request)
            return self._dispatch(request, segments)
        except PathError as exc:
            error = StorageError(exc.status, exc.code, exc.message)
        except StorageError as exc:
            error = exc
        response = error.response(self._service.clock.isoformat())
        if request.method == "HEAD":
            response.body = b""
        return response

    def _dispatch(self, request: HttpRequest, segments: tuple[str, ...]) -> HttpResponse:
        if not segments:
            raise StorageError(400, "InvalidUri", "The request URI names no file system.")
        method, query = request.method, request.query
        if method == "GET" and query.get("resource") == "filesystem":
            return self._list(request, segments[0])
        target = self._target(segments)
        store = self._service.store
        with store.lock:  # table loads write Delta logs into the same files
            files = store.files[target.item.id] if target.item is not None else None
            if files is None:
                raise StorageError(400, "InvalidUri", "The request URI names no item.")
            if method == "PUT":
                return self._create(request, files, target.path)
            if method == "PATCH":
                return self._update(request, files, target.path)
            if method == "DELETE":
                files.delete(target.path, recursive=query.get("recursive", "").lower() == "true")
                return HttpResponse(200, b"", self._common())
            if method in {"GET", "HEAD"}:
                return self._read(request, files, target.path)
        raise StorageError(405, "UnsupportedHttpVerb", f"The {method} verb is not supported here.")

    def _target(self, segments: tuple[str, ...]) -> _Target:
        store = self._service.store
        workspace = store.find_workspace(segments[0])
        if workspace is None:
            raise StorageError(
                404, "FilesystemNotFound", "The specified filesystem does not exist."
            )
        if len(segments) < 2:  # noqa: PLR2004
            return _Target(workspace, None, "", "")
        item = store.find_item(workspace, segments[1])
        if item is None:
            raise StorageError(404, "PathNotFound", "The specified path does not exist.")
        return _Target(workspace, item, segments[1], "/".join(segments[2:]))

    def _common(self, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        return [("x-ms-version", STORAGE_VERSION), *(extra or [])]

    def _create(self, request: HttpRequest, files: ItemFiles, path: str) -> HttpResponse:
        resource = request.query.get("resource")
        if not path:
            raise StorageError(409, "PathConflict", "The item's own folder already exists.")
        if request.headers.get("if-none-match") == "*" and files.get(path) is not None:
            raise StorageError(409, "PathAlreadyExists", "The specified path already exists.")
        if resource == "directory":
            node: OneLakeFile | Directory = files.make_directory(path)
            modified = node.created
        elif resource == "file":
            node = files.create_file(path)
            modified = node.modified
        else:
            raise StorageError(
                400, "InvalidQueryParameterValue", "resource must be file or directory."
            )
        headers = [("ETag", node.etag), ("Last-Modified", _http_date(modified))]
        return HttpResponse(201, b"", self._common(headers))

    def _update(self, request: HttpRequest, files: ItemFiles, path: str) -> HttpResponse:
        action = request.query.get("action")
        raw = request.query.get("position", "")
        if not raw.isdigit():
            raise StorageError(
                400, "InvalidQueryParameterValue", "position must be a non-negative integer."
            )
        position = int(raw)
        if action == "append":
            if len(request.body) > MAX_APPEND_BYTES:
                raise StorageError(413, "RequestBodyTooLarge", "The request body is too large.")
            files.append(path, position, request.body)
            return HttpResponse(202, b"", self._common())
        if action == "flush":
            done = files.flush(path, position)
            headers = [("ETag", done.etag), ("Last-Modified", _http_date(done.modified))]
            return HttpResponse(200, b"", self._common(headers))
        raise StorageError(400, "InvalidQueryParameterValue", "action must be append or flush.")

    def _read(self, request: HttpRequest, files: ItemFiles, path: str) -> HttpResponse:
        node = files.get(path)
        if node is None:
            raise PathError(404, "PathNotFound", "The specified path does not exist.")
        if isinstance(node, Directory):
            headers = self._common([("x-ms-resource-type", "directory"), ("ETag", node.etag)])
            return HttpResponse(200, b"", [*headers, ("Content-Length", "0")])
        headers = self._common(
            [
                ("x-ms-resource-type", "file"),
                ("ETag", node.etag),
                ("Last-Modified", _http_date(node.modified)),
                ("Content-Type", "application/octet-stream"),
            ]
        )
        if request.method == "HEAD":
            return HttpResponse(200, b"", [*headers, ("Content-Length", str(node.size))])
        content = node.content()
        wanted = request.headers.get("x-ms-range") or request.headers.get("range")
        found = _RANGE.fullmatch(wanted.strip()) if wanted else None
        if found is None:
            return HttpResponse(200, content, headers)
        start = int(found.group(1))
        end = int(found.group(2)) if found.group(2) else node.size - 1
        if start >= node.size:
            raise StorageError(
                416,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
            )
        end = min(end, node.size - 1)
        span = [("Content-Range", f"bytes {start}-{end}/{node.size}")]
        return HttpResponse(206, content[start : end + 1], headers + span)

    def _list(self, request: HttpRequest, filesystem: str) -> HttpResponse:
        store = self._service.store
        workspace = store.find_workspace(filesystem)
        if workspace is None:
            raise StorageError(
                404, "FilesystemNotFound", "The specified filesystem does not exist."
            )
        query = request.query
        directory = query.get("directory", "").strip("/")
        recursive = query.get("recursive", "").lower() == "true"
        entries: list[dict[str, str]] = []
        with store.lock:
            if not directory:
                entries += [
                    {"name": item.id, "isDirectory": "true", "contentLength": "0"}
                    for item in store.items_in(workspace.id)
                ]
            else:
                item_segment, _, inside = directory.partition("/")
                item = store.find_item(workspace, item_segment)
                if item is None:
                    raise StorageError(404, "PathNotFound", "The specified path does not exist.")
                for path, node in store.files[item.id].listing(inside, recursive=recursive):
                    entries.append(_entry(f"{item_segment}/{path}", node))
        start = int(query["continuation"]) if query.get("continuation", "").isdigit() else 0
        limit = int(query["maxResults"]) if query.get("maxResults", "").isdigit() else _LIST_PAGE
        page = entries[start : start + max(1, limit)]
        headers = self._common()
        if start + len(page) < len(entries):
            headers.append(("x-ms-continuation", str(start + len(page))))
        return HttpResponse.json(200, {"paths": page}, headers=headers)

    def _authenticate(self, request: HttpRequest) -> None:
        cloud = self._service.cloud
        tenant_id = self._tokens.directory.tenant_id
        challenge = [
            (
                "WWW-Authenticate",
                (
                    f"Bearer authorization_uri={request.origin}/{tenant_id}/oauth2/authorize "
                    f"resource_id={cloud.storage_resource}"
                ),
            )
        ]
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise StorageError(
                401,
                "NoAuthenticationInformation",
                "Server failed to authenticate the request. Please refer to the information in "
                "the www-authenticate header.",
                headers=challenge,
            )
        grant = self._tokens.lookup_access(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or self._tokens.is_expired(grant.expires_at):
            raise StorageError(
                401,
                "InvalidAuthenticationInfo",
                "Server failed to authenticate the request. The token is invalid or expired.",
                headers=challenge,
            )
        if grant.audience != cloud.storage_resource:
            raise StorageError(
                401,
                "InvalidAuthenticationInfo",
                f"Audience validation failed: the token is for {grant.audience}; OneLake takes "
                f"tokens for {cloud.storage_resource}.",
                headers=challenge,
            )


def _entry(name: str, node: OneLakeFile | Directory) -> dict[str, str]:
    if isinstance(node, Directory):
        return {"name": name, "isDirectory": "true", "contentLength": "0", "etag": node.etag}
    return {
        "name": name,
        "contentLength": str(node.size),
        "lastModified": _http_date(node.modified),
        "etag": node.etag,
    }
