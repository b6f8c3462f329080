"""Action files as YAML a person reads: block style, keys in a fixed order, prose folded."""

from __future__ import annotations

from typing import Any

__all__ = ["action_yaml"]

HEADER = "# yaml-language-server: $schema=../schemas/action.schema.json\n"


def action_yaml(data: dict[str, Any], *, generated_from: str | None = None) -> str:
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
    return HEADER + note + body
