"""``connectorkit new pack DIR`` and ``new action KEY``: files that pass from the start.

A new pack has a connector, a client-credentials connection, one action with an example, the
JSON Schemas (for an editor's completion), a test that uses only the pytest plugin's fixtures and
a README that says how to run it. A new action has an example the conformance suite runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["connector_yaml", "main", "new_action", "new_pack"]

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def _key_of(name: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return key if key[:1].isalpha() else f"pack_{key}"


# Text YAML reads back as the same string when written plainly.
_PLAIN = re.compile(r"^[A-Za-z][\w .()/-]*[\w.)]$")


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain where that reads back the same, else a JSON string."""
    import json  # noqa: PLC0415 - a JSON string is a valid YAML scalar

    return text if _PLAIN.match(text) and ": " not in text else json.dumps(text, ensure_ascii=False)


def _label_of(key: str) -> str:
    return " ".join("ID" if w == "id" else w.capitalize() for w in key.split("_"))


def connector_yaml(
    key: str,
    label: str,
    *,
    description: str | None = None,
    version: str | None = "0.1.0",
    default_connection: str = "client_credentials",
) -> str:
    """The text of a new pack's ``connector.yaml``, with the call inputs every pack offers."""
    about = (
        _scalar(description)
        if description
        else ">-\n  What this pack connects to and what its actions do (shown to workflow "
        "designers)."
    )
    semver = version is not None and re.fullmatch(r"\d+\.\d+\.\d+", version) is not None
    release = f"version: {version if semver else _scalar(version)}\n" if version else ""
    return f"""# yaml-language-server: $schema=schemas/connector.schema.json
key: {key}
label: {_scalar(label)}
description: {about}
{release}default_connection: {default_connection}

# Inputs several actions share; an action takes one with `- use: <key>`.
inputs: {{}}

# Every action also accepts these (the runtime reads them by name).
call_inputs:
  - timeout:
      label: Timeout
      type: integer
      minimum: 1
      comments: The time budget of the whole call in milliseconds, retries included.
  - max_retry_count:
      label: Max Retry Count
      type: integer
      default: 0
      minimum: 0
      maximum: 10
      comments: How many more times a failed request may be sent.
  - debug_request:
      label: Debug Request
      type: boolean
      default: false
      comments: Log each request and response to stderr, secrets masked.
"""


_CONNECTION = """# yaml-language-server: $schema=../schemas/connection.schema.json
key: client_credentials
label: Client credentials
description: >-
  An application's own identity (OAuth 2.0 client credentials): the runtime fetches the token.
grant: client_credentials
token_endpoint_auth_method: client_secret_post
values:
  - key: client_id
    label: Client ID
    type: string
    required: true
    comments: The application's ID at the service.
  - key: client_secret
    label: Client Secret
    type: string
    required: true
    secret: true
    comments: The application's secret; it is never shown.
  - key: token_url
    label: Token URL
    type: string
    default: "https://login.example.com/oauth2/token"
    comments: Where tokens are obtained.
  - key: scopes
    label: Scopes
    type: string
    default: "api"
    comments: The scopes asked for, separated by spaces.
  - key: base_url
    label: Base URL
    type: string
    default: "https://api.example.com/v1"
    comments: The service's API root; every action's path is relative to it.
"""


def _action(key: str, method: str, path: str) -> str:
    label = _label_of(key)
    placeholders = re.findall(r"\{([a-z][a-z0-9_]*)\}", path)
    inputs = "".join(
        f"""  - key: {name}
    label: {_label_of(name)}
    type: string
    required: true
    min_length: 1
    comments: The {_label_of(name)} to work on.
"""
        for name in placeholders
    )
    sample = {name: f"example-{name.replace('_', '-')}" for name in placeholders}
    sent = path
    for name, value in sample.items():
        sent = sent.replace("{" + name + "}", value)
    example_inputs = "{ " + ", ".join(f"{k}: {v}" for k, v in sample.items()) + " }"
    return f"""# yaml-language-server: $schema=../schemas/action.schema.json
key: {key}
label: {label}
description: >-
  What {label} does, in a sentence a workflow designer understands.
inputs:
{inputs or "  []"}
request:
  method: {method}
  path: {path}
examples:
  # Run by `pytest` (the connectorkit plugin): these inputs must send exactly this request.
  - title: A typical call
    inputs: {example_inputs if sample else "{}"}
    request:
      method: {method}
      path: {sent}
    response:
      status: 200
      body: {{ ok: true }}
    result: {{ ok: true }}
""".replace("inputs:\n  []", "inputs: []")


def _test(key: str, path: str) -> str:
    placeholders = re.findall(r"\{([a-z][a-z0-9_]*)\}", path)
    inputs = ", ".join(f'"{p}": "id-1"' for p in placeholders)
    sent = re.sub(r"\{[a-z][a-z0-9_]*\}", "id-1", path)
    return f'''"""Tests of the pack with the pytest plugin's fixtures (no conftest.py needed).

`pytest` here also runs the pack's conformance suite: every file valid, every example's request.
"""


def test_{key}_sends_the_request(run_action):
    call = run_action("{key}", {{{inputs}}}, response={{"status": 200, "body": {{"ok": True}}}})
    assert call.ok, call.response
    call.request.expect("GET", "{sent}")
    assert call.result == {{"ok": True}}


def test_a_missing_input_is_refused_before_sending(run_action):
    call = run_action("{key}", {{"no_such_input": 1}})
    assert call.response["error"]["type"] == "invalid_input"
    assert call.requests == []
'''


def _readme(label: str, action: str) -> str:
    return f"""# {label}

A connectorkit action pack: `connector.yaml`, `connections/`, `actions/` (one YAML file per
action). `schemas/` holds the JSON Schemas an editor uses to complete and check the files.

## Test it

connectorkit is installed from a clone of its repository or from its Git URL, with the
`testing` extra (pytest and pytest-httpx):

```sh
pip install '/path/to/connectorkit[testing]'     # or: 'connectorkit[testing] @ git+URL'
connectorkit validate .      # every problem with its file and line
pytest                       # the conformance suite and tests/
```

`pytest` collects `connector.yaml` as the pack's conformance suite (each file valid, each
action's examples run and their requests compared, each request checked against the pack's
OpenAPI document when `connector.yaml` declares one) and runs `tests/`, which use the plugin's
fixtures: `run_action`, `invoke_command`, `connectorkit_pack`, `pack_emulator`.

## Grow it

```sh
connectorkit new action get_thing --path "/things/{{thing_id}}"
connectorkit import-openapi openapi.yaml --tag things     # an action per operation
connectorkit invoke --pack . <<'JSON'
{{"action": "{action}", "connection": {{"values": {{"client_id": "…", "client_secret": "…"}}}}}}
JSON
```
"""


def new_pack(folder: Path, *, key: str | None = None, label: str | None = None) -> list[Path]:
    """Write a new pack into ``folder`` (which must be empty or absent); the files written."""
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    key = key or _key_of(folder.resolve().name)
    label = label or _label_of(key)
    action = "get_status"
    files = {
        "connector.yaml": connector_yaml(key, label),
        "connections/client_credentials.yaml": _CONNECTION,
        f"actions/{action}.yaml": _action(action, "GET", "/status"),
        "tests/test_actions.py": _test(action, "/status"),
        "README.md": _readme(label, action),
        ".gitignore": ".venv/\n__pycache__/\n.pytest_cache/\n",
    }
    _check(files)
    written = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    from connectorkit.pack._load import schema_dir  # noqa: PLC0415

    for schema in sorted(schema_dir().glob("*.schema.json")):
        target = folder / "schemas" / schema.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(schema, target)
        written.append(target)
    return written


def new_action(pack: Path, key: str, *, method: str = "GET", path: str = "/") -> Path:
    """Write ``actions/KEY.yaml`` into ``pack``; refuses to overwrite."""
    if not _KEY.match(key):
        raise ValueError(f"'{key}' is not a valid key: use snake_case, e.g. list_things")
    if not (pack / "connector.yaml").is_file():
        raise FileNotFoundError(f"{pack} has no connector.yaml (make one: connectorkit new pack)")
    target = pack / "actions" / f"{key}.yaml"
    if target.exists():
        raise FileExistsError(f"{target} exists")
    if not path.startswith("/"):
        raise ValueError(f"the path must start with '/': {path!r}")
    text = _action(key, method.upper(), path)
    _check({f"actions/{key}.yaml": text})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def _check(files: dict[str, str]) -> None:
    """Read back each pack document of ``files`` and check it by its model; raise ValueError.

    The documents are written as text, with the comments a person reads; what the text reads
    back as is what the model checks, before any file is written.
    """
    import yaml  # noqa: PLC0415 - only writing files needs it

    from connectorkit.authoring.model._check import Kind, check  # noqa: PLC0415 - pydantic

    for name, text in files.items():
        kind: Kind
        if name == "connector.yaml":
            kind = "connector"
        elif name.startswith("connections/"):
            kind = "connection"
        elif name.startswith("actions/"):
            kind = "action"
        else:
            continue
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(
                f"{name} would not be YAML ({_yaml_problem(exc)}); nothing was written"
            ) from None
        check(kind, document, name)


def _yaml_problem(exc: Exception) -> str:
    problem = getattr(exc, "problem", None) or "not readable"
    mark = getattr(exc, "problem_mark", None)
    return f"{problem}, line {mark.line + 1}" if mark is not None else str(problem)


def _examples(*lines: str) -> str:
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectorkit new",
        description=(
            "Write the files of a new pack, or of a new action in a pack. What is written "
            "passes `connectorkit validate` and `pytest` as it is."
        ),
        epilog=_examples("connectorkit new pack weather", "connectorkit new action get_forecast"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="pack|action")
    pack = kinds.add_parser(
        "pack",
        help="a new pack folder that passes validate and pytest",
        description=(
            "Write a new pack in DIR: connector.yaml, a client-credentials connection, one "
            "action with an example, the JSON Schemas for an editor, tests/ and a README."
        ),
        epilog=_examples(
            "connectorkit new pack weather", "connectorkit new pack crm --key crm --label 'My CRM'"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pack.add_argument("dir", type=Path, help="the folder to create (empty or absent)")
    pack.add_argument("--key", help="the pack's key (default: from the folder name)")
    pack.add_argument("--label", help="the pack's name as designers see it")
    action = kinds.add_parser(
        "action",
        help="a new action file with an example",
        description=(
            "Write actions/KEY.yaml in the pack: its inputs, its request and an example the "
            "conformance suite runs. Edit it, then run pytest."
        ),
        epilog=_examples(
            'connectorkit new action get_forecast --path "/forecasts/{city}"',
            "connectorkit new action create_thing --method POST --path /things --pack crm",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action.add_argument("key", help="the action's key, snake_case (e.g. list_things)")
    action.add_argument("--pack", type=Path, default=Path(), help="the pack (default: here)")
    action.add_argument("--method", default="GET", help="the HTTP method (default GET)")
    action.add_argument("--path", default="/", help="the path below base_url, e.g. /things/{id}")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``connectorkit new``; 0 when the files are written, 2 when refused."""
    args = _parser().parse_args(list(argv))
    try:
        if args.kind == "pack":
            written = new_pack(args.dir, key=args.key, label=args.label)
            for path in written:
                print(f"  created  {path}", file=sys.stderr)  # noqa: T201
            print(f"next: cd {args.dir} && pytest", file=sys.stderr)  # noqa: T201
        else:
            path = new_action(args.pack, args.key, method=args.method, path=args.path)
            print(f"  created  {path}", file=sys.stderr)  # noqa: T201
    except (OSError, ValueError) as exc:
        print(f"connectorkit: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    return 0
