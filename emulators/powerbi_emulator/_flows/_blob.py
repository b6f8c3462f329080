"""The temporary upload location: a blob endpoint speaking Azure Blob Storage's block API.

`createTemporaryUploadLocation` hands out a shared access signature URL under `/_blob/`.
A client uploads to it as to Azure: Put Block (`PUT ?comp=block&blockid=…`) for each
block, then Put Block List (`PUT ?comp=blocklist`, an XML list of block ids), or the whole
file at once with Put Blob (`PUT` with `x-ms-blob-type: BlockBlob`). Errors are Azure's
XML errors with `x-ms-error-code`. Only sizes, first bytes and digests are kept.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from powerbi_emulator._http import BodyError, HttpRequest, HttpResponse, Scope

if TYPE_CHECKING:
    from powerbi_emulator._clock import EmulatorClock

__all__ = ["BLOB_ROOT", "Blob", "BlobError", "BlobStore", "Block", "is_upload"]

BLOB_ROOT = "_blob"
CONTAINER = "imports"
SERVICE_VERSION = "2023-11-03"
MIB = 1 << 20
MAX_BLOCK_BYTES = 4000 * MIB  # Put Block, service version 2019-12-12 and later
MAX_PUT_BLOB_BYTES = 5000 * MIB
MAX_BLOCKS = 50_000
MAX_BLOCK_ID_BYTES = 64
MAX_BLOCK_LIST_BYTES = 4 * MIB
_BLOCK_ENTRY = re.compile(rb"<(Committed|Uncommitted|Latest)>\s*([^<]*?)\s*</\1>")


def is_upload(scope: Scope) -> bool:
    """Whether a request's body is read as it streams (API multipart uploads, blob writes)."""
    if scope.get("type") != "http" or scope.get("method") not in {"POST", "PUT"}:
        return False
    if scope["method"] == "PUT" and str(scope.get("path", "")).startswith(f"/{BLOB_ROOT}/"):
        return True
    if not str(scope.get("path", "")).lower().startswith("/v1.0/myorg/"):
        return False
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            return bool(value.lower().startswith(b"multipart/form-data"))
    return False


class BlobError(Exception):
    """An Azure Blob Storage error: status, error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclasses.dataclass
class Block:
    """One uploaded block: its size, first bytes and digest."""

    size: int
    head: bytes
    md5: bytes


@dataclasses.dataclass
class Blob:
    """A blob of the upload location: staged blocks, and what is committed."""

    name: str
    expires: float
    uncommitted: dict[str, Block] = dataclasses.field(default_factory=dict)
    committed: list[tuple[str, Block]] | None = None
    etag: str = ""
    last_modified: float = 0.0

    @property
    def size(self) -> int:
        """The committed content's length."""
        return sum(block.size for _, block in self.committed or [])

    @property
    def head(self) -> bytes:
        """The committed content's first bytes."""
        head = b""
        for _, block in self.committed or []:
            head += block.head
            if len(block.head) < block.size:
                break
        return head


class BlobStore:
    """The blobs handed out as upload locations, and their endpoint."""

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._blobs: dict[str, Blob] = {}

    def clear(self) -> None:
        """Forget every blob."""
        self._blobs.clear()

    def create(self, origin: str, lifetime: float) -> tuple[str, float]:
        """A new empty blob: its SAS URL (on `origin`) and when that expires."""
        name = f"{uuid.uuid4()}.pbix"
        expires = self._clock.now() + lifetime
        self._blobs[name] = Blob(name, expires)
        path = f"/{BLOB_ROOT}/{CONTAINER}/{name}"
        expiry = _sas_time(expires)
        start = _sas_time(self._clock.now())
        query = (
            f"sv={SERVICE_VERSION}&st={quote(start, safe='')}&se={quote(expiry, safe='')}"
            f"&sr=b&sp=rcw&sig={quote(self._signature(path, expiry), safe='')}"
        )
        return f"{origin}{path}?{query}", expires

    def committed(self, url: str) -> Blob:
        """The committed blob a SAS URL points at; raises BlobError if there is none."""
        parts = urlsplit(url)
        blob = self._authorise(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()})
        if blob.committed is None:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        return blob

    def _signature(self, path: str, expiry: str) -> str:
        mac = hmac.new(self._key, f"{path}\n{expiry}".encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    def _authorise(self, path: str, query: dict[str, str]) -> Blob:
        expiry, signature = query.get("se", ""), query.get("sig", "")
        if not hmac.compare_digest(signature.encode(), self._signature(path, expiry).encode()):
            raise BlobError(
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of "
                "Authorization header is formed correctly including the signature.",
            )
        blob = self._blobs.get(path.rsplit("/", 1)[-1])
        if blob is None:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        if self._clock.now() >= blob.expires:
            raise BlobError(
                403,
                "AuthenticationFailed",
                f"Signed expiry time [{_http_date(blob.expires)}] must be after signed start "
                f"time and current time [{_http_date(self._clock.now())}].",
            )
        return blob

    async def handle(self, request: HttpRequest) -> tuple[HttpResponse, dict[str, object]]:
        """The response to one request under `/_blob/`, and what to log about it."""
        details: dict[str, object] = {}
        request_id = str(uuid.uuid4())
        try:
            blob = self._authorise(request.raw_path, request.query)
            comp = request.query.get("comp")
            match request.method, comp:
                case "PUT", "block":
                    response = await self._put_block(request, blob, details)
                case "PUT", "blocklist":
                    response = await self._put_block_list(request, blob)
                case "PUT", None:
                    response = await self._put_blob(request, blob, details)
                case "GET", "blocklist":
                    response = self._get_block_list(blob)
                case "HEAD", None:
                    response = self._properties(blob)
                case _:
                    raise _unsupported()
        except BlobError as exc:
            response = _error(exc, request_id, self._clock)
        except BodyError as exc:
            response = _error(BlobError(400, "InvalidInput", str(exc)), request_id, self._clock)
        response.headers += [("x-ms-request-id", request_id), ("x-ms-version", SERVICE_VERSION)]
        return response, details

    async def _put_block(
        self, request: HttpRequest, blob: Blob, details: dict[str, object]
    ) -> HttpResponse:
        block_id = request.query.get("blockid", "")
        try:
            raw_id = base64.b64decode(block_id, validate=True)
        except (binascii.Error, ValueError):
            raw_id = b""
        if not block_id or not raw_id or len(raw_id) > MAX_BLOCK_ID_BYTES:
            raise BlobError(
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is "
                "invalid. blockid must be Base64, at most 64 bytes before encoding.",
            )
        lengths = {len(key) for key in blob.uncommitted} | {
            len(key) for key, _ in blob.committed or []
        }
        if lengths and lengths != {len(block_id)}:
            raise BlobError(
                400,
                "InvalidBlobOrBlock",
                "The specified blob or block content is invalid: every block id of a blob "
                "must have the same length.",
            )
        if block_id not in blob.uncommitted and len(blob.uncommitted) >= MAX_BLOCKS:
            raise BlobError(
                409, "BlockCountExceedsLimit", "The uncommitted block count cannot exceed 50,000."
            )
        block = await _receive(request, MAX_BLOCK_BYTES)
        blob.uncommitted[block_id] = block
        details["upload"] = {"block_id": block_id, "bytes": block.size}
        return HttpResponse(201, b"", [("Content-MD5", base64.b64encode(block.md5).decode())])

    async def _put_block_list(self, request: HttpRequest, blob: Blob) -> HttpResponse:
        body = await _body(request, MAX_BLOCK_LIST_BYTES)
        if b"<BlockList" not in body:
            raise BlobError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
        committed = dict(blob.committed or [])
        chosen: list[tuple[str, Block]] = []
        for kind, raw in _BLOCK_ENTRY.findall(body):
            block_id = raw.decode("latin-1")
            if kind == b"Committed":
                found = committed.get(block_id)
            elif kind == b"Uncommitted":
                found = blob.uncommitted.get(block_id)
            else:
                found = blob.uncommitted.get(block_id) or committed.get(block_id)
            if found is None:
                raise BlobError(400, "InvalidBlockList", "The specified block list is invalid.")
            chosen.append((block_id, found))
        if len(chosen) > MAX_BLOCKS:
            raise BlobError(
                409, "BlockCountExceedsLimit", "The committed block count cannot exceed 50,000."
            )
        blob.committed, blob.uncommitted = chosen, {}
        return self._written(blob)

    async def _put_blob(
        self, request: HttpRequest, blob: Blob, details: dict[str, object]
    ) -> HttpResponse:
        kind = request.headers.get("x-ms-blob-type")
        if kind is None:
            raise BlobError(
                400,
                "MissingRequiredHeader",
                "An HTTP header that's mandatory for this request is not specified: "
                "x-ms-blob-type.",
            )
        if kind != "BlockBlob":
            raise BlobError(
                400,
                "InvalidHeaderValue",
                "The value for one of the HTTP headers is not in the correct format: "
                "x-ms-blob-type (an upload location takes block blobs).",
            )
        block = await _receive(request, MAX_PUT_BLOB_BYTES)
        blob.committed, blob.uncommitted = [("", block)], {}
        details["upload"] = {"bytes": block.size}
        response = self._written(blob)
        response.headers.append(("Content-MD5", base64.b64encode(block.md5).decode()))
        return response

    def _written(self, blob: Blob) -> HttpResponse:
        blob.etag = f'"0x{secrets.token_hex(8).upper()}"'
        blob.last_modified = self._clock.now()
        return HttpResponse(
            201,
            b"",
            [("ETag", blob.etag), ("Last-Modified", _http_date(blob.last_modified)),
             ("x-ms-request-server-encrypted", "true")],
        )  # fmt: skip

    def _get_block_list(self, blob: Blob) -> HttpResponse:
        def listing(blocks: list[tuple[str, Block]]) -> str:
            return "".join(
                f"<Block><Name>{name}</Name><Size>{block.size}</Size></Block>"
                for name, block in blocks
            )

        xml = (
            '<?xml version="1.0" encoding="utf-8"?><BlockList>'
            f"<CommittedBlocks>{listing(blob.committed or [])}</CommittedBlocks>"
            f"<UncommittedBlocks>{listing(list(blob.uncommitted.items()))}</UncommittedBlocks>"
            "</BlockList>"
        )
        return HttpResponse(
            200, xml.encode(), [("Content-Type", "application/xml"),
                                ("x-ms-blob-content-length", str(blob.size))],
        )  # fmt: skip

    def _properties(self, blob: Blob) -> HttpResponse:
        if blob.committed is None:
            raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
        # Properties only: the emulator keeps no content, so the body is never sent.
        return HttpResponse.streamed(
            200,
            blob.size,
            (),
            [("ETag", blob.etag), ("Last-Modified", _http_date(blob.last_modified)),
             ("x-ms-blob-type", "BlockBlob"), ("Content-Type", "application/octet-stream")],
        )  # fmt: skip


def _unsupported() -> BlobError:
    return BlobError(
        405,
        "UnsupportedHttpVerb",
        "The resource doesn't support the specified HTTP verb (an upload location takes Put "
        "Block, Put Block List and Put Blob; it keeps no content to download).",
    )


async def _receive(request: HttpRequest, limit: int) -> Block:
    if request.stream is None:
        data = request.body
        return Block(len(data), data[:8], hashlib.md5(data, usedforsecurity=False).digest())
    digest = hashlib.md5(usedforsecurity=False)
    head = b""
    size = 0
    async for chunk in request.stream.chunks():
        size += len(chunk)
        if size > limit:
            raise BlobError(
                413, "RequestBodyTooLarge", f"The request body is too large: over {limit} bytes."
            )
        if len(head) < 8:  # noqa: PLR2004 - a file's magic number
            head += chunk[: 8 - len(head)]
        digest.update(chunk)
    return Block(size, head, digest.digest())


async def _body(request: HttpRequest, limit: int) -> bytes:
    if request.stream is None:
        return request.body
    try:
        return await request.stream.read(limit)
    except BodyError as exc:
        raise BlobError(413, "RequestBodyTooLarge", str(exc)) from None


def _error(exc: BlobError, request_id: str, clock: EmulatorClock) -> HttpResponse:
    moment = dt.datetime.fromtimestamp(clock.now(), dt.UTC).isoformat(timespec="microseconds")
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{exc.code}</Code><Message>{exc.message}\nRequestId:{request_id}\n"
        f"Time:{moment.replace('+00:00', 'Z')}</Message></Error>"
    )
    return HttpResponse(
        exc.status,
        xml.encode(),
        [("Content-Type", "application/xml"), ("x-ms-error-code", exc.code)],
    )


def _sas_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
