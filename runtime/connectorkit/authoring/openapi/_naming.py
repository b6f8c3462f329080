"""Names in a pack's style: ``Datasets_GetRefreshHistory`` becomes ``get_refresh_history``.

The style is the one of the bundled pack's hand-written actions: snake_case, verb first, a
``Get`` of a plural noun is a ``list_``, ``Post`` creates and ``Put``/``Patch`` update. A pack may
declare other verb words in ``connector.yaml`` (``openapi.verbs``).
"""

from __future__ import annotations

import re

__all__ = [
    "DEFAULT_VERBS",
    "group_label",
    "input_key",
    "operation_name",
    "singular",
    "split_words",
    "tag_noun",
    "title",
]

DEFAULT_VERBS = {"Post": "Create", "Put": "Update", "Patch": "Update"}
# Words kept in capitals in labels (they came that way, and lowercasing them reads wrong).
_UPPER = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_PLURAL_NOT = ("ss", "us", "is")


def split_words(text: str) -> list[str]:
    """``GetHTTPSettingsByID`` → ``[Get, HTTP, Settings, By, ID]``."""
    return _UPPER.findall(text)


def input_key(name: str) -> str:
    """A parameter or property name as a snake_case input key (``$top`` → ``top``)."""
    words = split_words(name.replace("$", " "))
    key = "_".join(w.lower() for w in words) or "value"
    key = re.sub(r"[^a-z0-9_]+", "_", key).strip("_")
    return key if key[:1].isalpha() else f"n_{key}"


def _is_plural(word: str) -> bool:
    return word.endswith("s") and not word.endswith(_PLURAL_NOT) and word not in _MASS_NOUNS


# Words that end in s but name one thing.
_MASS_NOUNS = frozenset({"Details", "Access", "Settings", "Analytics"})


def tag_noun(tag: str) -> list[str]:
    """The words of an operation group, without a ``(Preview)`` marker."""
    return split_words(re.sub(r"\(.*?\)|_", " ", tag))


def singular(word: str) -> str:
    """``Datasets`` → ``Dataset``, ``Libraries`` → ``Library``; a word not plural stays."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if _is_plural(word) else word


def operation_name(op_id: str) -> str:
    """The part of an operationId that names the call, without its group and markers.

    ``Datasets_GetRefreshHistory`` → ``GetRefreshHistory``; ``Goals_(Preview)_Get`` → ``Get``;
    ``LivySessions_List_Livy_Sessions_(beta)`` → ``ListLivySessions``: a release marker in
    parentheses is not a word of the name, and underscores inside it only separate words.
    """
    name = op_id.split("_", 1)[1] if "_" in op_id else op_id
    name = re.sub(r"\([^)]*\)", "", name)
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def title(op_id: str, tag: str, verbs: dict[str, str]) -> list[str]:
    """The words of an action's label, verb first (``[List, Refresh, History]``)."""
    name = operation_name(op_id)
    if not name[:1].isalpha():  # getThing_2: the tail is a number, the name is before it
        name = op_id.replace("_", " ")
    words = split_words(name) or ["Call"]
    words[0] = words[0][:1].upper() + words[0][1:]
    noun = tag_noun(tag)
    rest = words[1:]
    if rest[:2] == ["By", "ID"] or rest[:2] == ["By", "Id"]:
        rest = [*noun[:-1], singular(noun[-1]) if noun else "Item", *rest[2:]]
    elif not rest and noun and words[0] in {"Get", "Post", "Patch", "Put", "Delete"}:
        # A bare verb acts on the group's own items: Goals_Get lists goals.
        rest = noun if words[0] == "Get" else [*noun[:-1], singular(noun[-1])]
    if rest[-2:] == ["In", "Group"] and len(rest) > 2:  # noqa: PLR2004
        rest = rest[:-2]  # the workspace is an input; the key need not say so
    cut = next((i for i, w in enumerate(rest) if w in _QUALIFIERS), len(rest))
    lists = words[0] == "Get" and cut and _is_plural(rest[cut - 1])
    return ["List" if lists else verbs.get(words[0], words[0]), *rest]


# Words after which a name stops naming its noun (Get Datasets *As Admin*).
_QUALIFIERS = frozenset({"In", "As", "For", "By", "From", "Of", "To"})


def group_label(tag: str) -> str:
    """``PushDatasets`` → ``Push Datasets``; ``Goals_(Preview)`` → ``Goals (Preview)``."""
    preview = " (Preview)" if "(Preview)" in tag else ""
    return " ".join(tag_noun(tag)) + preview
