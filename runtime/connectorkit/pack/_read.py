"""Read a pack's YAML files: each parsed once, strictly (a key repeated in a mapping is refused)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import Problem
from connectorkit.pack._files import FileKind, pack_files

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Document", "read_documents"]


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed YAML file of a pack: where it is, what it is, its data and its text."""

    path: Path
    kind: FileKind
    data: Any
    text: str


@functools.cache
def _loader() -> type[Any]:
    """A safe YAML loader (the C one when present) that refuses a key repeated in a mapping."""
    import yaml  # noqa: PLC0415 - only pack loading needs YAML

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key '{key}' appears twice in this mapping",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _yaml_load(text: str) -> Any:
    import yaml  # noqa: PLC0415 - only pack loading needs YAML

    return yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader either way


def read_documents(root: Path) -> tuple[list[Document], list[Problem]]:
    """Read a pack's files under ``root``: connector.yaml, its connections, actions and triggers."""
    import yaml  # noqa: PLC0415 - only pack loading needs YAML

    documents: list[Document] = []
    problems: list[Problem] = []
    for path, kind in pack_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(Problem(rel, None, "", "file is missing"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(rel, None, "", f"cannot be read: {exc}"))
            continue
        try:
            data = _yaml_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            reason = getattr(exc, "problem", None) or str(exc)
            problems.append(Problem(rel, line, "", f"is not valid YAML: {reason}"))
            continue
        documents.append(Document(path=path, kind=kind, data=data, text=text))
    return documents, problems
