"""A large file through an upload location: ask for a URL, PUT the file in blocks, go on.

What the pack's ``upload`` block declares, carried out before the action's own request: the
location request, one PUT per block (a block read from disk when it is sent, so memory holds
one block; a PUT is safe to retry), the commit of the blocks, then the inputs of ``then`` in
place of the file input.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import HttpError
from connectorkit.core._template import ABSENT, render_value
from connectorkit.http._responses import parse_body
from connectorkit.operations._files import file_source
from connectorkit.operations._scope import Scope, field_at

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

    from connectorkit.operations._steps import Rendered, StepRenderer
    from connectorkit.pack._multistep import UploadDef

__all__ = ["block_id", "upload_first"]

log = logging.getLogger("connectorkit")


def block_id(number: int) -> str:
    """The id of block ``number``: base64 of the number, zero-padded (all ids one length)."""
    return base64.b64encode(f"{number:08d}".encode()).decode("ascii")


def _wanted(upload: UploadDef, inputs: Mapping[str, Any], size: int) -> bool:
    mode = str(inputs.get(upload.mode_input) or "auto") if upload.mode_input else "auto"
    if mode == "never":
        return False
    return mode == "always" or size > upload.above_bytes


def upload_first(
    renderer: StepRenderer,
    send: Callable[[Rendered], httpx.Response],
    action: str,
    upload: UploadDef,
    inputs: Mapping[str, Any],
) -> Mapping[str, Any]:
    """The inputs of the action's request: as given, or with the file uploaded in blocks.

    ``send`` sends a rendered step through the call (its retries, auth, rate budgets).
    """
    value = inputs.get(upload.input)
    if not isinstance(value, dict):
        return inputs
    source = file_source(upload.input, value)
    if not _wanted(upload, inputs, source.size):
        return inputs
    location = renderer.render(upload.location, Scope(inputs))
    if location is None:  # pragma: no cover - a location step is a path or an action
        return inputs
    answer = parse_body(send(location))
    url = field_at(answer, upload.url)
    if not isinstance(url, str) or not url:
        raise HttpError(
            f"the upload location's answer has no URL at '{upload.url}'",
            status=None,
            code="upload_location_missing",
        )
    names = {**inputs, "$upload.url": url}
    ids: list[str] = []
    offset = 0
    while offset < source.size or not ids:
        size = min(upload.block_size, source.size - offset)
        number = len(ids)
        scope = Scope({**names, "$block.id": block_id(number), "$block.number": number})
        put = renderer.render(upload.put, scope)
        if put is None:  # pragma: no cover - the put step's URL is the location
            break
        put.spec.upload = source.block(offset, size)
        put.spec.credentials = False  # the location carries its own (a signed URL)
        send(put)
        ids.append(block_id(number))
        offset += size
    if upload.commit is not None:
        listed = "".join(
            str(render_value(upload.each_block, {"$block.id": i, "$block.number": n}))
            for n, i in enumerate(ids)
        )
        commit = renderer.render(upload.commit, Scope({**names, "$blocks": listed}))
        if commit is not None:
            commit.spec.credentials = False
            send(commit)
    log.info("%s: %d bytes uploaded in %d blocks", action, source.size, len(ids))
    then = {
        key: rendered
        for key, template in upload.then.items()
        if (rendered := render_value(template, Scope(names))) is not ABSENT
    }
    return {**{k: v for k, v in inputs.items() if k != upload.input}, **then}
