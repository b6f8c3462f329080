"""The shipped Power BI pack keeps to the protocol, the reference actions and the swagger.

What the pack was written from is brought in as data: the reference's labels below, the
digests of its sentences (tests/data/reference_sentences.txt) and of Microsoft's swagger.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache

import pytest

from conftest import PACK, ROOT, envelope_validator

PROTOCOL = ROOT / "docs" / "protocol.md"
# Microsoft's Power BI REST API swagger as published (MIT), byte for byte.
SWAGGER_SHA256 = "5bb57f9c01e09cb24a1a60d396b297061abb0f333c289f607e6f8c92019e7182"

# The protocol's table of the hand-written actions: action -> (required inputs, optional inputs).
CONTRACT_INPUTS = {
    "create_dataset": (
        {"dataset_name", "table_name", "columns"},
        {"group_id", "default_retention_policy"},
    ),
    "create_rows": ({"dataset_id", "table_name", "rows"}, {"group_id"}),
    "delete_rows": ({"dataset_id", "table_name"}, {"group_id"}),
    "list_datasets": (set(), {"top", "page_offset", "group_id"}),
    "list_groups": (set(), {"top", "page_offset"}),
    "list_reports": (set(), {"top", "page_offset", "group_id"}),
    "list_tables": ({"dataset_id"}, {"top", "page_offset", "group_id"}),
    "update_table": ({"dataset_id", "table_name", "columns"}, {"group_id"}),
    "raw_request": (
        set(),
        {
            "url",
            "method",
            "data",
            "form_data",
            "file_data",
            "file_data_file_names",
            "query_params",
            "headers",
            "response_type",
            "timeout",
            "debug_request",
            "retry_delay_ms",
            "retry_on_all_errors",
            "max_retry_count",
            "use_exponential_backoff",
        },
    ),
}
CALL_INPUTS = {
    "timeout",
    "debug_request",
    "retry_delay_ms",
    "retry_on_all_errors",
    "max_retry_count",
    "use_exponential_backoff",
    # The bounds of a call beyond the core list (docs/limits.md, docs/protocol.md).
    "max_retry_wait_ms",
    "max_response_bytes",
}

# The reference's labels: action -> (label, {input key: label}).
REFERENCE_LABELS = {
    "create_dataset": (
        "Create Dataset",
        {"dataset_name": "Dataset Name", "columns": "Columns", "table_name": "Table Name"},
    ),
    "create_rows": (
        "Create Rows",
        {"dataset_id": "Dataset ID", "table_name": "Table Name", "rows": "Rows"},
    ),
    "delete_rows": ("Delete Rows", {"dataset_id": "Dataset ID", "table_name": "Table Name"}),
    "list_datasets": ("List Datasets", {"top": "Top", "page_offset": "Page Offset"}),
    "list_groups": ("List Groups", {"top": "Top", "page_offset": "Page Offset"}),
    "list_reports": ("List Reports", {"top": "Top", "page_offset": "Page Offset"}),
    "list_tables": (
        "List Tables",
        {"dataset_id": "Dataset ID", "top": "Top", "page_offset": "Page Offset"},
    ),
    "raw_request": (
        "Raw Request",
        {
            "url": "URL",
            "method": "Method",
            "data": "Data",
            "form_data": "Form Data",
            "file_data": "File Data",
            "file_data_file_names": "File Data File Names",
            "query_params": "Query Parameter",
            "headers": "Header",
            "response_type": "Response Type",
            "timeout": "Timeout",
            "debug_request": "Debug Request",
            "retry_delay_ms": "Retry Delay (ms)",
            "retry_on_all_errors": "Retry On All Errors",
            "max_retry_count": "Max Retry Count",
            "use_exponential_backoff": "Use Exponential Backoff",
        },
    ),
    "update_table": (
        "Update Table",
        {"dataset_id": "Dataset ID", "table_name": "Table Name", "columns": "Columns"},
    ),
}

SWAGGER_PREFIX = "/v1.0/myorg"


@cache
def swagger():
    return json.loads((PACK / "openapi" / "powerbi-swagger.json").read_text(encoding="utf-8"))


def operations(pack, *, curated=True):
    """action -> the swagger operations it declares (My workspace first, then the group one).

    The curated actions' requests are checked in detail here; every action's, generated ones
    included, by the conformance suite against the swagger (`pytest connector.yaml`).
    """
    return {
        key: a.operations
        for key, a in pack.actions.items()
        if a.operations and (not curated or key in CONTRACT_INPUTS)
    }


def test_every_swagger_operation_is_an_action_exactly_once(pack):
    declared = [op for ops in operations(pack, curated=False).values() for op in ops]
    ids = [
        op["operationId"]
        for item in swagger()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(ids) == 286
    assert sorted(declared) == sorted(ids)


def test_the_swagger_is_microsofts_unchanged():
    shipped = (PACK / "openapi" / "powerbi-swagger.json").read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == SWAGGER_SHA256


def operation(operation_id):
    """(METHOD, path below /v1.0/myorg, operation) of a swagger operation."""
    for path, methods in swagger()["paths"].items():
        for method, op in methods.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return method.upper(), path.removeprefix(SWAGGER_PREFIX), op
    raise KeyError(operation_id)


def resolve(schema):
    while "$ref" in schema:
        schema = swagger()["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def as_swagger_path(template, *, group):
    """Our path template in the swagger's spelling, with or without the optional parts."""
    path = re.sub(r"\[([^\]]*)\]", r"\1" if group else "", template)
    return re.sub(r"\{([a-z_]+)\}", lambda m: "{" + camel(m.group(1)) + "}", path)


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# Optional inputs docs/protocol.md documents as extensions (push jobs).
EXTENSION_INPUTS = {
    "create_rows": {
        "columns",
        "job_id",
        "unknown_batches",
        "skip_bad_rows",
        "send_unchecked",
        "keep_order",
    },
    "list_groups": {"filter"},
}


def test_the_contract_actions_keep_exactly_their_inputs(pack):
    # The pack has many more actions (one per swagger operation); the contract's nine are curated.
    assert set(CONTRACT_INPUTS) <= set(pack.actions)
    for key in CONTRACT_INPUTS:
        assert pack.actions[key].file.read_text().count("generated: true") == 0, key
    for key, (required, optional) in CONTRACT_INPUTS.items():
        inputs = {i.key: i for i in pack.actions[key].inputs}
        # Every action also accepts the call inputs (the contract lists them under raw_request).
        # Every action also accepts the call inputs connector.yaml declares.
        calls = {k for k, i in inputs.items() if i.call_input}
        assert calls >= CALL_INPUTS
        added = EXTENSION_INPUTS.get(key, set())
        assert set(inputs) == required | optional | calls | added, key
        assert not any(inputs[k].required for k in added), key
        assert {k for k, i in inputs.items() if i.required} == required, key


def test_the_actions_table_is_the_one_in_docs_protocol_md():
    text = PROTOCOL.read_text(encoding="utf-8")
    for key, (required, optional) in CONTRACT_INPUTS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
        cell = re.sub(r"\([^()]*\)", "", row.split("|")[2])  # drop the notes in parentheses
        bold = set(re.findall(r"\*\*`([a-z_]+)`\*\*", cell))
        named = set(re.findall(r"`([a-z_]+)`", cell))
        assert (bold, named - bold) == (required, optional), key


def test_labels_are_the_reference_labels(pack):
    for key, (label, inputs) in REFERENCE_LABELS.items():
        action = pack.actions[key]
        assert action.label == label
        for input_key, input_label in inputs.items():
            declared = action.input(input_key)
            assert declared is not None
            assert declared.label == input_label, (key, input_key)


def test_requests_match_the_swagger_in_both_workspaces(pack):
    for key, operation_ids in operations(pack).items():
        request = pack.actions[key].request
        assert request.hook is None
        rendered = [as_swagger_path(request.path, group=False)]
        if "[" in request.path:
            rendered.append(as_swagger_path(request.path, group=True))
        expected = [operation(op)[:2] for op in operation_ids]
        assert [(request.method, path) for path in rendered] == expected, key
        assert ("group_id" in {i.key for i in pack.actions[key].inputs}) == (len(expected) == 2)


def test_query_parameters_are_the_swaggers(pack):
    for key, operation_ids in operations(pack).items():
        request = pack.actions[key].request
        for op_id in operation_ids:
            params = operation(op_id)[2].get("parameters", [])
            query = {p["name"] for p in params if p.get("in") == "query"}
            assert set(request.query) <= query, (key, op_id)
    assert dict(pack.actions["list_groups"].request.query) == {
        "$top": "{top}",
        "$skip": "{page_offset}",
        "$filter": "{filter}",
    }
    assert dict(pack.actions["create_dataset"].request.query) == {
        "defaultRetentionPolicy": "{default_retention_policy}",
    }
    # The swagger gives these no paging parameters: the runtime pages the whole list instead.
    for key in ("list_datasets", "list_reports", "list_tables"):
        action = pack.actions[key]
        assert dict(action.request.query) == {}
        assert action.result.slice is not None
        assert (
            action.result.slice.items,
            action.result.slice.offset,
            action.result.slice.limit,
        ) == ("value", "page_offset", "top")


def test_bodies_use_the_swagger_properties(pack):
    for key, operation_ids in operations(pack).items():
        body = pack.actions[key].request.body
        params = operation(operation_ids[0])[2].get("parameters", [])
        schema = next((p["schema"] for p in params if p.get("in") == "body"), None)
        if schema is None:
            assert body is None, key
            continue
        schema = resolve(schema)
        assert set(body) <= set(schema["properties"]), key
        assert set(schema.get("required", [])) <= set(body), key
    dataset = pack.actions["create_dataset"].request.body
    assert dataset["defaultMode"] == "Push"
    assert dataset["tables"] == [{"name": "{table_name}", "columns": "{columns}"}]
    table_schema = resolve(swagger()["definitions"]["Table"])
    assert set(dataset["tables"][0]) <= set(table_schema["properties"])
    batch = pack.actions["create_rows"].request.batch
    assert batch is not None
    assert (batch.input, batch.size) == ("rows", 10_000)  # the service's limit per POST


def test_column_and_enum_definitions_follow_the_swagger(pack):
    column = swagger()["definitions"]["Column"]
    columns = pack.actions["create_dataset"].input("columns")
    assert columns is not None
    assert columns.items is not None
    assert set(columns.items["properties"]) == set(column["properties"])
    assert list(columns.items["required"]) == column["required"]
    assert list(columns.items["properties"]["dataType"]["enum"]) == [
        "Int64",
        "Double",
        "Boolean",
        "DateTime",
        "String",
        "Decimal",
    ]
    policy = pack.actions["create_dataset"].input("default_retention_policy")
    assert policy is not None
    params = operation("Datasets_PostDataset")[2]["parameters"]
    retention = next(p for p in params if p["name"] == "defaultRetentionPolicy")
    assert list(policy.enum or ()) == retention["enum"]


def test_reference_defaults_and_ranges(pack):
    raw = pack.actions["raw_request"]

    def field(key, name):
        declared = raw.input(key)
        assert declared is not None
        return getattr(declared, name)

    assert field("url", "default") == "/imports"
    assert field("response_type", "default") == "json"
    assert field("response_type", "enum") == ("json", "text", "binary")
    assert field("debug_request", "default") is False
    assert field("retry_delay_ms", "default") == 0
    assert field("max_retry_count", "default") == 0
    assert field("retry_on_all_errors", "default") is False
    assert field("use_exponential_backoff", "default") is False
    top = pack.actions["list_datasets"].input("top")
    offset = pack.actions["list_datasets"].input("page_offset")
    assert top is not None
    assert offset is not None
    assert (top.minimum, top.maximum, offset.minimum) == (1, 1000, 0)


def test_group_id_and_service_principal_warn_about_my_workspace(pack):
    group_id = pack.actions["list_datasets"].input("group_id")
    assert group_id is not None
    assert "My workspace" in group_id.comments
    assert "service principal" in group_id.comments
    assert "client_credentials" in group_id.comments
    assert "My workspace" in pack.connections["client_credentials"].description


def test_connections(pack):
    # The defaults are built from the connection's cloud (public unless said otherwise): what the
    # public cloud builds is what the reference gives.
    public = dict(pack.value_sets["cloud"]["public"])
    assert public == {
        "authority": "https://login.microsoftonline.com",
        "api_url": "https://" + swagger()["host"],
        "resource": "https://analysis.windows.net/powerbi/api",
        "federated_audience": "api://AzureADTokenExchange",  # the federated connection's
    }

    def built(value):
        return value.default.format(**public, tenant_id="{tenant_id}")

    user = {v.key: v for v in pack.connections["oauth2"].values}
    assert pack.connections["oauth2"].grant == "authorization_code"
    assert user["tenant_id"].default == "common"
    assert user["cloud"].default == "public"
    assert built(user["authorize_url"]) == (
        "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/authorize"
    )
    assert built(user["token_url"]) == (
        "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
    )
    assert built(user["scopes"]).split() == [
        "https://analysis.windows.net/powerbi/api/Dataset.ReadWrite.All",
        "offline_access",
    ]
    assert "offline_access" in user["scopes"].comments
    assert "refresh token" in user["scopes"].comments
    assert "v1" in user["authorize_url"].comments  # why not the reference's v1 endpoint
    assert built(user["base_url"]) == "https://" + swagger()["host"] + SWAGGER_PREFIX
    assert user["token_leeway"].default == 60
    assert {k for k, v in user.items() if v.required} == {"client_id", "client_secret"}
    assert {k for k, v in user.items() if v.secret} == {"client_secret"}

    sp = {v.key: v for v in pack.connections["client_credentials"].values}
    assert pack.connections["client_credentials"].grant == "client_credentials"
    assert {k for k, v in sp.items() if v.required} == {"tenant_id", "client_id", "client_secret"}
    assert built(sp["scopes"]) == "https://analysis.windows.net/powerbi/api/.default"
    assert sp["token_url"].default == user["token_url"].default
    assert {k for k, v in sp.items() if v.secret} == {"client_secret"}


def words(text):
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def digest(text):
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def reference_sentences():
    """(number of words, digest) of each sentence of eight words or more of the reference."""
    lines = (ROOT / "tests" / "data" / "reference_sentences.txt").read_text(encoding="utf-8")
    rows = [line.split() for line in lines.splitlines() if not line.startswith("#")]
    return {(int(count), hexdigest) for count, hexdigest in rows}


def copied(text, sentences):
    """The runs of words of ``text`` that are one of ``sentences`` (as reference_sentences)."""
    ours = words(text).split()
    return [
        " ".join(ours[i : i + n])
        for n in {count for count, _ in sentences}
        for i in range(len(ours) - n + 1)
        if (n, digest(" ".join(ours[i : i + n]))) in sentences
    ]


def pack_texts(pack):
    texts = [pack.description]
    for action in pack.actions.values():
        texts += [action.description, *(i.comments for i in action.inputs)]
        for item in action.inputs:
            properties = (item.items or {}).get("properties", {})
            texts += [p.get("description", "") for p in properties.values()]
    for connection in pack.connections.values():
        texts += [connection.description, *(v.comments for v in connection.values)]
    return texts


@pytest.mark.slow
def test_no_comment_copies_a_reference_sentence(pack):
    sentences = reference_sentences()
    assert len(sentences) > 100  # the check would be hollow without them
    for text in pack_texts(pack):
        found = copied(text, sentences)
        assert not found, f"copied from the reference: {found[0]!r}"


def test_the_copy_check_finds_a_sentence_inside_a_text():
    sentence = words("The table keeps the newest rows, and drops the oldest ones first.")
    sentences = {(len(sentence.split()), digest(sentence))}
    text = "Retention. The table keeps the NEWEST rows -- and drops the oldest ones first; so."
    assert copied(text, sentences) == [sentence]
    assert copied("The table keeps the newest rows and drops the old ones first.", sentences) == []


def test_envelope_schemas_accept_the_contract_examples():
    request = envelope_validator("request.schema.json")
    assert request.is_valid(
        {
            "id": "1",
            "action": "create_rows",
            "inputs": {
                "dataset_id": "d",
                "table_name": "Sales",
                "rows": [{"Product": "A", "Qty": 3}],
            },
            "connection": {
                "key": "oauth2",
                "values": {
                    "client_id": "c",
                    "client_secret": "s",
                    "base_url": "https://x/v1.0/myorg",
                },
                "token": {
                    "access_token": "a",
                    "refresh_token": "r",
                    "expires_at": 1764000000,
                    "token_type": "Bearer",
                },
            },
        }
    )
    assert not request.is_valid({"inputs": {}})
    assert not request.is_valid({"action": "x", "input": {}})

    response = envelope_validator("response.schema.json")
    assert response.is_valid(
        {
            "id": "1",
            "ok": True,
            "action": "list_datasets",
            "result": {"value": []},
            "meta": {"requests": 1, "retries": 0, "duration_ms": 41.2},
        }
    )
    assert response.is_valid(
        {
            "ok": False,
            "action": "create_rows",
            "error": {"type": "invalid_input", "message": "m", "details": [{"field": "top"}]},
            "meta": {"requests": 0, "retries": 0, "duration_ms": 0.1},
        }
    )
    assert response.is_valid(
        {
            "ok": False,
            "action": "list_groups",
            "error": {"type": "rate_limited", "message": "m", "status": 429, "retry_after": 3},
        }
    )
    assert not response.is_valid({"ok": True, "action": "x", "error": {"type": "timeout"}})
    assert not response.is_valid({"ok": False, "error": {"type": "teapot", "message": "m"}})
    types = response.schema["$defs"]["error"]["properties"]["type"]["enum"]
    assert len(types) == 11
