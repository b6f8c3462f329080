"""Connection kinds as pack data: what the schema and the rules refuse, what a loaded
definition holds, and how the redaction module masks the new kinds of secret."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from certificates import make_certificate
from connectorkit.core import _redact
from connectorkit.core._errors import PackError
from connectorkit.pack._load import load_pack

NOTES = Path(__file__).parent / "data" / "notes_pack"


def pack_with(tmp_path: Path, name: str, document: dict) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(NOTES, root)
    (root / "connections" / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return root


def connection(key: str, **fields) -> dict:
    return {
        "key": key,
        "label": key,
        "description": "A connection under test.",
        **fields,
        "values": [
            {"key": "base_url", "label": "Base URL", "type": "string", "comments": "The root."},
            {"key": "token_url", "label": "Token URL", "type": "string", "comments": "Tokens."},
        ],
    }


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"type": "api_key"}, "api_key"),
        ({"type": "api_key", "api_key": {"in": "cookie", "name": "k"}}, "cookie"),
        ({"type": "managed_identity"}, "managed_identity"),
        (
            {"type": "managed_identity", "managed_identity": {"endpoints": [{"protocol": "imds"}]}},
            "endpoints",
        ),
        ({"type": "basic", "api_key": {"name": "k"}}, "api_key"),
        (
            {"grant": "client_credentials", "client_assertion": {"algorithm": "PS256"}},
            "client_assertion",
        ),
        (
            {
                "grant": "client_credentials",
                "token_endpoint_auth_method": "private_key_jwt",
                "client_assertion": {"federated": [{"env": "A", "file_env": "B"}]},
            },
            "federated",
        ),
        ({"type": "bearer", "headers": {"Bad Header": "x"}}, "headers"),
    ],
    ids=[
        "api-key-without-block", "api-key-in-cookie", "managed-without-block",
        "endpoint-without-url", "block-of-another-kind", "assertion-without-private-key-jwt",
        "two-sources-in-one-entry", "header-name",
    ],
)  # fmt: skip
def test_the_schema_refuses_a_kind_without_its_settings(tmp_path, fields, says):
    root = pack_with(tmp_path, "broken", connection("broken", **fields))
    with pytest.raises(PackError) as caught:
        load_pack(root)
    assert "connections/broken.yaml" in str(caught.value)
    assert says in str(caught.value)


def test_a_loaded_connection_holds_its_kind_settings_with_their_defaults(tmp_path):
    document = connection(
        "signed",
        grant="client_credentials",
        token_endpoint_auth_method="private_key_jwt",
        client_assertion={"thumbprint": "x5t#S256"},
        headers={"X-Org": "{org}"},
    )
    pack = load_pack(pack_with(tmp_path, "signed", document))
    signed = pack.connections["signed"]
    assert signed.client_assertion is not None
    assert signed.client_assertion.algorithm == "RS256"
    assert signed.client_assertion.thumbprints == ("x5t#S256",)
    assert signed.client_assertion.audience == "{token_url}"
    assert signed.client_assertion.federated == ()
    assert signed.headers == (("X-Org", "{org}"),)
    api_key = pack.connections["api_key_query"].api_key
    assert api_key is not None
    assert (api_key.location, api_key.name, api_key.prefix) == ("query", "key", "acct-")


def test_a_value_set_may_give_a_value_only_some_connections_have(tmp_path):
    # The Power BI pack's cloud gives federated_audience, which only the federated one reads;
    # a name no connection has is still a typo.
    root = Path(__file__).parents[1] / "packs" / "powerbi"
    assert "federated_audience" in load_pack(root).value_sets["cloud"]["gcc_high"]
    copy = tmp_path / "powerbi"
    shutil.copytree(root, copy)
    text = (copy / "connector.yaml").read_text()
    (copy / "connector.yaml").write_text(
        text.replace("federated_audience: api://AzureADTokenExchangeChina", "federated_audeince: x")
    )
    with pytest.raises(PackError, match="sets 'federated_audeince', which no connection"):
        load_pack(copy)


def test_a_private_key_is_masked_line_by_line_and_whole():
    key = make_certificate("masked").key_pem
    _redact.forget_all()
    try:
        _redact.remember_secrets([key])
        body = [line for line in key.splitlines() if "-----" not in line]
        for line in body:
            assert _redact.mask(f"…{line}…") == "…***…"
        assert _redact.mask("".join(body)) == "***"
        assert "PRIVATE KEY" not in _redact.mask(key.replace("\n", "\\n"))  # JSON-escaped
    finally:
        _redact.forget_all()
