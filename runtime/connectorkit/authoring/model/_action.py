"""``actions/*.yaml``: one action of a pack, its inputs and the requests it makes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from connectorkit.authoring.model._base import InputKey, Part, described, ref
from connectorkit.authoring.model._input import ActionInput, Importance, ItemSchema, Unique

__all__ = [
    "DEFS",
    "Action",
    "ActionOpenApi",
    "Batch",
    "BatchInOrder",
    "Chunks",
    "Example",
    "ExpectedRequest",
    "FieldPath",
    "Gather",
    "InOrderRemembered",
    "LongRunning",
    "NextToken",
    "OperationStatus",
    "PageOffset",
    "Pages",
    "PollInterval",
    "Remember",
    "Request",
    "RequestEach",
    "Result",
    "RetryAfter",
    "RowTypes",
    "RowsDiscover",
    "SampleResponse",
    "Slice",
    "Stage",
    "StageColumns",
    "Step",
    "Upload",
    "UploadBlocks",
    "Words",
]

# Any JSON value: a template, a body.
_AnyJson = Annotated[Any, WithJsonSchema({})]
_Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_PATH = "^[/\\[]"

_FieldPath = Annotated[
    str,
    Field(
        min_length=1,
        description=(
            "A field of a JSON body: the whole text as one key first (@odata.nextLink), else a "
            "dotted path (error.code, reports.0.id)."
        ),
    ),
]
FieldPath = Annotated[str, Field(min_length=1), ref("action.schema.json#/$defs/field_path")]
_Words = Annotated[
    list[str | int],
    Unique,
    WithJsonSchema(
        {"type": "array", "items": {"type": ["string", "integer"]}, "uniqueItems": True}
    ),
]
# The words (or status codes) a service uses for one outcome.
Words = Annotated[list[str | int], Unique, ref("action.schema.json#/$defs/words")]


def _given(part: Part, *names: str) -> list[str]:
    """Which of these keys the document gives."""
    return [name for name in names if name in part.model_fields_set]


def _exactly_one(part: Part, names: tuple[str, ...]) -> None:
    given = _given(part, *names)
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(names)}, not {len(given)}")


class RowsDiscover(Part):
    """Where the service tells a table's columns."""

    model_config = described(
        "Where the service tells a table's columns: GET path, the list at"
        " items, the element whose fields equal match, its columns field."
    )

    path: str = Field(description="A path template under base_url.")
    items: str = Field(description="The field of the answer holding the list.")
    match: dict[str, str] = Field(
        description="Field -> template that the wanted element must equal."
    )
    columns: str = Field(description="The element's field holding its columns.")


class RowTypes(Part):
    """The column types rows are checked against."""

    model_config = described(
        "Check every element of the batch input against its table's "
        "column types before anything is sent.",
        title="Row types",
    )

    types: dict[str, dict[str, Any]] = Field(
        description=(
            "Column type name -> the small JSON Schema of its values (type, minimum, "
            "maximum, maxLength, format)."
        )
    )
    columns_input: InputKey | None = Field(
        None, description="The input holding the table's columns, when the caller gives them."
    )
    name_field: str | None = Field(
        None, description="The field of a column holding its name (default name)."
    )
    type_field: str | None = Field(
        None, description="The field of a column holding its type (default type)."
    )
    remember: list[str] | None = Field(
        None,
        min_length=1,
        description=(
            "Templates of the key under which an action's remember block kept the table's columns."
        ),
    )
    unchecked_input: InputKey | None = Field(
        None, description="The boolean input that lets rows go unchecked when no columns are known."
    )
    skip_input: InputKey | None = Field(
        None,
        description=(
            "The boolean input that skips bad rows (reported, not sent) instead of "
            "refusing the call."
        ),
    )
    discover: RowsDiscover | None = None


class ExpectedRequest(Part):
    """The request an example's inputs must produce."""

    model_config = described(
        "The request these inputs must produce, path relative to the connection's base_url.",
        title="Expected request",
    )

    method: _Method
    path: str = Field(pattern="^/", description="The path below base_url, escaped as it is sent.")
    query: dict[str, str | list[str]] | None = Field(
        None, description="Every query parameter sent, name to value (a list for a repeated name)."
    )
    headers: dict[str, str] | None = Field(
        None, description="Headers that must be sent with these values (others may be sent too)."
    )
    body: _AnyJson = Field(None, description="The JSON body sent; absent: no body.")


class SampleResponse(Part):
    """What the service answers in an example."""

    model_config = described(
        "What the service answers in the example (status 200 and no body when absent).",
        title="Sample response",
    )

    status: int | None = Field(None, ge=100, le=599)
    headers: dict[str, str] | None = None
    body: _AnyJson = Field(None, description="The JSON body of the answer.")


class Example(Part):
    """A worked example of an action."""

    model_config = ConfigDict(title="Example")

    title: str | None = Field(None, min_length=1, description="What the example shows.")
    inputs: dict[str, Any] = Field(
        description="The inputs of the call (the call inputs may be included)."
    )
    request: ExpectedRequest
    response: SampleResponse | None = None
    result: _AnyJson = Field(
        None, description="The action's result for that response; absent: only success is checked."
    )


class InOrderRemembered(Part):
    """A remembered value that asks for arrival order."""

    name: str = Field(description="The name of a remember block (of any action of the pack).")
    key: list[str] = Field(
        min_length=1, description="Templates over the inputs, as the remember block's key."
    )
    values: list[str] = Field(
        min_length=1, description="The remembered values that ask for arrival order."
    )


class BatchInOrder(Part):
    """When the chunks of a batch go one at a time."""

    model_config = described(
        "When chunks go one at a time, so that they arrive in their order"
        " (a table that drops its oldest rows by arrival): when the "
        "caller sets a boolean input, or when a value an action "
        "remembered is one of the listed ones."
    )

    input: str | None = Field(
        None, description="A boolean input of the action that asks for arrival order."
    )
    remembered: InOrderRemembered | None = None


class Batch(Part):
    """A request sent once per chunk of an array input."""

    model_config = described(
        "Send the request once per chunk of an array input, in order.", title="Batch"
    )

    input: InputKey = Field(description="The array input to split.")
    size: int = Field(ge=1, description="The most elements in one chunk.")
    max_bytes: int | None = Field(
        None,
        ge=64,
        description=(
            "The most bytes of encoded JSON body in one request; a chunk closes at "
            "size or at max_bytes, whichever comes first."
        ),
    )
    in_flight: int | None = Field(
        None,
        ge=1,
        le=64,
        description="How many chunks may be on their way at once (1: one after the other).",
    )
    rows: RowTypes | None = None
    in_order: BatchInOrder | None = None


class RequestEach(Part):
    """A request per item of a list in the answer."""

    model_config = described(
        "Then, for every item of a list in the answer, GET a path built "
        "from the item's fields; the result is those answers' lists "
        "joined into one.",
        title="Each",
    )

    items: str = Field(
        min_length=1, description="The key of the list in the first answer (e.g. value)."
    )
    path: str = Field(
        pattern="^/",
        description=(
            "The path of each item's request below base_url; {Field} is the item's "
            "field, escaped as one segment."
        ),
    )
    collect: str = Field(
        min_length=1,
        description=(
            "The key of the list in each item's answer; the result holds them all "
            "under the same key."
        ),
    )


class Request(Part):
    """The HTTP request an action makes."""

    model_config = ConfigDict(
        title="Request",
        json_schema_extra={
            "description": "The HTTP request, as templates over the inputs ({name}).",
            "if": {"not": {"required": ["hook"]}},
            "then": {"required": ["method", "path"]},
        },
    )

    method: _Method | None = Field(None, description="The HTTP method.")
    path: str | None = Field(
        None,
        pattern=_PATH,
        description=(
            "A path relative to the connection's base_url. {name} becomes one "
            "percent-escaped segment; a [part] is kept only when every input inside "
            "it has a value."
        ),
    )
    query: dict[str, Any] | None = Field(
        None,
        description=(
            "Query parameter name to template; a parameter whose value is absent is left out."
        ),
    )
    headers: dict[str, str] | None = Field(None, description="Header name to template.")
    body: _AnyJson = Field(
        None,
        description=(
            'A JSON template sent as application/json; "{name}" alone keeps the input\'s JSON type.'
        ),
    )
    multipart: dict[str, Any] | None = Field(
        None,
        description=(
            "A multipart/form-data body: part name to template. A file input "
            '("{file}") becomes a file part streamed from disk, anything else a text '
            "field; a part whose value is absent is left out. With body also "
            "declared, the form is sent when one of its parts has a value, else the "
            "body."
        ),
    )
    content: str | None = Field(
        None,
        pattern="^\\{[a-z][a-z0-9_]*\\}$",
        description=(
            '"{file}": a file input sent as the raw body, streamed from disk '
            "(Content-Type from the file, or from headers)."
        ),
    )
    batch: Batch | None = None
    hook: str | None = Field(
        None,
        description=(
            "A request built in Python instead (raw_request); method and path are then ignored."
        ),
    )
    each: RequestEach | None = None

    @model_validator(mode="after")
    def _method_and_path(self) -> Request:
        if self.hook is None:
            missing = [name for name in ("method", "path") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"a request without hook needs {' and '.join(missing)}")
        return self


class Slice(Part):
    """A list the service returns whole, paged by the runtime."""

    model_config = described(
        "Page a list the service returns whole: skip `offset` items of "
        "body[items], keep at most `limit`.",
        title="Slice",
    )

    items: str = Field(min_length=1, description="The body key holding the list (e.g. value).")
    offset: InputKey | None = Field(
        None, description="The integer input that says how many items to skip."
    )
    limit: InputKey | None = Field(
        None, description="The integer input that says how many items to keep at most."
    )


class Result(Part):
    """How the response becomes the action's result."""

    model_config = described(
        "How the response becomes the action's result; absent: the parsed response body.",
        title="Result",
    )

    slice: Slice | None = None
    template: _AnyJson = Field(
        None, description="A JSON template over $body, $status and the inputs."
    )
    encoding: Annotated[Literal["base64"], WithJsonSchema({"enum": ["base64"]})] | None = Field(
        None,
        description=(
            'base64: the response body is a file, returned as {"encoding": "base64", '
            '"content_type": …, "data": …} (the same as file: true).'
        ),
    )
    file: Annotated[Literal[True], WithJsonSchema({"const": True})] | None = Field(
        None,
        description=(
            "The final response's body is a file: streamed to the save_to input's "
            "path (result: saved_to, size, content_type, sha256), or returned as "
            "base64 below a cap."
        ),
    )


class Step(Part):
    """One more request of a call."""

    model_config = ConfigDict(
        title="Request block",
        json_schema_extra={
            "description": (
                "One more request: method, path (under base_url) or url "
                "(absolute, e.g. {location}), query, headers, body or text; or "
                "another action of the pack with its inputs. Templates name the "
                "inputs, the kept values and the response at hand ($body, "
                "$body.a.b, $headers.Name, $status)."
            ),
            "oneOf": [
                {
                    "required": ["path"],
                    "not": {"anyOf": [{"required": ["url"]}, {"required": ["action"]}]},
                },
                {
                    "required": ["url"],
                    "not": {"anyOf": [{"required": ["path"]}, {"required": ["action"]}]},
                },
                {
                    "required": ["action"],
                    "not": {
                        "anyOf": [
                            {"required": ["path"]},
                            {"required": ["url"]},
                            {"required": ["method"]},
                            {"required": ["query"]},
                            {"required": ["headers"]},
                            {"required": ["body"]},
                            {"required": ["text"]},
                            {"required": ["service"]},
                        ]
                    },
                },
            ],
        },
    )

    method: _Method | None = None
    path: str | None = Field(None, pattern=_PATH, description="A path template under base_url.")
    url: str | None = Field(
        None,
        pattern="^\\{",
        description=(
            "An absolute URL template, e.g. {location} or {$headers.Location}; "
            "credentials go with it only to base_url's origin."
        ),
    )
    query: dict[str, Any] | None = Field(None, description="Query parameter name to template.")
    headers: dict[str, str] | None = Field(None, description="Header name to template.")
    body: _AnyJson = Field(None, description="A JSON template sent as application/json.")
    text: str | None = Field(
        None, description="A text template sent as the body (give its Content-Type in headers)."
    )
    action: InputKey | None = Field(
        None, description="Send this action's request instead (its rate budgets apply)."
    )
    inputs: dict[str, Any] | None = Field(
        None, description="The other action's inputs, as templates."
    )
    service: InputKey | None = Field(
        None,
        description=(
            "A service of connector.yaml's services: the path is under its base_url, "
            "and its token goes with the request."
        ),
    )

    @model_validator(mode="after")
    def _one_target(self) -> Step:
        _exactly_one(self, ("path", "url", "action"))
        if self.action is not None:
            beside = _given(self, "method", "query", "headers", "body", "text", "service")
            if beside:
                raise ValueError(f"a request block with action takes no {', '.join(beside)}")
        return self


class OperationStatus(Part):
    """The service's words for each outcome of an operation."""

    model_config = described(
        "The service's words for each outcome; an unlisted word counts as running."
    )

    at: str = Field(
        min_length=1,
        description=(
            "The field of the poll's body holding the status word, or $status (the "
            "HTTP status code)."
        ),
    )
    running: Words | None = None
    succeeded: Words
    failed: Words | None = None
    cancelled: Words | None = None


class PollInterval(Part):
    """The pauses between polls."""

    model_config = described("The pauses between polls when the service sends no Retry-After.")

    first_s: float | None = Field(
        None, gt=0, description="The first pause between polls (default 5)."
    )
    backoff: float | None = Field(
        None, ge=1, description="Each pause is this many times the one before (default 1.5)."
    )
    max_s: float | None = Field(None, gt=0, description="The longest pause (default 60).")


class RetryAfter(Part):
    """The bounds within which a poll's Retry-After is honoured."""

    model_config = described("A poll's Retry-After is honoured within these bounds.")

    min_s: float | None = Field(None, ge=0, description="default 1")
    max_s: float | None = Field(None, gt=0, description="default 300")


class LongRunning(Part):
    """An operation polled until it ends."""

    model_config = described(
        "The first answer starts an operation, polled until it ends; not "
        "waiting (or the call's Timeout coming first) returns an "
        "operation handle that any worker resumes.",
        title="Long-running operation",
    )

    started: list[Annotated[int, Field(ge=200, le=299)]] | None = Field(
        None,
        min_length=1,
        description=(
            "The statuses that mean: started, poll it (default [202]). Any other "
            "success is the end at once."
        ),
    )
    keep: dict[str, str] | None = Field(
        None,
        description=(
            "Name to template over the first response ($body.id, $headers.Location, "
            "{a|b} for the first that has a value) and the inputs: what identifies "
            "the operation, kept in its handle; later templates use the names like "
            "inputs."
        ),
    )
    poll: Step = Field(description="The request that asks how the operation goes.")
    status: OperationStatus
    progress: FieldPath | None = Field(None, description="The field holding the percentage done.")
    error: FieldPath | None = Field(
        None, description="The field holding a failed operation's details."
    )
    interval: PollInterval | None = None
    retry_after: RetryAfter | None = None
    result: Step | None = Field(
        None,
        description=(
            "The request that fetches the result, over the last poll's response; "
            "absent (or a value it needs absent): the last poll's body."
        ),
    )
    cancel: Step | None = Field(None, description="The request that cancels the operation.")
    timeout_s: float | None = Field(
        None, gt=0, description="The longest the operation may run, since it started."
    )
    wait: bool | None = Field(None, description="The default of the wait input (default true).")


class NextToken(Part):
    """Pages asked for by a continuation token."""

    at: FieldPath = Field(description="The field holding the continuation token.")
    query: str = Field(min_length=1, description="The query parameter that sends it back.")


class PageOffset(Part):
    """Pages asked for by the count of items to skip."""

    query: str = Field(
        min_length=1, description="The query parameter counting the items to skip ($skip)."
    )
    size_query: str | None = Field(
        None, min_length=1, description="The query parameter asking for a page size ($top)."
    )
    size: int = Field(ge=1, description="The page size asked for; a shorter page is the last.")


class Pages(Part):
    """An answer that is one page of a list."""

    model_config = ConfigDict(
        title="Pages",
        json_schema_extra={
            "description": (
                "The answer is one page of a list; all_pages follows the next "
                "ones (max_items, continuation, stream)."
            ),
            "oneOf": [
                {
                    "required": ["next_url"],
                    "not": {"anyOf": [{"required": ["next_token"]}, {"required": ["offset"]}]},
                },
                {
                    "required": ["next_token"],
                    "not": {"anyOf": [{"required": ["next_url"]}, {"required": ["offset"]}]},
                },
                {
                    "required": ["offset"],
                    "not": {"anyOf": [{"required": ["next_url"]}, {"required": ["next_token"]}]},
                },
            ],
        },
    )

    items: str = Field(description='The field holding the page\'s list ("": the body is the list).')
    next_url: FieldPath | None = Field(
        None,
        description=(
            "The field holding the next page's whole URL (@odata.nextLink, continuationUri)."
        ),
    )
    next_token: NextToken | None = None
    offset: PageOffset | None = None
    last: FieldPath | None = Field(
        None, description="The field that is true on the last page (lastResultSet)."
    )
    all: bool | None = Field(None, description="The default of all_pages (default false).")

    @model_validator(mode="after")
    def _one_way(self) -> Pages:
        _exactly_one(self, ("next_url", "next_token", "offset"))
        return self


class UploadBlocks(Part):
    """A file PUT in blocks."""

    size: int | None = Field(None, ge=1, description="Bytes per block (default 4 MiB).")
    put: Step = Field(
        description=(
            "The request of one block: {$upload.url}, {$block.id} (base64 of its "
            "zero-padded number), {$block.number}."
        )
    )
    commit: Step | None = Field(
        None, description="The request that commits the blocks; its text may hold {$blocks}."
    )
    each: str | None = Field(
        None, description="How one block appears in {$blocks} (default {$block.id})."
    )


class Upload(Part):
    """A large file sent first to a location the service hands out."""

    model_config = described(
        "A large file goes first to a location the service hands out, PUT"
        " in blocks; then the action's request is sent with the location "
        "instead of the file.",
        title="Upload location",
    )

    input: InputKey = Field(description="The file input.")
    above_bytes: int = Field(ge=0, description="Files larger than this go through the location.")
    mode_input: InputKey | None = Field(
        None, description="An input (auto, always, never) that overrides the size rule."
    )
    location: Step = Field(description="The request that hands out the location.")
    url: FieldPath = Field(description="The field of its answer holding the URL.")
    blocks: UploadBlocks
    then: dict[str, Any] = Field(
        description=(
            "Input to template over $upload.url: the inputs the action's request is "
            "sent with in place of the file."
        )
    )


class StageColumns(Part):
    """Where the table's columns are known."""

    model_config = described(
        "Where the table's columns are known: rows are checked against "
        "them before anything is written."
    )

    delta_log: Step = Field(
        description=(
            "The GET of one commit of the table's Delta log: {$delta.version} is its "
            "zero-padded number. The newest metaData names the columns; no first "
            "commit: the table is new, and not checked."
        )
    )
    types: dict[str, dict[str, Any]] = Field(
        description=(
            "Column type -> the small JSON Schema of its values (type, minimum, "
            "maximum, maxLength, pattern); a type not listed takes any value."
        )
    )
    when: dict[str, list[Any]] | None = Field(
        None,
        description=(
            "Input -> the values for which rows are checked (e.g. mode: [Append]); absent: always."
        ),
    )


class Stage(Part):
    """Rows (or a file) written first as a file."""

    model_config = described(
        "Rows (or a file) written first as a file, through a create, an "
        "append per chunk and a flush (the protocol of a data lake's file "
        "system); then the action's request is sent with"
        " `then` in place of the rows. Templates may name {$stage.name} "
        "(a new file name per call), {$chunk.offset}, {$stage.size} and "
        "{$stage.rows}.",
        title="Staged file",
    )

    rows: InputKey = Field(
        description=(
            "The array input of rows (objects), written as CSV: a header of the "
            "columns, then a line per row."
        )
    )
    file: InputKey | None = Field(
        None, description="A file input (CSV with a header) sent as it is, instead of rows."
    )
    chunk_bytes: int | None = Field(
        None, ge=1, description="Bytes per append request (default 4 MiB)."
    )
    name: str | None = Field(
        None,
        min_length=1,
        description=(
            "The file's name, a template over the inputs (e.g. {job_id}.csv): a call "
            "with the same inputs writes the same file again. Absent, or its inputs "
            "not given: a new UUID per call, .csv."
        ),
    )
    columns: StageColumns | None = None
    create: Step = Field(description="The request that creates the file (empty).")
    append: Step = Field(description="The request of one chunk, at {$chunk.offset}.")
    flush: Step = Field(
        description="The request that commits the file at its length, {$stage.size}."
    )
    then: dict[str, Any] = Field(
        description=(
            "Input -> template: the inputs the action's request is sent with in place"
            " of the rows and the file."
        )
    )


class Gather(Part):
    """Where the list comes from when the caller gives none."""

    model_config = described(
        "When the caller gives no list: the request (usually another "
        "action) whose answer gives it.",
        title="Gather",
    )

    action: InputKey | None = None
    inputs: dict[str, Any] | None = None
    method: Literal["GET", "POST"] | None = None
    path: str | None = Field(None, pattern=_PATH)
    query: dict[str, Any] | None = None
    items: str | None = Field(
        None, description='The field holding the list ("": the body is the list).'
    )
    value: FieldPath | None = Field(
        None, description="The field of each element that is the value (absent: the element)."
    )


class Chunks(Part):
    """A request (and its operation) once per slice of a list input."""

    model_config = described(
        "Send the request (and follow its operation) once per slice of a "
        "list input; merge the results.",
        title="Chunks",
    )

    input: InputKey = Field(description="The array input to slice.")
    size: int = Field(ge=1, description="The most elements per request.")
    at_once: int | None = Field(
        None, ge=1, le=64, description="How many operations may run at once (default 1)."
    )
    gather: Gather | None = None
    merge: list[FieldPath] | None = Field(
        None,
        description=(
            "The list fields of each result joined into one result (absent: a list of the results)."
        ),
    )


class ActionOpenApi(Part):
    """The operations of the OpenAPI document an action stands for."""

    model_config = described(
        "The operations of the pack's OpenAPI document this action stands for.",
        title="OpenAPI operations",
    )

    operations: Annotated[list[Annotated[str, Field(min_length=1)]], Unique] = Field(
        min_length=1,
        description=(
            "operationIds: the variant without the optional prefix first, then the one with it."
        ),
        json_schema_extra={"uniqueItems": True},
    )
    generated: bool | None = Field(
        None,
        description=(
            "true: written by import-openapi, which may renew the request and the "
            "inputs' types (labels, comments, defaults and examples are kept). Absent"
            " or false: hand-written, never touched by the importer."
        ),
    )


class Remember(Part):
    """A value kept after a success, for later actions."""

    key: list[str] = Field(
        min_length=1, description="Templates over the inputs and $body that name what is kept."
    )
    value: _AnyJson = Field(description="The template of the value kept.")


class Action(Part):
    """One action of a pack (``actions/<key>.yaml``)."""

    model_config = described(
        "One action of a pack: its typed inputs and the HTTP request it makes.",
        title="connectorkit action",
    )

    key: InputKey = Field(
        description=(
            "The action's name in a request's `action`; equals the file name without .yaml."
        )
    )
    label: str = Field(min_length=1, description="The action's name as a designer shows it.")
    description: str = Field(min_length=1, description="What the action does (Markdown allowed).")
    importance: Importance | None = Field(
        None,
        description=(
            "How a designer lists it: important actions first; advanced ones (rarely "
            "needed, or for administrators) last; internal ones not at all (another "
            "action's choices may still use them)."
        ),
    )
    service: InputKey | None = Field(
        None,
        description=(
            "A service of connector.yaml's services that this action's request goes "
            "to: its path is under that service's base_url, with a token for that "
            "service's scope."
        ),
    )
    group: str | None = Field(
        None,
        min_length=1,
        description=(
            "The operation group a designer finds the action under (e.g. Datasets); "
            "describe and docs list actions by group."
        ),
    )
    openapi: ActionOpenApi | None = None
    inputs: list[ActionInput] | None = Field(
        None,
        description=(
            "The action's inputs, in the order a designer shows them. The call inputs"
            " of connector.yaml are appended."
        ),
    )
    request: Request
    result: Result | None = None
    long_running: LongRunning | None = None
    pages: Pages | None = None
    upload: Upload | None = None
    chunks: Chunks | None = None
    stage: Stage | None = None
    remember: dict[str, Remember] | None = Field(
        None,
        description=(
            "After a success, values kept for later actions (e.g. a table's columns, "
            "which Create Rows checks rows against)."
        ),
    )
    returns: ItemSchema | None = Field(
        None,
        description=(
            "The shape of the action's result (a small JSON Schema), shown to "
            "designers; not enforced."
        ),
    )
    examples: list[Example] | None = Field(
        None,
        description=(
            "Worked examples: inputs, the exact request they produce and a sample "
            "response. validate and the pytest plugin run each one; describe and docs"
            " show them."
        ),
    )


# The published definitions of action.schema.json, by name.
DEFS: dict[str, Any] = {
    "row_types": RowTypes,
    "example": Example,
    "request": Request,
    "result": Result,
    "field_path": _FieldPath,
    "step": Step,
    "words": _Words,
    "long_running": LongRunning,
    "pages": Pages,
    "upload": Upload,
    "stage": Stage,
    "chunks": Chunks,
}
