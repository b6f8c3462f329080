"""Protocol: the envelope, exit codes, and that no input, however malformed, breaks the JSON."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from conftest import PACK, SECRET, user_connection
from connectorkit.core._errors import EXIT_CODES, ConnectorError
from connectorkit.protocol._protocol import invoke, respond, serve

MALFORMED = [
    ("", "invalid_request"),
    ("   \n", "invalid_request"),
    ("{", "invalid_request"),
    ("[]", "invalid_request"),
    ("42", "invalid_request"),
    ('"list_groups"', "invalid_request"),
    ("null", "invalid_request"),
    ('{"action": "list_groups", "inputs": {"top": NaN}}', "invalid_request"),
    ('{"action": 5}', "invalid_request"),
    ('{"inputs": {}}', "invalid_request"),
    ('{"action": "list_groups", "inputs": []}', "invalid_request"),
    ('{"action": "list_groups", "connection": "oauth2"}', "invalid_request"),
    ('{"action": "list_groups", "connection": {"token": "abc"}}', "invalid_request"),
    (
        '{"action": "list_groups", "connection": {"token": {"expires_at": "soon"}}}',
        "invalid_request",
    ),
    ('{"action": "list_groups", "input": {}}', "invalid_request"),
    ("[" * 100_000 + "]" * 100_000, "invalid_request"),
    ("\udcff", "invalid_request"),
    ('{"action": "nope"}', "unknown_action"),
    ('{"action": "list_groups", "inputs": {"top": 0}}', "invalid_input"),
    ('{"action": "list_groups", "connection": {"key": "ldap"}}', "invalid_connection"),
]


@pytest.mark.parametrize(("text", "kind"), MALFORMED)
def test_malformed_input_gives_a_json_error(pack, runner, text, kind):
    out = io.StringIO()
    code = invoke(lambda: (pack, runner), io.StringIO(text), out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    response = json.loads(lines[0])
    assert response["ok"] is False
    assert response["error"]["type"] == kind
    assert code == 2


def test_invalid_input_details_name_each_field(call):
    response, code = call("list_tables", {"top": 0, "page_offset": "x"})
    assert code == 2
    assert response == {
        "ok": False,
        "action": "list_tables",
        "error": {
            "type": "invalid_input",
            "message": "action 'list_tables': invalid dataset_id, top, page_offset",
            "details": [
                {"field": "dataset_id", "message": "is required"},
                {"field": "top", "message": "input should be greater than or equal to 1"},
                {"field": "page_offset", "message": "input should be a valid integer"},
            ],
        },
    }


def test_success_envelope(call, httpx_mock):
    httpx_mock.add_response(json={"value": [{"id": "g1"}]})
    response, code = call("list_groups", id="req-7")
    assert code == 0
    assert list(response) == ["id", "ok", "action", "result", "meta"]
    assert response["id"] == "req-7"
    assert response["result"] == {"value": [{"id": "g1"}]}
    assert set(response["meta"]) == {"requests", "retries", "duration_ms"}
    assert "token" not in response  # nothing was refreshed


def test_id_is_echoed_on_errors_too(call):
    response, _ = call("nope", id=12)
    assert (response["id"], response["error"]["type"]) == (12, "unknown_action")


def test_internal_error_has_no_traceback_and_no_secret(pack, runner, monkeypatch, capsys):
    def broken(*_args, **_kwargs):
        raise RuntimeError(f"boom with {SECRET}")

    monkeypatch.setattr(runner, "run", broken)
    request = json.dumps({"action": "list_groups", "connection": user_connection()})
    response, code = respond(pack, runner, request)
    assert code == 3
    assert response["error"]["type"] == "internal_error"
    assert "Traceback" not in json.dumps(response)
    assert SECRET not in json.dumps(response)
    assert SECRET not in capsys.readouterr().err


def test_broken_pack_answers_in_json():
    def broken():
        raise ConnectorError("the action pack is invalid: actions/x.yaml:3: bad")

    out = io.StringIO()
    code = invoke(broken, io.StringIO('{"id": 1, "action": "list_groups"}'), out)
    response = json.loads(out.getvalue())
    assert (code, response["id"], response["error"]["type"]) == (3, 1, "internal_error")


def test_serve_answers_each_line_in_order(pack, runner, httpx_mock):
    httpx_mock.add_response(json={"value": []}, is_reusable=True)
    lines = [
        json.dumps({"id": i, "action": "list_groups", "connection": user_connection()})
        for i in range(6)
    ]
    lines.insert(3, "not json")
    lines.insert(5, "")
    out = io.StringIO()
    text = io.StringIO("\n".join(lines) + "\n")
    assert serve(lambda: (pack, runner), text, out, concurrency=3) == 0
    responses = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("id") for r in responses] == [0, 1, 2, None, 3, 4, 5]
    assert responses[3]["error"]["type"] == "invalid_request"
    assert len(httpx_mock.get_requests()) == 6


def run_cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connectorkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
        check=False,
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("stdin", "kind", "code"),
    [
        ("", "invalid_request", 2),
        ("{not json", "invalid_request", 2),
        ('{"action": "frobnicate"}', "unknown_action", 2),
        ('{"action": "list_groups", "inputs": {"top": 5000}}', "invalid_input", 2),
        ('{"action": "list_groups", "connection": {"values": {}}}', "invalid_connection", 2),
    ],
)
def test_invoke_command_exit_codes(stdin, kind, code):
    done = run_cli("invoke", stdin=stdin)
    assert done.returncode == code
    response = json.loads(done.stdout)
    assert response["error"]["type"] == kind
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    "stdin",
    [b'{"action": "list_groups", "id": "\xff\xfe"}', b"\xff", b"\x00\x01", b"\xfe\xff\x00{"],
)
def test_bytes_that_are_not_utf8_get_a_json_error(stdin):
    done = subprocess.run(
        [sys.executable, "-m", "connectorkit", "invoke"],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["type"] == "invalid_request"
    assert b"Traceback" not in done.stderr


@pytest.mark.e2e
def test_serve_answers_a_line_that_is_not_utf8_and_goes_on():
    done = subprocess.run(
        [sys.executable, "-m", "connectorkit", "serve"],
        input=b'\xff\n{"id": 2, "action": "nope"}\n',
        capture_output=True,
        timeout=60,
        check=False,
    )
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["error"]["type"] == "invalid_request"
    assert (second["id"], second["error"]["type"]) == (2, "unknown_action")
    assert done.returncode == 0


@pytest.mark.e2e
def test_invoke_network_error_exit_code():
    request = {
        "action": "list_groups",
        "connection": {
            **user_connection(),
            "values": {
                "client_id": "a",
                "client_secret": SECRET,
                "base_url": "http://127.0.0.1:9/v1.0/myorg",
            },
        },
    }
    done = run_cli("invoke", stdin=json.dumps(request))
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["type"] == "network_error"
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.e2e
def test_invoke_uses_the_bundled_pack_from_any_directory():
    done = run_cli("describe", stdin="")
    assert done.returncode == 0
    keys = {a["key"] for a in json.loads(done.stdout)["actions"]}
    assert "create_rows" in keys


@pytest.mark.e2e
def test_pack_option_selects_another_pack(tmp_path):
    # A folder that is no pack is the caller's mistake, answered in JSON.
    done = run_cli("invoke", "--pack", str(tmp_path), stdin='{"id": "x", "action": "a"}')
    assert done.returncode == 2
    response = json.loads(done.stdout)
    assert response["id"] == "x"
    assert response["error"]["type"] == "invalid_request"
    assert "no connector.yaml there" in response["error"]["message"]
    # A pack that is there but broken is a defect of the deployment.
    (tmp_path / "connector.yaml").write_text("key: [broken\n")
    done = run_cli("invoke", "--pack", str(tmp_path), stdin='{"id": "x", "action": "a"}')
    assert done.returncode == 3
    response = json.loads(done.stdout)
    assert response["id"] == "x"
    assert response["error"]["type"] == "internal_error"
    assert "connector.yaml" in response["error"]["message"]


def test_root_is_the_pack():
    assert (PACK / "connector.yaml").is_file()


def test_every_contract_error_type_has_its_exit_code():
    assert EXIT_CODES == {
        "invalid_request": 2,
        "unknown_action": 2,
        "invalid_input": 2,
        "invalid_connection": 2,
        "auth_error": 1,
        "http_error": 1,
        "rate_limited": 1,
        "timeout": 1,
        "network_error": 1,
        "partial_failure": 1,
        "internal_error": 3,
    }


@pytest.mark.parametrize(
    ("values", "field", "said"),
    [
        ({"base_url": "http://[::1"}, "base_url", "is not a valid URL (Invalid port: ':1')"),
        ({"token_url": "http://login.example:99999/t"}, "token_url", "has port 99999"),
        ({"base_url": "http://:80/v1.0"}, "base_url", "has no host"),
        ({"base_url": f"http://{'a' * 70}.example/"}, "base_url", "the resolver cannot take"),
        ({"base_url": "ftp://files.example/"}, "base_url", "must start with http://"),
    ],
)
def test_a_url_httpx_would_refuse_is_the_callers_invalid_connection(
    pack, runner, values, field, said
):
    # Found by 5,200 hostile requests: `http://[::1` ended as internal_error (InvalidURL).
    connection = user_connection()
    connection["values"].update(values)
    request = {"action": "list_groups", "connection": connection}
    response, code = respond(pack, runner, json.dumps(request))
    assert code == 2
    assert response["error"]["type"] == "invalid_connection"
    (detail,) = response["error"]["details"]
    assert detail["field"] == f"connection.values.{field}"
    assert said in detail["message"]
    assert response["error"]["message"].startswith(f"connection value '{field}' ")
    assert "meta" not in response  # refused at bind: nothing was sent


def test_repeated_calls_each_send_their_own_url(pack, runner, httpx_mock):
    # serve keeps recently parsed URLs: a repeated URL, another query or another service root
    # must each still be sent exactly as rendered.
    httpx_mock.add_response(json={"value": []}, is_reusable=True)
    other = user_connection()
    other["values"]["base_url"] = "https://other.example/v1.0/myorg"
    calls = [({}, None), ({"top": 5}, None), ({}, None), ({"top": 5}, other), ({"top": 7}, None)]
    for inputs, connection in calls:
        request = {
            "action": "list_groups",
            "inputs": inputs,
            "connection": connection or user_connection(),
        }
        assert respond(pack, runner, json.dumps(request))[0]["ok"]
    sent = [str(r.url) for r in httpx_mock.get_requests()]
    base = "https://api.powerbi.com/v1.0/myorg/groups"
    assert sent == [
        base,
        base + "?%24top=5",
        base,
        "https://other.example/v1.0/myorg/groups?%24top=5",
        base + "?%24top=7",
    ]
