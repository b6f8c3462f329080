"""One type system: binding, the pack checker and describe's JSON Schema agree on each value."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from connectorkit._bind import bind_action
from connectorkit.authoring._catalog import input_schema
from connectorkit.core._errors import InvalidInput
from connectorkit.pack._definitions import ActionDef, Pack, RequestDef, ResultDef
from connectorkit.types._compile import compile_element, compile_spec, definition_problems
from connectorkit.types._input import InputDef

KINDS = ["string", "integer", "number", "boolean", "object", "array", "key_value", "json"]
PATTERNS = ["[a-c]+", "x\\d*", "[A-Z]{2}", "a|bc", "^a.*$"]
# Few letters, so that generated keys and enum choices meet generated values often.
TEXT = st.text(alphabet="abcxAB1\n", max_size=4)
KEYS = st.sampled_from(["a", "b", "key", "value", "name"])
FLOATS = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
SCALARS = st.one_of(st.booleans(), st.integers(-5, 5), FLOATS, st.sampled_from([0.0, 1.0, 2.5]))
JSON = st.recursive(
    st.one_of(SCALARS, TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(KEYS, TEXT), inner, max_size=3)
    ),
    max_leaves=8,
)


def scalar_of(kind: str | None) -> st.SearchStrategy[Any]:
    return {
        "string": TEXT,
        "integer": st.integers(-5, 5),
        "number": st.one_of(st.integers(-5, 5), FLOATS),
        "boolean": st.booleans(),
    }.get(kind or "", JSON)


@st.composite
def element_schemas(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kinds = [None, "string", "integer", "number", "boolean", "object"]
    kinds += ["array"] if depth < 2 else []
    kind = draw(st.sampled_from(kinds))
    schema: dict[str, Any] = {} if kind is None else {"type": kind}
    if draw(st.booleans()) and kind not in ("object", "array"):
        schema["enum"] = draw(st.lists(scalar_of(kind), min_size=1, max_size=3))
    if kind in (None, "integer", "number") and draw(st.booleans()):
        schema["minimum"] = draw(st.integers(-3, 3))
    if kind in (None, "integer", "number") and draw(st.booleans()):
        schema["maximum"] = draw(st.integers(-3, 3))
    if kind in (None, "string") and draw(st.booleans()):
        schema["minLength"] = draw(st.integers(0, 3))
    if kind in (None, "string") and draw(st.booleans()):
        schema["maxLength"] = draw(st.integers(0, 3))
    if kind in (None, "object") and depth < 2:
        names = draw(st.lists(KEYS, unique=True, max_size=3))
        schema["properties"] = {n: draw(element_schemas(depth + 1)) for n in names}
        schema["required"] = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
        schema["additionalProperties"] = draw(st.booleans())
    if kind in (None, "array") and depth < 2 and draw(st.booleans()):
        schema["items"] = draw(element_schemas(depth + 1))
    return schema


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    spec: dict[str, Any] = {"key": "x", "label": "X", "type": kind, "comments": "c."}
    if kind in ("string", "integer", "number", "boolean") and draw(st.booleans()):
        spec["enum"] = draw(st.lists(scalar_of(kind), min_size=1, max_size=3))
    if kind in ("integer", "number"):
        low, high = draw(st.one_of(st.none(), FLOATS)), draw(st.one_of(st.none(), FLOATS))
        if low is not None and high is not None and low > high:
            low, high = high, low
        spec.update({k: v for k, v in (("minimum", low), ("maximum", high)) if v is not None})
    if kind in ("string", "array") and draw(st.booleans()):
        spec["min_length"] = draw(st.integers(0, 3))
    if kind == "string" and draw(st.booleans()):
        spec["max_length"] = draw(st.integers(spec.get("min_length", 0), 4))
    if kind == "string" and draw(st.booleans()):
        spec["pattern"] = draw(st.sampled_from(PATTERNS))
    if kind == "array" and draw(st.booleans()):
        spec["items"] = draw(element_schemas())
    return spec


@st.composite
def values_for(draw: st.DrawFn, spec: dict[str, Any]) -> Any:
    """Any JSON value, often one near what the definition accepts."""
    choices = [JSON, scalar_of(spec["type"])]
    if spec.get("enum"):
        choices.append(st.sampled_from(spec["enum"]))
    if spec["type"] == "array":
        choices.append(st.lists(JSON, max_size=3))
        choices.append(st.lists(st.dictionaries(KEYS, JSON, max_size=3), max_size=2))
    if spec["type"] == "key_value":
        pair = st.fixed_dictionaries({"key": TEXT, "value": st.one_of(TEXT, st.integers())})
        choices += [st.lists(pair, max_size=2), st.dictionaries(TEXT, TEXT, max_size=2)]
    return draw(st.one_of(choices).filter(lambda v: v is not None))


def definition_of(spec: dict[str, Any]) -> InputDef:
    fields = {k: v for k, v in spec.items() if k != "default"}
    if "enum" in fields:
        fields["enum"] = tuple(fields["enum"])
    return InputDef(**fields)


def pack_with(definition: InputDef) -> Pack:
    action = ActionDef(
        key="a",
        label="A",
        description="d",
        inputs=(definition,),
        request=RequestDef(method="GET", path="/"),
        result=ResultDef(),
        file=None,  # type: ignore[arg-type]
    )
    return Pack(
        key="p",
        label="P",
        description="d",
        version=None,
        root=None,  # type: ignore[arg-type]
        default_connection="c",
        connections={},
        actions={"a": action},
    )


def binder_accepts(definition: InputDef, value: Any) -> bool:
    try:
        bind_action(pack_with(definition), "a", {"x": value})
    except InvalidInput:
        return False
    return True


def checker_accepts(spec: dict[str, Any], value: Any) -> bool:
    problems = definition_problems({**spec, "default": value})
    return not [where for where, _ in problems if where == ("default",)]


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_binder_checker_and_json_schema_agree(data: st.DataObject) -> None:
    spec = data.draw(definitions())
    assert not list(definition_problems(spec)), spec  # the generator makes valid definitions
    value = data.draw(values_for(spec))
    definition = definition_of(spec)
    schema = Draft202012Validator(input_schema(definition))
    verdicts = {
        "binder": binder_accepts(definition, value),
        "checker": checker_accepts(spec, value),
        "json schema": schema.is_valid(value),
    }
    assert len(set(verdicts.values())) == 1, (spec, value, verdicts)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(element_schemas(), JSON)
def test_a_row_validator_agrees_with_json_schema(schema: dict[str, Any], value: Any) -> None:
    assert (compile_element(schema)(value) is None) == Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize(
    ("spec", "value", "accepted"),
    [
        # The disagreement the issue found: an integer enum refuses true, takes 1.0 as 1.
        ({"type": "integer", "enum": [0, 1]}, True, False),
        ({"type": "integer", "enum": [0, 1]}, 1.0, True),
        ({"type": "boolean", "enum": [True]}, 1, False),
        ({"type": "integer"}, 2.5, False),
        ({"type": "number"}, False, False),
        ({"type": "string", "pattern": "[a-c]+"}, "xabcx", False),
        ({"type": "key_value"}, {"A": 1}, False),
        ({"type": "key_value"}, [{"key": "A"}], False),
        # An element's required keys are checked with no properties declared; an enum of
        # texts refuses an element of any other value, a list or an object included.
        ({"type": "array", "items": {"type": "object", "required": ["name"]}}, [{}], False),
        ({"type": "array", "items": {"type": "object", "required": ["name"]}}, [{"name": 1}], True),
        ({"type": "array", "items": {"enum": ["a", "b"]}}, [["a"]], False),
        ({"type": "array", "items": {"enum": ["a", "b"]}}, [{"a": 1}], False),
        ({"type": "array", "items": {"enum": ["a", "b"]}}, ["b", "a"], True),
        # An element's keywords apply only to values of their kind (no type: to any value).
        ({"type": "array", "items": {"properties": {"a": {"type": "string"}}}}, [1, "a"], True),
        ({"type": "array", "items": {"properties": {"a": {"type": "string"}}}}, [{"a": 1}], False),
        ({"type": "array", "items": {"required": ["a"]}}, [5, "x", [1]], True),
        ({"type": "array", "items": {"items": {"type": "string"}}}, [5, ["ab"]], True),
        ({"type": "array", "items": {"items": {"type": "string"}}}, [["a", 1]], False),
        (
            {"type": "array", "items": {"type": "object", "properties": {"a": {}}}},
            [{"a": []}],
            True,
        ),
        ({"type": "array", "items": {}}, [1, "a", None], True),
        ({"type": "array", "items": {"type": "string"}}, ["a", 1], False),
        ({"type": "array", "items": {"type": "object", "required": ["name"]}}, [3], False),
    ],
)
def test_the_edges_of_json_types(spec: dict[str, Any], value: Any, accepted: bool) -> None:
    full = {"key": "x", "label": "X", "comments": "c.", **spec}
    definition = definition_of(full)
    assert binder_accepts(definition, value) is accepted
    assert checker_accepts(full, value) is accepted
    assert Draft202012Validator(input_schema(definition)).is_valid(value) is accepted


def test_binding_turns_a_whole_float_into_an_integer() -> None:
    definition = definition_of({"key": "x", "label": "X", "type": "integer", "comments": "c."})
    bound = bind_action(pack_with(definition), "a", {"x": 3.0})
    assert bound.inputs["x"] == 3
    assert type(bound.inputs["x"]) is int


def test_the_validator_names_each_problem_inside_rows() -> None:
    columns = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 0}},
    }
    check = compile_spec({"type": "array", "items": columns}).check
    issues = check([{"name": "a", "qty": 1}, {"qty": -1, "extra": True}]) or []
    assert sorted((i.at, i.rule) for i in issues) == [
        ((1, "extra"), "extra"),
        ((1, "name"), "required"),
        ((1, "qty"), "minimum"),
    ]
