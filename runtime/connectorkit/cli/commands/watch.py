"""``connectorkit watch TRIGGER [key=value …]``: a trigger's events as they come, for people.

It polls the trigger the way a platform would (the same request, through the same pipeline),
every ``interval_s`` seconds the pack declares (``--interval`` changes it; an answer saying
``more`` is followed at once), and prints each event once, in order. The subscription is
kept in the state store: ``--subscription NAME`` goes on where the last watch of that name
stopped; without it each watch starts from now (or from ``--since``).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
import time
from typing import TYPE_CHECKING, Any

from connectorkit.cli._common import add_pack_option, add_state_option, configure_logging, load
from connectorkit.cli._voice import Voice, add_json_option
from connectorkit.core._errors import ConnectorError, InvalidInput

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry
    from connectorkit.cli._connection_arg import ConnectionSource
    from connectorkit.cli._render import Style
    from connectorkit.pack._definitions import Pack
    from connectorkit.pack._triggers import TriggerDef

# Exit code of a caller's mistake (a bad input or connection): watching cannot go on.
_CALLER = 2

EXAMPLES = [
    (
        "connectorkit watch refresh_failed group_id=c0ffee00-5a1e-4a1a-8a1b-000000000001 "
        "--connection emulator-sp"
    ),
    "connectorkit watch report_published group_id=… --subscription reports --interval 60",
    "connectorkit watch new_audit_events 'activities=[\"DeleteReport\"]' --since 2024-05-01T00:00Z",
    "connectorkit watch refresh_completed dataset_id=… --once --json",
]


def register(registry: Registry) -> None:
    """Add ``watch``."""
    sub = registry.add(
        "watch",
        "poll a trigger and print its events as they come",
        handler=_watch,
        description=(
            "Poll a trigger of the pack, as a platform would, and print each new event once, "
            "in order, until Ctrl-C. Inputs are KEY=VALUE arguments, as for run. The pack's "
            "poll interval applies unless --interval gives another. The subscription's "
            "position is kept in the state store: --subscription NAME goes on where the last "
            "watch of that name stopped, so nothing is missed or shown twice between them; "
            "without it the watch starts from now, or from --since. A poll that fails for a "
            "while (the service, the network) is said on stderr and the watch goes on; a bad "
            "input or connection stops it (exit 2). --json prints each poll's response "
            "envelope as one line, as serve does."
        ),
        examples=EXAMPLES,
    )
    sub.add_argument("trigger", metavar="TRIGGER", help="the trigger (see: connectorkit docs)")
    sub.add_argument(
        "assignments", nargs="*", metavar="KEY=VALUE", help="an input; KEY=@FILE reads a file"
    )
    sub.add_argument(
        "-c",
        "--connection",
        metavar="NAME|FILE",
        help="a JSON file holding the connection, or a stored connection's name "
        "(default: $CONNECTORKIT_CONNECTION)",
    )
    sub.add_argument(
        "--subscription",
        metavar="NAME",
        help="the subscription to go on with (kept in the state store); default: a new one",
    )
    sub.add_argument(
        "--since", metavar="TIME", help="a new subscription starts after this, not from now"
    )
    sub.add_argument(
        "--interval",
        metavar="SECONDS",
        type=float,
        help="seconds between polls (default: the pack's)",
    )
    sub.add_argument("--once", action="store_true", help="poll once, print, and stop")
    sub.add_argument(
        "--count", metavar="N", type=int, help="stop after N events (at the end of that poll)"
    )
    sub.add_argument("-q", "--quiet", action="store_true", help="only events and errors")
    add_json_option(sub)
    add_pack_option(sub)
    add_state_option(sub)
    sub.set_defaults(loose_positionals="assignments")


class _Watch:
    """One watch: its request, its connection's source, and what it printed so far."""

    def __init__(
        self, pack: Pack, trigger: TriggerDef, args: argparse.Namespace, voice: Voice
    ) -> None:
        self.pack = pack
        self.trigger = trigger
        self.args = args
        self.voice = voice
        self.request, self.source = _request(trigger, args)
        self.events = 0
        self.polls = 0

    def deliver(self, envelope: dict[str, Any]) -> bool:
        """Print one poll's answer (its events, or its error); whether it got out."""
        try:
            if self.voice.as_json:
                self.voice.envelope(envelope, 0)
            elif envelope.get("ok"):
                for event in envelope["result"]["events"]:
                    sys.stdout.write(_event_text(self.trigger, event, self.voice.out) + "\n")
                sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # nobody reads stdout any more
            return False
        return True

    def poll(self, runner: Any) -> tuple[dict[str, Any], int]:
        """One poll, printed before its subscription moves on."""
        from connectorkit.protocol._protocol import respond_delivered  # noqa: PLC0415

        envelope, code = respond_delivered(
            self.pack, runner, json.dumps(self.request), self.deliver
        )
        self.polls += 1
        if envelope.get("token") and self.source.save_token(envelope["token"]):
            self.voice.note(f"the new token is saved in {self.source.file}")
        if envelope.get("ok"):
            self.events += len(envelope["result"]["events"])
            self.request.pop("cursor", None)
            self.request["inputs"].pop("since", None)  # a first poll's only
        return envelope, code

    def run(self) -> int:
        from connectorkit.call._run import Runner  # noqa: PLC0415

        args = self.args
        interval = args.interval if args.interval is not None else self.trigger.interval_s
        if not args.once:
            start = f"from {args.since}" if args.since else "from now"
            if args.subscription:
                start = f"as subscription '{args.subscription}' ({start} if it is new)"
            self.voice.note(
                f"watching {self.trigger.label} ({self.trigger.key}) {start}, polling every "
                f"{interval:g} s; Ctrl-C stops"
            )
        runner = Runner(state_url=args.state)
        try:
            return self._loop(runner, interval)
        except KeyboardInterrupt:
            return 0
        finally:
            runner.close()
            if not args.once:
                self.voice.note(f"{_plural(self.events, 'event')} in {_plural(self.polls, 'poll')}")

    def _loop(self, runner: Any, interval: float) -> int:
        args = self.args
        while True:
            envelope, code = self.poll(runner)
            if not envelope.get("ok"):
                if not self.voice.as_json:  # with --json the envelope said it
                    self.voice.failed(envelope["error"], code)
                if args.once or code == _CALLER:
                    return code
            elif args.once:
                if not envelope["result"]["events"] and not self.voice.as_json:
                    named = self.request["subscription"]
                    sys.stdout.write(f"no new events (subscription {named})\n")
                return 0
            elif args.count is not None and self.events >= args.count:
                return 0
            result = envelope.get("result") or {}
            wait = float(result.get("next_poll_s", interval)) if result.get("more") else interval
            time.sleep(max(wait, 0.0))


def _request(
    trigger: TriggerDef, args: argparse.Namespace
) -> tuple[dict[str, Any], ConnectionSource]:
    from connectorkit.cli._connection_arg import connection_source  # noqa: PLC0415
    from connectorkit.cli._inputs import parse_assignments  # noqa: PLC0415

    inputs = parse_assignments(trigger, args.assignments)
    if args.since:
        if trigger.input("since") is None:
            raise InvalidInput(
                f"--since: {trigger.key} follows what the service lists now, not a time",
                details=[{"field": "--since", "message": "this trigger has no start time"}],
            )
        inputs["since"] = args.since
    source = connection_source(args.connection)
    subscription = args.subscription or f"watch-{secrets.token_hex(6)}"
    request: dict[str, Any] = {"trigger": trigger.key, "subscription": subscription}
    request["inputs"] = inputs
    if source.connection is not None:
        request["connection"] = source.connection
    return request, source


def _event_text(trigger: TriggerDef, event: dict[str, Any], style: Style) -> str:
    """An event for reading: when, which trigger, then its data's facts."""
    from connectorkit.cli._render import local_time, result_text  # noqa: PLC0415

    when = _epoch(event.get("at"))
    stamp = local_time(when if when is not None else time.time(), seconds=True)
    head = f"{style.bold(stamp)}  {trigger.label}  {style.dim(str(event.get('id')))}"
    body = result_text(event.get("data"), style)
    return head + "\n" + "\n".join(f"  {line}" for line in body.splitlines())


def _epoch(at: Any) -> float | None:
    """Seconds since the epoch of an event's ``at`` written in ISO 8601, else ``None``."""
    if not isinstance(at, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _watch(args: argparse.Namespace) -> int:
    voice = Voice(as_json=args.json, quiet=args.quiet)
    configure_logging(quiet=True)
    try:
        pack = load(args.pack)
        trigger = pack.triggers.get(args.trigger)
        if trigger is None:
            from connectorkit._bind import bind_trigger  # noqa: PLC0415

            bind_trigger(pack, args.trigger, {})  # raises, naming the closest trigger
        assert trigger is not None  # noqa: S101 - bind_trigger raised otherwise
        voice.action = trigger.key
        watch = _Watch(pack, trigger, args, voice)
    except ConnectorError as exc:
        return voice.fail(exc)
    return watch.run()
