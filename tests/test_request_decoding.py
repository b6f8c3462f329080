"""A request is read by msgspec first; whatever it reads must be exactly what Python's json read.

``reference`` below is the decoding as it was before msgspec (the standard library, then the
walk for what JSON cannot carry). For any text, the new decoding must give the same document
(the same types: ``1`` is not ``1.0``) and the same findings, or the same error message.
"""

from __future__ import annotations

import gc
import io
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectorkit.core._errors import InvalidRequest
from connectorkit.core._json import NOT_JSON, loads_exact, suspicious, unrepresentable
from connectorkit.protocol._protocol import decode_request, invoke, respond


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def reference(text: str | bytes) -> tuple[str, Any]:
    """The decoding before msgspec: ``("ok", (document, findings))`` or ``("error", message)``."""
    try:
        data = json.loads(text, parse_constant=_reject)
    except UnicodeDecodeError as exc:
        return "error", f"the request is not UTF-8 text: {exc.reason} at byte {exc.start}"
    except (ValueError, RecursionError) as exc:
        return "error", f"the request is not valid JSON: {exc}"
    if not isinstance(data, dict):
        return "error", "not an object"
    return "ok", (data, unrepresentable(data) if suspicious(text) else [])


def decoded(text: str | bytes) -> tuple[str, Any]:
    try:
        data, found = decode_request(text)
    except InvalidRequest as exc:
        message = exc.message
        return "error", "not an object" if "must be a JSON object" in message else message
    return "ok", (data, found)


def same(a: Any, b: Any) -> bool:
    """Equal as documents and in every type (``1`` and ``1.0``, ``0.0`` and ``-0.0`` differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_as_before(text: str | bytes) -> None:
    old, new = reference(text), decoded(text)
    assert old[0] == new[0], (text, old, new)
    if old[0] == "error":
        assert old[1] == new[1], (text, old, new)
    else:
        assert same(old[1], new[1]), (text, old, new)


# Pieces of JSON text, valid or not, that the two parsers might read differently.
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
).map(json.dumps)
LITERALS = st.sampled_from(
    [
        "1e400", "-1e400", "1e-400", "1E+308", "2e308", "1.7976931348623157e308", "NaN",
        "Infinity", "-Infinity", "-0", "-0.0", "0.1e1", "01", "1.", ".5", "+1", "1e", "00",
        "0.30000000000000004", "123456789012345678901234567890.5", "1" * 400, "1" * 5000,
        "4.9e-324", "2.2250738585072014e-308", "9007199254740993", "true", "false", "null",
    ]
)
STRINGS = st.one_of(
    st.text().map(json.dumps),
    st.text().map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.sampled_from(
        [
            '"\\ud800"', '"\\udc00"', '"a\\ud83dz"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\x"',
            '"\x01"', '"\x7f"', '"\u2028"', '"\\/"', '"tab\\there"', '"\\uD800\\uDC00"',
        ]
    ),
)
SCALARS = st.one_of(NUMBERS, LITERALS, STRINGS)
KEYS = st.one_of(STRINGS, st.sampled_from(['"a"', '"id"', '"action"', '"inputs"']))
SPACE = st.sampled_from(["", " ", "\n", "\t", "\r\n", "\x0b", "\u00a0"])


def _join(items: list[str], space: str) -> str:
    return ("," + space).join(items)


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.builds(lambda xs, s: "[" + s + _join(xs, s) + "]", st.lists(inner, max_size=4), SPACE),
        st.builds(
            lambda pairs, s: "{" + s + _join([f"{k}{s}:{v}" for k, v in pairs], s) + "}",
            st.lists(st.tuples(KEYS, inner), max_size=4),
            SPACE,
        ),
    ),
    max_leaves=12,
)
DOCUMENTS = st.builds(
    lambda pairs, lead, trail: lead + "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}" + trail,
    st.lists(st.tuples(KEYS, VALUES), max_size=5),
    SPACE,
    SPACE,
)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(DOCUMENTS, VALUES))
def test_any_text_decodes_exactly_as_python_json_did(text: str) -> None:
    assert_as_before(text)
    assert_as_before(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "text",
    [
        b'{"inputs": {"n": 18446744073709551616, "m": -9223372036854775809}}',
        b'{"inputs": {"n": 123456789012345678901234567890123}}',
        b'{"inputs": {"x": 1e400}}',
        b'{"inputs": {"x": "\\ud800"}}',
        b'{"inputs": {"x": "\xed\xa0\x80"}}',
        b'{"a": 1, "a": 2.0}',
        b'{"a": NaN}',
        b"\xef\xbb\xbf{}",
        b"\xff\xfe{\x00}\x00",  # UTF-16: Python's json detects it
        b'{"a": "\xff"}',
        b"{} {}",
        b"[]",
        b"",
    ],
)
def test_what_only_python_json_reads_is_still_read_its_way(text: bytes) -> None:
    assert_as_before(text)


def test_integers_past_64_bits_stay_exact_through_a_whole_request(pack, runner) -> None:
    big = 2**64 + 1
    response, code = respond(pack, runner, json.dumps({"id": big, "action": "nope"}))
    assert code == 2
    assert response["id"] == big
    assert type(response["id"]) is int


def _one_frame_down(text: str) -> tuple[str, Any]:
    return reference(text)


@pytest.mark.parametrize("kind", ["[", '{"a":'])
def test_nesting_refused_by_python_json_is_refused_at_the_same_depth(kind: str) -> None:
    close = "]" if kind == "[" else "}"
    outcomes = set()
    for depth in range(850, 1100):
        text = '{"x":' + kind * depth + "1" + close * depth + "}"
        # From one frame further down, as decode_request calls json.loads one frame below it.
        old, new = _one_frame_down(text), decoded(text)
        assert old[0] == new[0], depth  # the documents themselves: too deep to compare here
        if old[0] == "error":
            assert old[1] == new[1]
        outcomes.add(old[0])
    assert outcomes == {"ok", "error"}  # the limit was within the range tried


def test_the_garbage_collector_is_paused_only_while_a_big_document_is_built() -> None:
    big = json.dumps({"rows": [{"a": i, "b": "x" * 20} for i in range(60_000)]}).encode()
    assert len(big) > 1 << 20
    assert gc.isenabled()
    assert loads_exact(big)["rows"][59_999] == {"a": 59_999, "b": "x" * 20}
    assert gc.isenabled()
    assert loads_exact(b"{1}") is NOT_JSON
    assert gc.isenabled()
    gc.disable()
    try:
        loads_exact(big)
        assert not gc.isenabled()  # a caller's own choice is left as it was
    finally:
        gc.enable()


def test_invoke_keeping_its_request_leaves_the_collector_on_and_answers_the_same(
    pack, runner
) -> None:
    text = json.dumps({"id": 2**64, "action": "nope"})
    kept: list[Any] = []
    out_kept, out_plain = io.StringIO(), io.StringIO()
    code_kept = invoke(pack, runner, io.StringIO(text), out_kept, keep=kept)
    assert gc.isenabled()
    code_plain = invoke(pack, runner, io.StringIO(text), out_plain)
    assert (code_kept, out_kept.getvalue()) == (code_plain, out_plain.getvalue())
    assert json.loads(out_kept.getvalue())["id"] == 2**64
    assert [taken.request for taken in kept] == [{"id": 2**64, "action": "nope"}]
    gc.unfreeze()  # the test process goes on: let the collector see what invoke froze


def test_invoke_may_load_the_pack_after_reading_the_request(pack, runner) -> None:
    order: list[str] = []

    class Stdin(io.StringIO):
        def read(self, *args: Any) -> str:
            order.append("read")
            return super().read(*args)

    def pack_and_runner() -> tuple[Any, Any]:
        order.append("pack")
        return pack, runner

    out = io.StringIO()
    assert invoke(pack_and_runner, None, Stdin("{}"), out) == 2
    assert order == ["read", "pack"]
    assert json.loads(out.getvalue())["error"]["type"] == "invalid_request"
