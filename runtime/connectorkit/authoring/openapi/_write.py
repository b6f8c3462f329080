"""Action files as YAML a person reads: block style, keys in a fixed order, prose folded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["action_yaml", "schema_header"]

_MARK = "# yaml-language-server: $schema="


def schema_header(root: Path) -> str:
    """The editor's schema line of an action file, pointing where the pack's connector points.

    A pack made by ``connectorkit new`` carries its own ``schemas/``; the packs of this
    repository point into the runtime's. An action file sits one folder deeper than
    ``connector.yaml``, so a relative target gains one ``../``.
    """
    try:
        first = (root / "connector.yaml").read_text(encoding="utf-8").split("\n", 1)[0]
    except OSError:
        first = ""
    target = "schemas/connector.schema.json"
    if first.startswith(_MARK) and first.endswith("/connector.schema.json"):
        target = first.removeprefix(_MARK)
    folder = target.removesuffix("connector.schema.json")
    if "://" not in folder and not folder.startswith("/"):
        folder = "../" + folder
    return f"{_MARK}{folder}action.schema.json\n"


def action_yaml(
    data: dict[str, Any], *, generated_from: str | None = None, header: str | None = None
) -> str:
    """The text of an action file for ``data``."""
    import yaml  # noqa: PLC0415 - only writing files needs it

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:  # noqa: ARG002 - PyYAML's signature
            return super().increase_indent(flow, indentless=False)

    def text(dumper: yaml.SafeDumper, value: str) -> Any:
        style = ">" if len(value) > 80 and " " in value and ": " not in value else None  # noqa: PLR2004
        if "\n" in value:
            style = "|"
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    Dumper.ignore_aliases = lambda *_: True  # type: ignore[method-assign] # repeated values stay written out
    body = yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    note = ""
    if generated_from:
        note = (
            f"# Imported from {generated_from} by `connectorkit import-openapi`. Running it again\n"
            "# renews the request and the inputs' types; labels, comments, defaults and examples\n"
            "# written here are kept.\n"
        )
    return (header or f"{_MARK}../schemas/action.schema.json\n") + note + body
