"""``triggers/*.yaml``: one trigger of a pack, what a poll lists and tells new."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from connectorkit.authoring.model._base import InputKey, Part, described
from connectorkit.authoring.model._input import ActionInput

__all__ = ["Each", "Next", "Order", "Trigger", "TriggerExample", "TriggerList", "Where", "Window"]

Where = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": {
                "description": (
                    "A template over the inputs (a list input: any of its values), or a JSON value."
                )
            },
        }
    ),
]


class Each(Part):
    """Part of a trigger: Each."""

    model_config = described(
        "List the items once per item of another list (each refresh history of a "
        "workspace's datasets); templates name that item as $parent."
    )

    action: InputKey = Field(description="The action that lists the parents.")
    inputs: dict[str, Any] | None = Field(
        None, description="Its inputs: templates over the trigger's inputs."
    )
    items: str | None = Field(
        None,
        description=(
            'The field of its answer holding the list (default: its pages.items, else "").'
        ),
    )
    where: Where | None = Field(
        None, description="Only the parents whose fields match (as the trigger's where)."
    )
    most: int | None = Field(
        None,
        ge=1,
        description=(
            "At most this many parents are listed in one poll (default 100): a poll fails rather "
            "than sending more requests."
        ),
    )


class TriggerList(Part):
    """Part of a trigger: TriggerList."""

    model_config = described(
        "Where the candidate items come from: an action of the pack (its request, pages "
        "and rate budgets), or the runtime's ledger of push jobs."
    )

    action: InputKey | None = Field(
        None,
        description="The action that lists the items; a paged one is followed to its last page.",
    )
    inputs: dict[str, Any] | None = Field(
        None,
        description=(
            "The listing action's inputs: templates over the trigger's inputs, $parent (with "
            "each) and $window (with window)."
        ),
    )
    items: str | None = Field(
        None,
        description=(
            'The field of the answer holding the list ("": the answer is the list; an object '
            'answer is one item). Default: the action\'s pages.items, else "".'
        ),
    )
    each: Each | None = None
    jobs: InputKey | None = Field(
        None,
        description=(
            "Instead of action: the push jobs of this batch action in the state store, one item "
            "per job that ended (job_id, state, rows, committed, ended_at, ends, inputs)."
        ),
    )


class Order(Part):
    """Part of a trigger: Order."""

    model_config = described(
        "The items are ordered by a field: a poll gives those after the highest value "
        "seen (and those at it not seen yet)."
    )

    by: str = Field(
        min_length=1,
        description=(
            "The item's field that orders it (an item without it is not yet an event). "
            "A field of an item: the whole text as one key first, else a dotted path "
            "(refreshAttempts.0.type)."
        ),
    )
    type: Literal["time", "number", "text"] | None = Field(
        None,
        description=(
            "time: an ISO 8601 date-time (without a zone: UTC); number; text (compared as "
            "written). Default time."
        ),
    )
    overlap_s: float | None = Field(
        None,
        ge=0,
        description=(
            "time only: an item this many seconds older than the newest seen is still delivered "
            "(once) when it shows up late. Default 0."
        ),
    )


class Next(Part):
    """Part of a trigger: Next."""

    model_config = described(
        "The service keeps the position: each answer says where the next poll goes, and "
        "every item of an answer is new."
    )

    url: str = Field(
        min_length=1,
        description=(
            "A template over the answer ($headers, $body) giving the next poll's URL "
            '("{$headers.Location}").'
        ),
    )
    empty: list[Annotated[int, Field(ge=200, le=299)]] | None = Field(
        None, description="Statuses that mean nothing new (default [202])."
    )


class Window(Part):
    """Part of a trigger: Window."""

    model_config = described(
        "The listing takes a time window ($window.start, $window.end): a poll asks from "
        "the last position to now, within these limits."
    )

    span_s: int | None = Field(
        None,
        ge=1,
        description=(
            "The longest window one poll asks for (default 3600); a poll behind by more catches "
            "up over several."
        ),
    )
    within_day: bool | None = Field(
        None, description="A window never crosses midnight UTC (default false)."
    )
    lookback_s: int | None = Field(
        None,
        ge=1,
        description=("The oldest start the service takes, before now; an older since is refused."),
    )
    format: Literal["iso", "iso_seconds", "epoch_s", "epoch_ms"] | None = Field(
        None,
        description=(
            "How $window.start and $window.end are written: iso (2024-05-01T10:00:00.000Z, the "
            "default), iso_seconds (2024-05-01T10:00:00Z), epoch_s, epoch_ms."
        ),
    )


class TriggerExample(Part):
    """A worked example of a trigger."""

    title: str = Field(min_length=1)
    inputs: dict[str, Any]
    event: Annotated[Any, WithJsonSchema({})]


class Trigger(Part):
    """One trigger of a pack (``triggers/<key>.yaml``)."""

    model_config = described(
        "One trigger of a pack: what a poll lists, what identifies and orders the items, "
        "and what an event of a new one carries. Exactly one of order, changes and next "
        "says how a poll tells new items from the rest.",
        title="connectorkit trigger",
    )

    key: InputKey = Field(
        description="The trigger's name in a poll's `trigger`; equals the file name without .yaml."
    )
    label: str = Field(
        min_length=1,
        description='The trigger\'s name as a designer shows it ("When a refresh fails").',
    )
    description: str = Field(
        min_length=1,
        description="What starts a flow, and what its events carry (Markdown allowed).",
    )
    group: str | None = Field(
        None,
        min_length=1,
        description="The group a designer finds the trigger under (e.g. Datasets).",
    )
    inputs: list[ActionInput] | None = Field(
        None,
        description=(
            "The trigger's inputs (what to watch), in the order a designer shows them. The "
            "runtime adds since (ordered triggers) and max_events, and the call inputs of "
            "connector.yaml."
        ),
    )
    interval_s: int | None = Field(
        None,
        ge=1,
        description=(
            "The poll interval a platform (and connectorkit watch) uses when it is given none, "
            "in seconds (default 300)."
        ),
    )
    list_: TriggerList = Field(alias="list")
    identity: (
        Annotated[
            str | list[str],
            WithJsonSchema(
                {
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "minLength": 1},
                        },
                    ]
                }
            ),
        ]
        | None
    ) = Field(
        None,
        description=(
            "What identifies an item: a template over $item, $parent and the inputs, or several "
            "(a composite key). Events of the same item have the same id."
        ),
    )
    order: Order | None = None
    changes: Literal["appeared", "disappeared"] | None = Field(
        None,
        description=(
            "Instead of order: an event for each item listed now and not at the last poll "
            "(appeared), or listed then and not now (disappeared). The first poll only notes "
            "what is there."
        ),
    )
    next: Next | None = None
    window: Window | None = None
    where: Where | None = Field(
        None,
        description=(
            "Only items whose fields match become events: field path -> template over the "
            "inputs. A template without a value drops its condition; a list value means any of "
            "them; text compares without regard to case."
        ),
    )
    event: Annotated[Any, WithJsonSchema({})] = Field(
        None,
        description=(
            "What an event carries: a JSON template over $item, $parent and the inputs. "
            "Absent: the item itself."
        ),
    )
    examples: list[TriggerExample] | None = Field(
        None,
        description="Worked examples a designer sees: inputs and the event a poll gives.",
    )
