"""JSON as the tooling of API designers reads it: strict first, then leniently.

Connector definitions written by hand and accepted by the platforms that host them are often
not strict JSON: a byte-order mark, ``//`` comments, a comma too many or one missing, a tab
inside a string, a stray character after the document, bytes that are not UTF-8. A strict
parser refuses them all; this reader takes what such documents mean, and says what it had to
forgive (each kind once, with a count), so an import can report it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LenientJSONError", "Read", "read_json_text", "read_lenient"]

_BOM = b"\xef\xbb\xbf"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {"true": True, "false": False, "null": None}
_NUMBER_CHARS = frozenset("+-0123456789.eE")
_WORD_END = frozenset(",:]}[{\"'/")
_MAX_DEPTH = 512
_U = "\\u"


class LenientJSONError(ValueError):
    """Text that not even a lenient reading makes into JSON; says where."""


@dataclass(slots=True)
class Read:
    """A document and what had to be forgiven to read it (empty for strict JSON)."""

    value: Any
    forgiven: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """What was forgiven, one sentence per kind."""
        return [f"{what}{f' ({n})' if n > 1 else ''}" for what, n in self.forgiven.items()]


def read_json_text(data: bytes) -> Read:
    """Decode and read a JSON document leniently (see the module's docstring)."""
    forgiven: dict[str, int] = {}
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
        forgiven["a UTF-8 byte-order mark"] = 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        forgiven["text that is not UTF-8, read as Windows-1252"] = 1
    read = read_lenient(text)
    return Read(read.value, {**forgiven, **read.forgiven})


def read_lenient(text: str) -> Read:
    """The value of ``text``: strict JSON when it is, else a lenient reading of it."""
    try:
        return Read(json.loads(text))
    except (ValueError, RecursionError):
        pass
    parser = _Parser(text)
    value = parser.document()
    return Read(value, parser.forgiven)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.forgiven: dict[str, int] = {}
        self.open: list[str] = []  # the closing brackets of the containers being read

    def forgive(self, what: str) -> None:
        self.forgiven[what] = self.forgiven.get(what, 0) + 1

    def fail(self, message: str) -> LenientJSONError:
        line = self.text.count("\n", 0, self.at) + 1
        column = self.at - (self.text.rfind("\n", 0, self.at) + 1) + 1
        return LenientJSONError(f"{message} at line {line} column {column}")

    def document(self) -> Any:
        self.skip()
        if self.at >= len(self.text):
            raise self.fail("no JSON value")
        value = self.value(0)
        self.skip()
        if self.at < len(self.text):
            self.forgive("text after the end of the document, left out")
        return value

    def skip(self) -> None:
        """Blanks (any Unicode space) and comments."""
        text, size = self.text, len(self.text)
        while self.at < size:
            char = text[self.at]
            if char in " \t\r\n":
                self.at += 1
            elif char.isspace():
                self.at += 1
                self.forgive("spaces JSON does not know (Unicode spaces)")
            elif text.startswith("//", self.at):
                end = text.find("\n", self.at)
                self.at = size if end < 0 else end + 1
                self.forgive("comments")
            elif text.startswith("/*", self.at):
                end = text.find("*/", self.at + 2)
                self.at = size if end < 0 else end + 2
                self.forgive("comments")
            else:
                return

    def value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail("nesting too deep")
        char = self.text[self.at]
        if char == "{":
            return self.container(depth, "}", self.member)
        if char == "[":
            return self.container(depth, "]", self.element)
        if char in "\"'":
            return self.string()
        return self.word()

    def container(self, depth: int, close: str, item: Any) -> Any:  # noqa: C901 - one branch per forgiven form
        """An object or an array, read the way a forgiving reader does.

        Commas may be missing, or one too many before the end; a bracket missing before an
        enclosing one closes, or at the end of the text, is taken as there; a stray closing
        bracket of the other kind is left out.
        """
        self.at += 1
        self.open.append(close)
        out: Any = {} if close == "}" else []
        expect_item = True
        try:
            while True:
                self.skip()
                if self.at >= len(self.text):
                    self.forgive("brackets never closed")
                    return out
                char = self.text[self.at]
                if char == close:
                    if expect_item and out:
                        self.forgive("commas before a closing bracket")
                    self.at += 1
                    return out
                if char in "]}":
                    if self.misplaced(char):
                        return out  # an enclosing container ends: this one ended before it
                    continue
                if char == ",":
                    if expect_item:
                        raise self.fail("an empty element")
                    self.at += 1
                    expect_item = True
                    continue
                if close == "}" and char in "{[" and "]" in self.open[:-1]:
                    self.forgive("brackets missing or out of place")
                    return out  # the next element of an enclosing list: this object ended
                if not expect_item:
                    self.forgive("missing commas between members")
                item(out, depth)
                expect_item = False
        finally:
            self.open.pop()

    def misplaced(self, char: str) -> bool:
        """A closing bracket of the other kind: True when it ends an enclosing container."""
        self.forgive("brackets missing or out of place")
        if char in self.open[:-1]:
            return True
        self.at += 1  # a stray closing bracket
        return False

    def member(self, out: dict[str, Any], depth: int) -> None:
        char = self.text[self.at]
        key = self.string() if char in "\"'" else self.name()
        self.skip()
        if self.at >= len(self.text) or self.text[self.at] != ":":
            raise self.fail(f"':' expected after the key {key!r}")
        self.at += 1
        self.skip()
        if self.at >= len(self.text):
            raise self.fail("a value expected")
        out[key] = self.value(depth + 1)

    def element(self, out: list[Any], depth: int) -> None:
        out.append(self.value(depth + 1))

    def name(self) -> str:
        """A key without quotes (as JavaScript writes them)."""
        start = self.at
        while self.at < len(self.text) and (
            self.text[self.at].isalnum() or self.text[self.at] in "_$-"
        ):
            self.at += 1
        if self.at == start:
            raise self.fail(f"unexpected {self.text[start]!r}")
        self.forgive("keys without quotes")
        return self.text[start : self.at]

    def string(self) -> str:
        quote = self.text[self.at]
        if quote == "'":
            self.forgive("strings in single quotes")
        self.at += 1
        parts: list[str] = []
        text, size = self.text, len(self.text)
        start = self.at
        while self.at < size:
            char = text[self.at]
            if char == quote:
                parts.append(text[start : self.at])
                self.at += 1
                return "".join(parts)
            if char == "\\":
                parts.append(text[start : self.at])
                parts.append(self.escape())
                start = self.at
                continue
            if char < " ":
                self.forgive("control characters inside strings")
            self.at += 1
        raise self.fail("a string is never closed")

    def escape(self) -> str:
        self.at += 1
        if self.at >= len(self.text):
            raise self.fail("a string is never closed")
        char = self.text[self.at]
        self.at += 1
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char == "u":
            return self.unicode_escape()
        self.forgive("unknown escapes in strings, kept as written")
        return char

    def unicode_escape(self) -> str:
        """A Unicode escape (four hex digits), or two making one character (a surrogate pair)."""
        digits = self.text[self.at : self.at + 4]
        pair = self.text[self.at + 4 : self.at + 10]
        for tail in ((pair,) if pair.startswith(_U) else ()) + ("",):
            try:
                decoded = json.loads('"' + _U + digits + tail + '"')
            except ValueError:
                continue
            if tail and len(decoded) == 1:
                self.at += 10
                return str(decoded)
            self.at += 4
            return str(decoded[0])
        raise self.fail("a \\u escape needs four hex digits")

    def word(self) -> Any:
        """A number or a literal (true, false, null)."""
        start = self.at
        text = self.text
        while (
            self.at < len(text) and not text[self.at].isspace() and text[self.at] not in _WORD_END
        ):
            self.at += 1
        word = text[start : self.at]
        if word in _LITERALS:
            return _LITERALS[word]
        if word and set(word) <= _NUMBER_CHARS:
            for kind in (int, float):
                try:
                    return kind(word)
                except ValueError:
                    continue
        self.at = start
        raise self.fail(f"unexpected {word[:20] or text[start]!r}")
