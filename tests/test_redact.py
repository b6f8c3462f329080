"""Masking: every representation of every secret, in messages, logs and debug output."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import time
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pytest

from conftest import copy_pack
from connectorkit.cli import main
from connectorkit.core import _redact
from connectorkit.core._redact import (
    MASK,
    RedactingFormatter,
    encodings_of,
    forget_secrets,
    mask,
    remember_secrets,
)

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "packs" / "powerbi"
API = "https://api.powerbi.com/v1.0/myorg"
TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
# Characters that every encoding treats differently: space, +, /, &, =, %, ", \, ~ and é.
SECRET = 'cs~ a+b/c&d=e%f"g\\h\u00e9-0001'
ACCESS = "eyJ-access+token/with=chars-0002"
REFRESH = "0.A refresh&token=with%chars-0003"


@pytest.fixture(autouse=True)
def _fresh():
    logger = logging.getLogger("connectorkit")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    _redact.forget_all()
    yield
    _redact.forget_all()
    logger.handlers[:], logger.propagate, logger.level = saved


def shown_forms(secret: str) -> list[str]:
    """How the secret looks after each encoder a request, a form or a log may apply."""
    return [
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        urlencode({"refresh_token": secret}).split("=", 1)[1],
        str(httpx.URL("https://h/p", params={"q": secret}).query, "ascii").split("=", 1)[1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(secret.encode()).decode(),
    ]


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in encodings_of(secret):
            assert form not in text, f"…{secret[-4:]} leaked as {form!r}"


@pytest.mark.parametrize("form", range(9))
def test_each_encoding_of_a_remembered_secret_is_masked(form):
    remember_secrets([SECRET])
    shown = shown_forms(SECRET)[form]
    assert mask(f"before {shown} after") == f"before {MASK} after"


@pytest.mark.parametrize("client_id", ["app", "app-id-1", "a b", "12345678-aaaa"])
def test_a_secret_inside_an_http_basic_credential_is_masked(client_id):
    remember_secrets([SECRET])
    pair = f"{quote(client_id, safe='')}:{quote(SECRET, safe='')}"
    basic = base64.b64encode(pair.encode()).decode()
    masked = mask(f"Authorization: Basic {basic}")
    assert MASK in masked
    # What is left of the credential is the client id's part and at most two edge characters.
    assert len(masked) <= len(f"Authorization: Basic {MASK}") + len(client_id) * 2 + 4
    assert_no_secret(masked, SECRET)


def test_a_password_in_a_url_is_masked_even_if_never_remembered():
    text = "POST https://svc:hunter2-pass@login.example.test/token failed; see http://a:b@c/"
    expected = f"POST https://svc:{MASK}@login.example.test/token failed; see http://a:{MASK}@c/"
    assert mask(text) == expected


def test_a_secret_that_contains_another_is_masked_whole():
    remember_secrets(["inner-secret", "outer-inner-secret-tail"])
    assert mask("x outer-inner-secret-tail y inner-secret z") == f"x {MASK} y {MASK} z"


def test_a_secret_registered_by_two_concurrent_calls_stays_masked_until_both_end():
    remember_secrets([SECRET])  # call 1
    remember_secrets([SECRET])  # call 2
    forget_secrets([SECRET])  # call 1 ends
    assert mask(SECRET) == MASK
    assert mask(quote_plus(SECRET)) == MASK
    forget_secrets([SECRET])  # call 2 ends
    assert mask(SECRET) == SECRET


def test_a_secret_is_masked_in_every_form_each_time_a_call_remembers_it_again():
    # serve: one call after another over the same connection remembers, then forgets, the same
    # secrets; every call masks all their forms, and none outlives the calls.
    forms = [SECRET, quote_plus(SECRET), quote(SECRET, safe=""), json.dumps(SECRET)[1:-1]]
    for _ in range(3):
        remember_secrets([SECRET])
        assert [mask(f"<{form}>") for form in forms] == [f"<{MASK}>"] * len(forms)
        forget_secrets([SECRET])
        assert mask(SECRET) == SECRET


def test_concurrent_remember_and_forget_keep_the_count():
    def one_call():
        for _ in range(200):
            remember_secrets([SECRET])
            assert mask(SECRET) == MASK
            forget_secrets([SECRET])

    remember_secrets([SECRET])  # a long call that outlives all the others
    threads = [threading.Thread(target=one_call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mask(quote(SECRET, safe="")) == MASK
    forget_secrets([SECRET])
    assert mask(SECRET) == SECRET


def test_the_log_formatter_masks_messages_arguments_and_tracebacks():
    remember_secrets([ACCESS])
    formatter = RedactingFormatter("%(message)s")
    error = ValueError(f"boom {quote(ACCESS, safe='')}")
    record = logging.LogRecord(
        "connectorkit", logging.INFO, __file__, 1, "sent %s", (ACCESS,), None
    )
    record.exc_info = (ValueError, error, None)
    line = formatter.format(record)
    assert line.startswith(f"sent {MASK}")
    assert "ValueError: boom ***" in line
    assert_no_secret(line, ACCESS)


# -- the real command, in-process, debug on ----------------------------------------------------


@pytest.fixture
def run(monkeypatch, capsys):
    def go(request, pack=PACK):
        monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request)))
        code = main(["invoke", "-v", "--pack", str(pack)])
        out, err = capsys.readouterr()
        response = json.loads(out)
        shown = json.dumps({k: v for k, v in response.items() if k != "token"})
        assert_no_secret(shown + err, SECRET, ACCESS, REFRESH)
        return code, response, err

    return go


def user(expires_in=3600, token_url=TOKEN_URL):
    return {
        "key": "oauth2",
        "values": {"client_id": "app-id-1", "client_secret": SECRET, "token_url": token_url},
        "token": {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "expires_at": int(time.time()) + expires_in,
        },
    }


def test_a_token_in_query_params_is_masked_in_the_debug_url(run, httpx_mock):
    httpx_mock.add_response(json={"ok": 1})
    code, response, err = run(
        {
            "action": "raw_request",
            "inputs": {"query_params": {"access": ACCESS}, "debug_request": True},
            "connection": user(),
        }
    )
    assert code == 0, response
    assert "access=***" in err


def test_a_token_endpoint_echoing_the_form_body_is_masked_in_the_error(run, httpx_mock):
    def echo(request: httpx.Request) -> httpx.Response:
        body = request.content.decode()
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": f"bad request: {body}"}
        )

    httpx_mock.add_callback(echo, url=TOKEN_URL)
    code, response, _ = run({"action": "list_groups", "connection": user(expires_in=-5)})
    assert code == 1
    assert response["error"]["type"] == "auth_error"
    assert "refresh_token=***" in response["error"]["oauth_error_description"]


def test_a_token_endpoint_echoing_a_basic_credential_is_masked(run, httpx_mock, tmp_path):
    def echo(request: httpx.Request) -> httpx.Response:
        said = request.headers.get("authorization", "") + " " + request.content.decode()
        return httpx.Response(400, json={"error": "invalid_client", "error_description": said})

    pack = copy_pack(tmp_path / "pack")
    path = pack / "connections" / "oauth2.yaml"
    path.write_text(
        path.read_text().replace(
            "token_endpoint_auth_method: client_secret_post",
            "token_endpoint_auth_method: client_secret_basic",
        )
    )
    httpx_mock.add_callback(echo, url=TOKEN_URL)
    request = {"action": "list_groups", "connection": user(expires_in=-5)}
    code, response, _ = run(request, pack)
    assert code == 1
    assert "Basic ***" in response["error"]["oauth_error_description"]


def test_a_password_in_the_token_url_never_shows(run, httpx_mock):
    url = "https://svc:url-pass-0004@login.example.test/t/token"
    httpx_mock.add_exception(httpx.ConnectError(f"cannot reach {url}"), url=url)
    code, response, err = run({"action": "list_groups", "connection": user(-5, token_url=url)})
    assert code == 1
    assert response["error"]["type"] == "network_error"
    assert "url-pass-0004" not in json.dumps(response) + err


# -- each form a secret can take, and the edges of what is remembered ---------------------------

# Every character that one of the URL encoders leaves alone and another escapes.
URL_SECRET = "pw/:@!$'()*,;?~ x-0004"


def shown(text: str) -> str:
    """``text`` as a log line of the command shows it."""
    record = logging.LogRecord("connectorkit", logging.INFO, __file__, 1, "%s", (text,), None)
    return RedactingFormatter("%(message)s").format(record)


@pytest.mark.parametrize(
    "encode",
    [
        quote,  # a path (RFC 3986: "/" left alone)
        lambda s: quote_plus(s, safe="/"),  # a form value that leaves "/" alone
        lambda s: str(httpx.URL("https://h/p", params={"q": s}).query, "ascii").split("=", 1)[1],
        lambda s: str(httpx.URL(f"https://h/p?q={s}").query, "ascii").split("=", 1)[1],
        lambda s: quote(s, safe="").lower(),  # lower-case escapes
    ],
    ids=["path", "form-path-safe", "httpx-params", "httpx-raw-query", "lower-case"],
)
def test_a_remembered_secret_is_masked_in_every_url_encoding(encode):
    remember_secrets([URL_SECRET])
    form = encode(URL_SECRET)
    assert form != URL_SECRET
    assert shown(f"GET https://h/x?q={form}&n=1") == f"GET https://h/x?q={MASK}&n=1"


def test_the_lower_case_escapes_of_a_secret_are_masked():
    remember_secrets([URL_SECRET])
    for form in (quote(URL_SECRET, safe=""), quote(URL_SECRET), quote_plus(URL_SECRET)):
        lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form)
        assert mask(f"<{lower}>") == f"<{MASK}>", lower


def test_a_secret_of_four_characters_is_masked_and_one_of_three_is_not():
    remember_secrets(["abc", "wxyz"])
    assert shown("abc wxyz") == f"abc {MASK}"
    assert mask("abc", extra=["abc", "pqrs"]) == "abc"
    assert mask("pqrs", extra=["abc", "pqrs"]) == MASK


def test_a_short_value_does_not_stop_the_ones_after_it_being_remembered():
    remember_secrets(["ab", "the-secret-0005", "", "other-secret-0006"])
    assert mask("the-secret-0005 other-secret-0006") == f"{MASK} {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://:hunter2@example.test/x", f"see https://:{MASK}@example.test/x"),
        ("db+ssh://u:pw2@h and git.x-1://u:pw3@h", f"db+ssh://u:{MASK}@h and git.x-1://u:{MASK}@h"),
        ("SFTP://u:pw4@h/x", f"SFTP://u:{MASK}@h/x"),
        ("x://u:pw5@h", f"x://u:{MASK}@h"),
        ("a+1b://u:pw6@h and a.1b://u:pw7@h", f"a+1b://u:{MASK}@h and a.1b://u:{MASK}@h"),
        # A user name that is an e-mail address, and a password holding '@' or ':', as URL
        # parsers (httpx's too) read them: up to the last '@' before the host.
        ("https://me@corp.example:hunter2@host/x", f"https://me@corp.example:{MASK}@host/x"),
        ("https://svc:p@ss@login.example/t", f"https://svc:{MASK}@login.example/t"),
        ("https://u:pa:ss@h/", f"https://u:{MASK}@h/"),
        # The authority ends at '/', '?', '#' or a space: what follows is no password.
        ("https://u:pw@h/x@y", f"https://u:{MASK}@h/x@y"),
        ("https://u:pw@h?q=x@y", f"https://u:{MASK}@h?q=x@y"),
        ("https://u:pw@h#x@y", f"https://u:{MASK}@h#x@y"),
        ("https://u:pw@h then x@y", f"https://u:{MASK}@h then x@y"),
        # Nothing that is not a password is masked.
        ("mailto:user@example.test and https://example.test/a@b", None),
        ("https://example.test/a:b@c/d", None),
        ("https://host:8080/x?a=b@c", None),
        ("https://h?a:b@c", None),
        ("https://h#a:b@c", None),
        ("https://host and x:y@z", None),
        ("https://u:@h/", None),
    ],
)
def test_a_password_in_a_url_is_masked_wherever_a_url_parser_finds_it(text, expected):
    assert mask(text) == (text if expected is None else expected)


# Bytes whose base64 uses "+" and "/" (URL-safe base64: "-" and "_"); 22 of them, so that no
# offset lines the secret up with base64's groups of three at both ends.
B64_SECRET = "??>>??>>~~~~?>?>-00007"


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("encoder", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_secret_inside_a_longer_base64_value_is_masked(offset, encoder):
    secret = B64_SECRET.encode()
    assert len(secret) % 3 == 1
    assert b"+" in base64.b64encode(secret) or b"/" in base64.b64encode(secret)
    remember_secrets([B64_SECRET])
    text = encoder(b"k" * offset + secret + b"tail").decode()
    masked = mask(text)
    # Masked from the first character that depends on the secret alone (the ones before mix in
    # the prefix's bytes) to the last, leaving the few mixed with the tail and the tail's own.
    assert masked.index(MASK) == {0: 0, 1: 2, 2: 3}[offset], masked
    assert len(masked) - len(MASK) - masked.index(MASK) <= 8, masked


@pytest.mark.parametrize("encoder", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_short_secret_inside_base64_is_masked_by_its_six_character_fragment(encoder):
    remember_secrets(["k3y-42"])  # six bytes: at offset 1, six base64 characters stand for it
    text = encoder(b"A" + b"k3y-42" + b"BC").decode()
    assert MASK in mask(text)


def test_forgetting_every_secret_takes_effect_at_once():
    remember_secrets([URL_SECRET])
    assert mask(URL_SECRET) == MASK
    _redact.forget_all()
    assert mask(URL_SECRET) == URL_SECRET
    assert mask(quote(URL_SECRET, safe="")) == quote(URL_SECRET, safe="")


def test_the_oldest_of_more_than_4096_remembered_secrets_is_let_go():
    # The table of remembered secrets is bounded: past 4096 live ones the oldest goes first.
    secrets = [f"bounded-secret-{n:05d}" for n in range(4097)]
    remember_secrets(secrets)
    assert mask(secrets[0]) == secrets[0]
    assert mask(secrets[1]) == MASK
    assert mask(secrets[-1]) == MASK


def test_forgetting_a_secret_never_remembered_does_not_stop_the_others_being_forgotten():
    remember_secrets([URL_SECRET])
    forget_secrets(["never-remembered-0008", URL_SECRET])
    assert mask(URL_SECRET) == URL_SECRET


def test_extra_secrets_that_contain_one_another_are_masked_whole():
    assert mask("x outer-inner-tail y", extra=["inner", "outer-inner-tail"]) == f"x {MASK} y"


def test_a_secret_remembered_again_is_the_newest_when_the_table_is_full():
    secrets = [f"bounded-secret-{n:05d}" for n in range(4096)]
    remember_secrets(secrets)
    remember_secrets([secrets[0]])  # remembered again by a later call: now the newest
    remember_secrets(["one-more-secret-0009"])
    assert mask(secrets[0]) == MASK
    assert mask(secrets[1]) == secrets[1]


def test_the_forms_of_a_secret_come_longest_first():
    lengths = [len(form) for form in encodings_of(URL_SECRET)]
    assert lengths == sorted(lengths, reverse=True)
    assert len(lengths) > 10


# A private key with encryption headers, and a second block whose label holds digits.
PEM_LINES = (
    "MIIEow+IBAAKCAQEA1b/2xYz9Q==",
    "AbCdEfGh0123+/xyzXYZ98765432",
    "QUJDREVGR0hJSktM",  # sixteen characters: the shortest line masked on its own
    "ZmZmZmZmZmZmZmZmZmZm",
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "Proc-Type: 4,ENCRYPTED\n"
    "DEK-Info: AES-128-CBC,3F2A\n\n"
    f"{PEM_LINES[0]}\n{PEM_LINES[1]}\n{PEM_LINES[2]}\n"
    "-----END RSA PRIVATE KEY-----\n"
    "-----BEGIN X509 CRL-----\n"
    f"{PEM_LINES[3]}\n"
    "-----END X509 CRL-----\n"
)


@pytest.mark.parametrize("shown", [*PEM_LINES, "".join(PEM_LINES[:3])])
def test_a_remembered_pem_is_masked_line_by_line_and_as_its_joined_body(shown):
    remember_secrets([PEM])
    assert mask(f"key: {shown} end") == f"key: {MASK} end"


def test_the_command_log_follows_stderr_when_it_is_replaced(monkeypatch):
    from connectorkit.cli._common import configure_logging  # noqa: PLC0415

    configure_logging()
    later = io.StringIO()
    monkeypatch.setattr("sys.stderr", later)
    remember_secrets([SECRET])
    logging.getLogger("connectorkit.test").warning("sent %s", SECRET)
    assert later.getvalue() == "connectorkit: sent ***\n"


class _FailsOnce(io.StringIO):
    """A stderr whose first write fails, as a closed or broken stream does."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            self.failed = True
            raise ValueError("I/O operation on closed file.")
        return super().write(text)


def test_a_log_line_that_cannot_be_written_does_not_print_the_error_being_handled(monkeypatch):
    """logging's own fallback prints the exception being handled, unmasked: not ours."""
    from connectorkit.cli._common import configure_logging  # noqa: PLC0415

    configure_logging()
    broken = _FailsOnce()
    monkeypatch.setattr("sys.stderr", broken)
    remember_secrets([SECRET])

    def fail() -> None:
        raise RuntimeError(f"boom with {SECRET}")

    try:
        fail()
    except RuntimeError as exc:
        # As the runtime does: the error's text is logged, not its traceback.
        logging.getLogger("connectorkit").error("internal error: %s", exc)  # noqa: TRY400
    shown = broken.getvalue()
    assert shown == "connectorkit: a log line (ERROR) could not be written (ValueError)\n"
    assert_no_secret(shown, SECRET)
