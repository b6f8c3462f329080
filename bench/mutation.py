"""Mutation run over the modules that keep calls safe: does a small bug in each get caught?

Each mutant is one small deliberate bug (a comparison's boundary moved, ``and`` for ``or``, a
number off by one, a string of a set changed, a call left out, a character class of a regular
expression missing one member, ...). It is written into a scratch copy of this checkout
(``.mutation/tree``; the checkout itself is never touched), and the tests that cover it run
against that copy: the module's in-process tests that execute the mutated line (found once per
module with coverage, one context per test) and then the end-to-end tests listed for the module,
which run the real ``connectorkit`` command in subprocesses (they see the copy through
``PYTHONPATH``). A mutant is *caught* when a test fails (or the run errors or times out), it
*survived* when every test passed, and it is *equivalent* when it is listed in ``EQUIVALENT``
with the reason why no user could notice it (``mutation-equivalent.toml``).

Slow by design and not part of CI. ``scripts/mutation`` installs what it needs (coverage) and
runs it; results are kept in ``.mutation/state.json``, so an interrupted run resumes where it
stopped, and a module's results are redone only when its source changed (survivors also when a
test file changed). Modules run one at a time, one mutant at a time.

    scripts/mutation                      # every module
    scripts/mutation retry redaction      # some of them
    scripts/mutation --list retry         # the mutants of a module, without running them
    scripts/mutation --report             # what the last runs found, without running anything
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tokenize
import tomllib
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
TREE = WORK / "tree"
STATE = WORK / "state.json"
PKG = "runtime/connectorkit"

E2E = "tests/test_e2e.py::test_"
STATE_E2E = "tests/test_state_e2e.py::test_"
BULK_E2E = "tests/test_bulk.py::test_"
# The pushes a trigger lists from the job ledger: how each ended, and how many times.
JOBS_ENDED = "tests/test_e2e_triggers.py::test_pushes_that_finished_come_from_the_job_ledger"


@dataclasses.dataclass(frozen=True)
class Target:
    """One module under mutation and the tests that cover it."""

    path: str
    tests: tuple[str, ...]  # in-process test files (coverage picks the tests per line)
    e2e: tuple[str, ...] = ()  # subprocess tests (node ids or files), run for every mutant
    scopes: tuple[str, ...] = ()  # only these functions and classes (all when empty)

    def mutants(self, text: str) -> list[Mutant]:
        """The mutants of this target's part of ``text``."""
        found = mutants_of(text)
        if not self.scopes:
            return found
        return [m for m in found if _within(m.key.split("|")[0], self.scopes)]


MODULES: dict[str, Target] = {
    "retry": Target(
        f"{PKG}/http/_retry.py",
        ("tests/test_retry.py", "tests/test_budget.py", "tests/test_auth.py"),
        (
            f"{E2E}a_429_is_waited_out_and_the_rows_are_stored_once",
            f"{E2E}a_read_whose_connection_drops_is_retried",
            f"{E2E}a_connection_dropped_after_the_rows_were_committed_is_not_retried",
        ),
    ),
    "templates": Target(
        f"{PKG}/core/_template.py",
        (
            "tests/test_template.py",
            "tests/test_run.py",
            "tests/test_push.py",
            "tests/test_pack.py",
            "tests/test_retry.py",
            "tests/test_triggers.py",
        ),
        (f"{E2E}a_signed_in_user_also_works_in_a_workspace",),
    ),
    "redaction": Target(
        f"{PKG}/core/_redact.py",
        ("tests/test_redact.py", "tests/test_secrets.py"),
        (f"{E2E}a_wrong_client_secret_is_an_auth_error_without_the_secret",),
    ),
    "bounds": Target(
        f"{PKG}/http/_bounds.py",
        ("tests/test_budget.py", "tests/test_retry.py"),
        (
            "tests/test_budget.py::test_a_program_that_armed_the_watchdog_still_exits_when_it_is_done",
            f"{E2E}a_call_that_outlives_its_timeout_is_a_timeout",
        ),
    ),
    "settings": Target(
        f"{PKG}/core/_settings.py",
        ("tests/test_settings.py", "tests/test_budget.py", "tests/test_limits.py"),
        (f"{E2E}a_call_that_outlives_its_timeout_is_a_timeout",),
    ),
    "limits": Target(
        f"{PKG}/http/_limits.py",
        ("tests/test_limits.py", "tests/test_bulk_accounting.py"),
        (f"{E2E}the_push_rate_limit_is_waited_out_between_batches",),
    ),
    "batching": Target(
        f"{PKG}/bulk/_batching.py",
        ("tests/test_push.py", "tests/test_rows_fast_path.py", "tests/test_bulk_accounting.py"),
        (
            f"{BULK_E2E}five_batches_in_flight_store_every_row_once",
            f"{E2E}a_429_is_waited_out_and_the_rows_are_stored_once",
        ),
    ),
    "oauth_renewal": Target(
        f"{PKG}/auth/_flow.py",
        (
            "tests/test_auth.py",
            "tests/test_oauth.py",
            "tests/test_stored.py",
            "tests/test_services.py",
        ),
        (
            f"{STATE_E2E}a_stored_connection_is_named_in_requests_and_renewed_in_the_store",
            f"{E2E}an_expired_user_token_is_refreshed_first_and_the_old_refresh_token_is_then_spent",
            f"{E2E}a_token_the_service_refuses_is_renewed_once_and_the_request_retried",
            f"{E2E}a_service_principal_token_the_service_calls_expired_is_fetched_again",
            "tests/test_secrets.py::test_a_token_another_process_renewed_is_masked_when_the_service_echoes_it",
        ),
    ),
    "row_checks": Target(
        f"{PKG}/bulk/_push.py",
        (
            "tests/test_row_checks.py",
            "tests/test_rows_fast_path.py",
            "tests/test_row_blocks.py",
            "tests/test_run.py",
            "tests/test_template.py",
            "tests/test_bulk_accounting.py",
        ),
        (
            f"{BULK_E2E}every_row_is_checked_before_anything_is_sent",
            f"{BULK_E2E}bad_rows_can_be_skipped_and_are_listed",
            f"{E2E}a_bad_request_exits_2_and_sends_nothing",
        ),
        scopes=(
            "_row_schema",
            "row_validator",
            "_RowChecks",
            "_json_types",
            "_row_details",
            "BulkPush._validator",
            "BulkPush._discover",
            "BulkPush._check",
        ),
    ),
    "row_types": Target(
        f"{PKG}/types/_fastpath.py",
        (
            "tests/test_rows_fast_path.py",
            "tests/test_row_blocks.py",
            "tests/test_types.py",
            "tests/test_validate.py",
        ),
        (f"{BULK_E2E}every_row_is_checked_before_anything_is_sent",),
    ),
    "ledger": Target(
        f"{PKG}/state/_ledger.py",
        ("tests/test_state.py", "tests/test_bulk_accounting.py"),
        (
            f"{BULK_E2E}a_push_killed_mid_way_resumes_without_doubling_a_committed_row",
            JOBS_ENDED,
        ),
    ),
    "records": Target(
        f"{PKG}/state/_records.py",
        ("tests/test_state.py", "tests/test_state_retention.py", "tests/test_bulk_accounting.py"),
        (
            f"{BULK_E2E}a_push_killed_mid_way_resumes_without_doubling_a_committed_row",
            JOBS_ENDED,
        ),
    ),
    "jobs": Target(
        f"{PKG}/bulk/_jobs.py",
        (
            "tests/test_job_summary.py",
            "tests/test_state.py",
            "tests/test_template.py",
            "tests/test_triggers.py",
        ),
        (
            f"{BULK_E2E}a_push_killed_mid_way_resumes_without_doubling_a_committed_row",
            JOBS_ENDED,
        ),
    ),
}

# Mutants no user could notice, per module: key (see --list) -> the reason.
EQUIVALENT: dict[str, dict[str, str]] = tomllib.loads(
    (Path(__file__).with_name("mutation-equivalent.toml")).read_text()
)


def _within(scope: str, scopes: tuple[str, ...]) -> bool:
    return any(scope == s or scope.startswith(s + ".") for s in scopes)


# ---------------------------------------------------------------------------------------------
# Mutants


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One small bug: replace ``source[start:end]`` with ``replacement``."""

    key: str
    line: int
    start: int
    end: int
    replacement: str
    operator: str
    before: str
    after: str
    in_function: bool
    lines: tuple[int, ...]  # the source lines whose tests may notice it
    names: tuple[str, ...] = ()  # the module-level names it changes the value of
    scope: str = ""  # digest of the code around it: its result stands while that is unchanged

    def apply(self, source: str) -> str:
        """The module's source with this bug in it."""
        return source[: self.start] + self.replacement + source[self.end :]


_COMPARE_SWAP = {
    ast.Lt: "<=",
    ast.LtE: "<",
    ast.Gt: ">=",
    ast.GtE: ">",
    ast.Eq: "!=",
    ast.NotEq: "==",
    ast.In: "not in",
    ast.NotIn: "in",
    ast.Is: "is not",
    ast.IsNot: "is",
}
_BINOP_SWAP = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.Mult: ("*", "/"),
    ast.Div: ("/", "*"),
    ast.FloorDiv: ("//", "/"),
    ast.Mod: ("%", "//"),
    ast.Pow: ("**", "*"),
}
_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
_REGEX_FUNCS = {"compile", "sub", "match", "fullmatch", "search", "findall", "finditer"}
_INIT_METHODS = {"__init__", "__post_init__"}


class _Source:
    """Positions in a module's text (the AST's columns count UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, col: int) -> int:
        raw = self.lines[line - 1].encode()[:col]
        return self.starts[line - 1] + len(raw.decode())

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]


def _operator_span(text: str, start: int, end: int, token: str) -> tuple[int, int] | None:
    """Where the operator ``token`` sits between two operands (comments and brackets skipped)."""
    between = text[start:end]
    words = token.split()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(between).readline))
    except (tokenize.TokenError, IndentationError):
        tokens = []
    names = [t for t in tokens if t.type in (tokenize.OP, tokenize.NAME)]
    names = [t for t in names if t.string not in "()"]
    if [t.string for t in names] != words:
        return None
    lines = between.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    first, last = names[0], names[-1]
    return (
        start + starts[first.start[0] - 1] + first.start[1],
        start + starts[last.end[0] - 1] + last.end[1],
    )


def _op_text(op: ast.cmpop) -> str:
    return {
        ast.Lt: "<",
        ast.LtE: "<=",
        ast.Gt: ">",
        ast.GtE: ">=",
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Is: "is",
        ast.IsNot: "is not",
    }[type(op)]


def _class_members(pattern: str, start: int) -> tuple[list[tuple[int, int]], int]:
    """The members (spans) of the character class opening at ``start``, and where it closes."""
    close = start + 1
    if close < len(pattern) and pattern[close] == "^":
        close += 1
    if close < len(pattern) and pattern[close] == "]":
        close += 1
    members: list[tuple[int, int]] = []
    while close < len(pattern) and pattern[close] != "]":
        size = 2 if pattern[close] == "\\" else 1
        after = close + size
        if after + 1 < len(pattern) and pattern[after] == "-" and pattern[after + 1] != "]":
            size += 2 if pattern[after + 1] != "\\" else 3  # a range: a-z
        members.append((close, close + size))
        close += size
    return members, close


def _regex_mutations(pattern: str) -> list[tuple[str, str]]:
    """(what, pattern): each member of a character class left out; ``*`` and ``+`` swapped."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            members, close = _class_members(pattern, i)
            if len(members) > 1:
                shown = pattern[i + 1 : close]
                out.extend(
                    (f"[{shown}] without {pattern[a:b]}", pattern[:a] + pattern[b:])
                    for a, b in members
                )
            i = close + 1
            continue
        if char in "*+" and i > 0:
            other = "+" if char == "*" else "*"
            out.append((f"{char} at {i} as {other}", pattern[:i] + other + pattern[i + 1 :]))
        i += 1
    return out


def _literal(pattern: str) -> str:
    """Python source for ``pattern``, raw when that keeps it as written."""
    for quote in ('"', "'"):
        if quote not in pattern and not pattern.endswith("\\"):
            return f"r{quote}{pattern}{quote}"
    return repr(pattern)


class _Finder(ast.NodeVisitor):
    """Walks a module and lists its mutants."""

    def __init__(self, source: _Source, pattern_parts: set[str]) -> None:
        self.src = source
        self.pattern_parts = pattern_parts
        self.found: list[Mutant] = []
        self.scope: list[str] = []
        self.functions: list[ast.AST] = []
        self.globals: list[set[str]] = []
        self.counts: dict[str, int] = {}
        self.statement: ast.stmt | None = None
        self.top: ast.stmt | None = None

    # -- bookkeeping

    def add(  # noqa: PLR0917 - one mutant's every part
        self,
        node: ast.AST,
        start: int,
        end: int,
        replacement: str,
        operator: str,
        shown: str | None = None,
    ) -> None:
        before = self.src.text[start:end]
        if before == replacement:
            return
        scope = ".".join(self.scope) or "<module>"
        short_before = " ".join(before.split())
        short_after = " ".join(replacement.split())
        base = f"{scope}|{operator}|{shown or f'{short_before} -> {short_after}'}"
        number = self.counts.get(base, 0)
        self.counts[base] = number + 1
        key = base if number == 0 else f"{base}#{number + 1}"
        line = node.lineno  # type: ignore[attr-defined]
        lines = set(range(line, node.end_lineno + 1))  # type: ignore[attr-defined]
        names: tuple[str, ...] = ()
        if self.statement is not None:
            lines.add(self.statement.lineno)
            statement = self.statement
            if not self.scope and isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                names = tuple(t.id for t in targets if isinstance(t, ast.Name))
        self.found.append(
            Mutant(
                key=key,
                line=line,
                start=start,
                end=end,
                replacement=replacement,
                operator=operator,
                before=short_before,
                after=short_after,
                in_function=bool(self.functions),
                lines=tuple(sorted(lines)),
                names=names,
                scope=self._scope_digest(node),
            )
        )

    def _scope_digest(self, node: ast.AST) -> str:
        """The digest of the outermost function around ``node`` (or its top-level statement)."""
        around = self.functions[0] if self.functions else (self.top or node)
        text = ast.get_source_segment(self.src.text, around) or ""
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            outer, self.statement = self.statement, node
            super().generic_visit(node)
            self.statement = outer
        else:
            super().generic_visit(node)

    # -- what is never mutated

    def visit_Import(self, _node: ast.Import) -> None:
        return

    def visit_ImportFrom(self, _node: ast.ImportFrom) -> None:
        return

    def visit_JoinedStr(self, _node: ast.JoinedStr) -> None:
        return  # messages: their numbers and words are not behaviour

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self.generic_visit(node)

    def _body(self, body: list[ast.stmt]) -> None:
        for number, stmt in enumerate(body):
            is_docstring = (
                number == 0
                and isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            )
            if not is_docstring:
                self.visit(stmt)

    def visit_Module(self, node: ast.Module) -> None:
        for number, statement in enumerate(node.body):
            self.top = statement
            self._body([statement] if number else node.body[:1])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # Decorators (``@dataclass(slots=True)``) are left alone: storage, not behaviour.
        self.scope.append(node.name)
        self._body(node.body)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self.scope.append(node.name)
        self.functions.append(node)
        self.globals.append(
            {n for stmt in ast.walk(node) if isinstance(stmt, ast.Global) for n in stmt.names}
        )
        self._body(node.body)
        self.globals.pop()
        self.functions.pop()
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - the name ast.NodeVisitor calls

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            outer, self.statement = self.statement, node
            self.visit(node.value)
            self.statement = outer

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return
        function = self.functions[-1] if self.functions else None
        in_init = isinstance(function, ast.FunctionDef) and function.name in _INIT_METHODS
        kept = [
            t
            for t in node.targets
            if isinstance(t, ast.Subscript)
            or (isinstance(t, ast.Attribute) and not in_init)
            or (isinstance(t, ast.Name) and self.globals and t.id in self.globals[-1])
        ]
        if kept and function is not None:
            self.add(node, self.src.start(node), self.src.end(node), "pass", "drop assignment")
        first = node.targets[0]
        named = first.id if isinstance(first, ast.Name) else None
        value = node.value
        if named in self.pattern_parts and isinstance(value, ast.Constant) and value.value:
            outer, self.statement = self.statement, node
            self._regex(value, named)  # a part of a pattern that an f-string builds
            self.statement = outer
            return
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call) and not self._is_log(node.value):
            self.add(node, self.src.start(node), self.src.end(node), "pass", "drop call")
        self.generic_visit(node)

    def _is_log(self, call: ast.Call) -> bool:
        func = call.func
        return isinstance(func, ast.Attribute) and func.attr in _LOG_METHODS

    # -- operators

    def visit_Call(self, node: ast.Call) -> None:
        if self._is_log(node):
            return
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"min", "max"}:
            other = "max" if func.id == "min" else "min"
            self.add(func, self.src.start(func), self.src.end(func), other, "min/max")
        regex = (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "re"
            and func.attr in _REGEX_FUNCS
        )
        if regex and node.args and isinstance(node.args[0], ast.Constant):
            pattern = node.args[0]
            if isinstance(pattern.value, str):
                self._regex(pattern, self._assigned_name())
                for arg in node.args[1:]:
                    self.visit(arg)
                for keyword in node.keywords:
                    self.visit(keyword.value)
                return
        self.visit(func)
        for arg in node.args:
            self._arg(arg, func)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def _regex(self, pattern: ast.Constant, named: str | None) -> None:
        for what, mutated in _regex_mutations(str(pattern.value)):
            self.add(
                pattern,
                self.src.start(pattern),
                self.src.end(pattern),
                _literal(mutated),
                "regex",
                f"{named}: {what}" if named else what,
            )

    def _assigned_name(self) -> str | None:
        statement = self.statement
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            return statement.targets[0].id
        return None

    def _arg(self, arg: ast.expr, func: ast.expr) -> None:
        """A call's argument: strings only as keys (``.get("NAME")``), not as messages."""
        keyish = isinstance(func, ast.Attribute) and func.attr in {"get", "pop", "getenv"}
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and keyish:
            self._string(arg)
        else:
            self.visit(arg)

    def _string(self, node: ast.Constant) -> None:
        text = node.value
        mutated = "" if text else "X"  # a value gone: a set without it, a key never found
        self.add(node, self.src.start(node), self.src.end(node), repr(mutated), "string")

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        where = (self.src.start(node), self.src.end(node))
        if isinstance(value, bool):
            self.add(node, *where, repr(not value), "true/false")
        elif isinstance(value, int | float) and not isinstance(value, complex):
            self.add(node, *where, repr(value + 1), "number + 1")

    def _container(self, elements: list[ast.expr]) -> None:
        for element in elements:
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                self._string(element)
            else:
                self.visit(element)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "Literal":
            return  # a type's values: nothing reads them at run time
        self.generic_visit(node)

    def visit_Set(self, node: ast.Set) -> None:
        self._container(node.elts)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        self._container(node.elts)

    def visit_List(self, node: ast.List) -> None:
        self._container(node.elts)

    def visit_Dict(self, node: ast.Dict) -> None:
        self._container([k for k in node.keys if k is not None])
        self._container(node.values)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for number, op in enumerate(node.ops):
            left, right = operands[number], operands[number + 1]
            span = _operator_span(
                self.src.text, self.src.end(left), self.src.start(right), _op_text(op)
            )
            if span is not None:
                self.add(node, *span, _COMPARE_SWAP[type(op)], "comparison")
        self._container(operands)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        word = "and" if isinstance(node.op, ast.And) else "or"
        other = "or" if word == "and" else "and"
        for left, right in zip(node.values, node.values[1:], strict=False):
            span = _operator_span(self.src.text, self.src.end(left), self.src.start(right), word)
            if span is not None:
                self.add(node, *span, other, "and/or")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swap = _BINOP_SWAP.get(type(node.op))
        if swap is not None:
            token, other = swap
            span = _operator_span(
                self.src.text, self.src.end(node.left), self.src.start(node.right), token
            )
            if span is not None:
                self.add(node, *span, other, "arithmetic")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        swap = _BINOP_SWAP.get(type(node.op))
        if swap is not None:
            token, other = swap
            span = _operator_span(
                self.src.text, self.src.end(node.target), self.src.start(node.value), token + "="
            )
            if span is not None:
                self.add(node, *span, other + "=", "arithmetic")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self.add(node, self.src.start(node), self.src.start(node.operand), "", "drop not")
        self.generic_visit(node)

    def visit_Break(self, node: ast.Break) -> None:
        self.add(node, self.src.start(node), self.src.end(node), "continue", "break/continue")

    def visit_Continue(self, node: ast.Continue) -> None:
        self.add(node, self.src.start(node), self.src.end(node), "break", "break/continue")


def _pattern_parts(tree: ast.Module) -> set[str]:
    """Names whose text an f-string puts into a regular expression (``re.compile(rf"{_NAME}")``)."""
    parts: set[str] = set()
    for node in ast.walk(tree):
        func = node.func if isinstance(node, ast.Call) else None
        if (
            isinstance(node, ast.Call)
            and isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "re"
            and node.args
            and isinstance(node.args[0], ast.JoinedStr)
        ):
            parts.update(
                n.id
                for v in node.args[0].values
                if isinstance(v, ast.FormattedValue)
                for n in ast.walk(v.value)
                if isinstance(n, ast.Name)
            )
    return parts


def mutants_of(text: str) -> list[Mutant]:
    """Every mutant of a module's source that still compiles and differs from it."""
    tree = ast.parse(text)
    finder = _Finder(_Source(text), _pattern_parts(tree))
    finder.visit(tree)
    original = ast.dump(tree)
    seen: set[str] = set()
    out: list[Mutant] = []
    for mutant in sorted(finder.found, key=lambda m: (m.start, m.key)):
        mutated = mutant.apply(text)
        try:
            dumped = ast.dump(ast.parse(mutated))
        except SyntaxError:
            continue
        if dumped == original or dumped in seen:
            continue
        seen.add(dumped)
        out.append(mutant)
    return out


# ---------------------------------------------------------------------------------------------
# Running


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _test_files(target: Target) -> list[Path]:
    files = {t.split("::")[0] for t in (*target.tests, *target.e2e)}
    return [TREE / f for f in sorted(files)] + [TREE / "tests/conftest.py"]


def copy_tree() -> None:
    """A scratch copy of the checkout as it is now (tracked and new files), for the mutants."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    if TREE.exists():
        shutil.rmtree(TREE)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if name.startswith(".mutation/") or not source.is_file():
            continue
        dest = TREE / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(TREE / "runtime"), str(TREE / "emulators"), str(ROOT / "bench")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("CONNECTORKIT_PACK", None)
    return env


def _forget_bytecode(module: Path) -> None:
    for cached in (module.parent / "__pycache__").glob(f"{module.stem}.*.pyc"):
        cached.unlink(missing_ok=True)


def _pytest(
    tests: list[str],
    timeout: float,
    extra: tuple[str, ...] = (),
    plugins: tuple[str, ...] = (),
) -> tuple[str, float]:
    """Run ``tests`` in the scratch copy: ("passed" | "failed" | "error" | "timeout", seconds)."""
    command = [
        sys.executable,
        *extra,
        "-m",
        "pytest",
        *_PYTEST_ARGS,
        *(f"-p{plugin}" for plugin in plugins),
        *tests,
    ]
    started = time.monotonic()
    with subprocess.Popen(
        command,
        cwd=TREE,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as process:
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait()
            return "timeout", time.monotonic() - started
    seconds = time.monotonic() - started
    return {0: "passed", 1: "failed"}.get(code, "error"), seconds


_PYTEST_ARGS = ("-x", "-q", "--no-header", "--tb=no", "-p", "no:cacheprovider")
# What every test run imports before a line of the project's: imported once by the forking
# runner, so that each mutant's run starts from there (never connectorkit itself: the mutant
# must be imported afresh).
_PRELOAD = (
    "pytest",  # not its plugins: pytest rewrites their asserts when it loads them
    "httpx",
    "jsonschema",
    "referencing",
    "yaml",
    "msgspec",
    "orjson",
    "cryptography.fernet",
    "uvicorn",
)


class Forks:
    """Runs pytest in a child forked from one process that has imported the usual libraries.

    A mutant's run then costs its tests and the project's own imports, not an interpreter and
    every library's import each time (on a loaded machine that is most of a short run).
    """

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--fork-server"],
            cwd=TREE,
            env=_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, tests: list[str], timeout: float) -> tuple[str, float]:
        """Like :func:`_pytest`, through the forking process."""
        assert self._process.stdin is not None  # noqa: S101 - made with pipes
        assert self._process.stdout is not None  # noqa: S101
        self._process.stdin.write(json.dumps([[*_PYTEST_ARGS, *tests], timeout]) + "\n")
        self._process.stdin.flush()
        outcome, seconds = json.loads(self._process.stdout.readline())
        return outcome, seconds

    def close(self) -> None:
        """End the forking process."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait()


def fork_server() -> None:
    """The forking process of :class:`Forks`: one JSON line in (args, timeout), one out."""
    import importlib  # noqa: PLC0415

    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for line in sys.stdin:
        args, timeout = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: one pytest run, its output thrown away
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            code = 3
            try:
                import pytest  # noqa: PLC0415

                code = int(pytest.main(args))
            except BaseException:  # noqa: BLE001 - a run that blows up is a caught mutant
                traceback.print_exc()
            finally:
                os._exit(code)
        outcome = "timeout"
        while time.monotonic() - started < timeout:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                outcome = {0: "passed", 1: "failed"}.get(code, "error")
                break
            time.sleep(0.02)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, 9)
            os.waitpid(pid, 0)
        sys.stdout.write(json.dumps([outcome, time.monotonic() - started]) + "\n")
        sys.stdout.flush()


def line_tests(target: Target, state: dict[str, Any]) -> tuple[dict[int, list[str]], float]:
    """Which in-process tests run each line of the module (coverage, one context per test)."""
    module = TREE / target.path
    key = _digest(module, *_test_files(target))
    cached = state.get("coverage")
    if cached and cached.get("key") == key:
        return {int(k): v for k, v in cached["lines"].items()}, cached["seconds"]
    import coverage  # noqa: PLC0415 - the bench extra, installed by scripts/mutation

    data_file = WORK / "coverage.data"
    data_file.unlink(missing_ok=True)
    rc = WORK / "coveragerc"
    rc.write_text(f"[run]\ndata_file = {data_file}\ninclude = {module}\n")
    _forget_bytecode(module)
    outcome, seconds = _pytest(
        list(target.tests),
        timeout=3600,
        extra=("-m", "coverage", "run", f"--rcfile={rc}"),
        plugins=("_mutation_contexts",),
    )
    if outcome != "passed":
        raise SystemExit(f"the tests of {target.path} do not pass unmutated ({outcome})")
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    lines: dict[int, set[str]] = {}
    for filename in data.measured_files():
        for line, contexts in (data.contexts_by_lineno(filename) or {}).items():
            lines.setdefault(line, set()).update(c for c in contexts if c)
    found = {line: sorted(tests) for line, tests in lines.items()}
    state["coverage"] = {"key": key, "lines": found, "seconds": seconds}
    return found, seconds


def _users(text: str, path: Path, names: tuple[str, ...]) -> set[int] | None:
    """The lines of functions of the module that read ``names`` (``None``: any test may notice).

    ``None`` too when one is read at import time or by another module of the package.
    """
    if not names:
        return None
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    dotted = ".".join(path.relative_to(TREE / "runtime").with_suffix("").parts)
    for other in (TREE / PKG).rglob("*.py"):
        text_of_other = other.read_text() if other != path else ""
        if dotted in text_of_other and pattern.search(text_of_other):
            return None
    found: set[int] = set()

    def walk(node: ast.AST, *, in_function: bool) -> bool:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if (
                isinstance(child, ast.Name)
                and child.id in names
                and isinstance(child.ctx, ast.Load)
            ):
                if not in_function:
                    return False
                found.add(child.lineno)
            if not walk(child, in_function=inside):
                return False
        return True

    return found if walk(ast.parse(text), in_function=False) else None


def _save(state: dict[str, Any]) -> None:
    temporary = STATE.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=1, sort_keys=True))
    temporary.replace(STATE)


def run_module(
    name: str, target: Target, state: dict[str, Any], forks: Forks, *, verbose: bool
) -> None:
    """Run every mutant of one module not yet decided for its current source."""
    module = TREE / target.path
    text = module.read_text()
    source_key = _digest(module)
    tests_key = _digest(*_test_files(target))
    entry = state.setdefault(name, {})
    if entry.get("source") != source_key:
        # The module changed: a result stands only where the code around its mutant did not.
        kept = {k: r for k, r in entry.get("results", {}).items() if r.get("scope")}
        entry.clear()
        entry.update(source=source_key, results=kept)
    results: dict[str, Any] = entry.setdefault("results", {})
    mutants = target.mutants(text)
    entry["mutants"] = len(mutants)
    todo = [
        m
        for m in mutants
        if m.key not in results
        or results[m.key].get("scope", m.scope) != m.scope
        or (
            results[m.key]["status"] == "survived"
            and results[m.key].get("tests") != tests_key
            and m.key not in EQUIVALENT.get(name, {})  # no test can catch it: not run again
        )
    ]
    print(f"== {name}: {target.path}: {len(mutants)} mutants, {len(todo)} to run", flush=True)
    if not todo:
        return
    by_line, full_seconds = line_tests(target, entry)
    _save(state)
    timeout = max(60.0, 3 * full_seconds)
    # The module's own test files first, in the order listed: the likeliest to fail fast.
    every = sorted({t for tests in by_line.values() for t in tests})
    order = {
        t: (next((n for n, f in enumerate(target.tests) if t.startswith(f)), 99), i)
        for i, t in enumerate(every)
    }
    try:
        for number, mutant in enumerate(todo, 1):
            lines = set(mutant.lines) if mutant.in_function else _users(text, module, mutant.names)
            if lines is not None:
                chosen = sorted(
                    {t for line in lines for t in by_line.get(line, ())}, key=order.__getitem__
                )
            else:
                chosen = list(target.tests)  # run at import time: any test may notice
            tests = [*chosen, *target.e2e]
            if not tests:
                outcome, seconds = "passed", 0.0
            else:
                module.write_text(mutant.apply(text))
                _forget_bytecode(module)
                outcome, seconds = forks.run(tests, timeout)
            status = "survived" if outcome == "passed" else "caught"
            results[mutant.key] = {
                "status": status,
                "how": outcome,
                "line": mutant.line,
                "scope": mutant.scope,
                "tests": tests_key,
                "ran": len(tests),
                "seconds": round(seconds, 1),
            }
            _save(state)
            if verbose or status == "survived":
                print(
                    f"  [{number}/{len(todo)}] L{mutant.line} {status} ({outcome}, "
                    f"{len(tests)} tests, {seconds:.0f} s): {mutant.key}",
                    flush=True,
                )
    finally:
        module.write_text(text)
        _forget_bytecode(module)


# ---------------------------------------------------------------------------------------------
# Report


def _module_report(name: str, state: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """Print a module's figures and survivors; (mutants, caught, survived, equivalent, not run)."""
    target = MODULES[name]
    path = ROOT / target.path
    mutants = {m.key: m for m in target.mutants(path.read_text())}
    entry = state.get(name, {})
    same_source = entry.get("source") == _digest(path)
    results = {
        key: result
        for key, result in entry.get("results", {}).items()
        if key in mutants
        and result.get("scope", mutants[key].scope if same_source else None) == mutants[key].scope
    }
    known = EQUIVALENT.get(name, {})
    counts = {"caught": 0, "survived": 0, "equivalent": 0, "missing": 0}
    survivors: list[tuple[Mutant, str | None]] = []
    for key, mutant in mutants.items():
        result = results.get(key)
        if result is None:
            counts["missing"] += 1
        elif result["status"] == "caught":
            counts["caught"] += 1
        else:
            kind = "equivalent" if key in known else "survived"
            counts[kind] += 1
            survivors.append((mutant, known.get(key)))
    counted = counts["caught"] + counts["survived"]
    score = 100.0 * counts["caught"] / counted if counted else 0.0
    print(f"\n{name}  {target.path}")
    print(
        f"  mutants {len(mutants)}  caught {counts['caught']}  survived {counts['survived']}  "
        f"equivalent {counts['equivalent']}  not run {counts['missing']}  score {score:.1f} %"
    )
    for mutant, reason in sorted(survivors, key=lambda s: s[0].line):
        label = "equivalent" if reason else "SURVIVED"
        print(f"  {label} {target.path}:{mutant.line}  {mutant.key}")
        if reason:
            print(f"      because {reason}")
    for key in sorted(set(known) - set(mutants)):
        print(f"  (no mutant has the equivalent key {key!r} any more: remove it)")
    return (
        len(mutants),
        counts["caught"],
        counts["survived"],
        counts["equivalent"],
        counts["missing"],
    )


def report(names: list[str], state: dict[str, Any]) -> int:
    """Print each module's figures; 1 when a module is under 90 % or has not run."""
    rows = [(name, *_module_report(name, state)) for name in names]
    print("\n| module | mutants | caught | survived | equivalent | not run | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    failing = 0
    for (
        name,
        total,
        caught,
        survived,
        equivalent,
        missing,
    ) in rows:
        score = 100.0 * caught / (caught + survived) if caught + survived else 0.0
        failing += bool(missing or score < 90.0)  # the bar
        print(
            f"| {name} (`{MODULES[name].path.removeprefix(PKG + '/')}`) | {total} | {caught} | "
            f"{survived} | {equivalent} | {missing} | {score:.1f} % |"
        )
    return 1 if failing else 0


def main(argv: list[str] | None = None) -> int:
    """Run (or list, or report) the mutants of the named modules, all of them by default."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--report", action="store_true", help="print the figures, run nothing")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant")
    parser.add_argument("--fork-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fork_server:
        fork_server()
        return 0
    names = args.modules or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"no module {', '.join(unknown)} (there are: {', '.join(MODULES)})")
    if args.list:
        for name in names:
            target = MODULES[name]
            for mutant in target.mutants((ROOT / target.path).read_text()):
                mark = "  (equivalent)" if mutant.key in EQUIVALENT.get(name, {}) else ""
                print(f"{name} {target.path}:{mutant.line}  {mutant.key}{mark}")
        return 0
    WORK.mkdir(exist_ok=True)
    state: dict[str, Any] = {}
    if STATE.exists() and not args.fresh:
        state = json.loads(STATE.read_text())
    if not args.report:
        with (WORK / "lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SystemExit("another mutation run is using .mutation/") from None
            copy_tree()
            forks = Forks()
            try:
                for name in names:
                    run_module(name, MODULES[name], state, forks, verbose=args.verbose)
            finally:
                forks.close()
    return report(names, state)


if __name__ == "__main__":
    sys.exit(main())
