"""Metadata filters: a small JSON language, validated, compiled to a parameterized SQLite condition.

    {"lang": "en"}                                  equality (a bare value means eq)
    {"tag": {"in": ["howto", "faq"]}}               membership ("nin": not in; a missing field is not in)
    {"year": {"gte": 2020, "lt": 2024}}             numeric ranges (several operators on one field: and)
    {"published": {"gte": "2024-01-01"}}            ISO date/datetime ranges (compared as ISO text)
    {"or": [{"lang": "en"}, {"lang": "de"}], "draft": {"ne": true}}
                                                    and/or take lists of filters; sibling keys are and-ed

Values are always bound as SQL parameters; field names are checked against a strict pattern, and
nested fields use dots ("author.name"). The compiled condition reads `d.metadata` (documents aliased d).
The service parses a filter (parse_filter: early, clear errors) and hands the tree to Collection, which
compiles it here; no SQL text crosses the storage boundary (Chroma's metadata segment takes a `where`
dict the same way and builds its SQL inside).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

OPERATORS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte")
RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
COMBINATORS = ("and", "or")
MAX_DEPTH = 8
MAX_CONDITIONS = 64
MAX_IN_VALUES = 256
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63}){0,7}$")


# one line for API and MCP field descriptions
FILTER_HELP = (
    'metadata filter, e.g. {"lang": "en", "year": {"gte": 2020}, "tag": {"in": ["faq", "howto"]}, '
    '"or": [{...}, {...}]}; operators: eq, ne, in, nin, gt, gte, lt, lte (ranges on numbers or ISO dates)'
)


class InvalidFilter(ValueError):
    """The filter cannot be understood; the message says where and how to fix it."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Compound:
    op: str  # "and" | "or"
    children: tuple["Node", ...]


Node = Condition | Compound


@dataclass(frozen=True)
class SqlFilter:
    """A condition over `documents d` with `?` placeholders, and the values to bind to them."""

    sql: str
    params: tuple


def parse_filter(spec: Any) -> Node | None:
    """The JSON filter -> a checked tree (None for an empty filter). Raises InvalidFilter."""
    if spec is None or spec == {}:
        return None
    count = [0]
    node = _parse(spec, "filter", 0, count)
    return node


def _parse(spec: Any, where: str, depth: int, count: list[int]) -> Node:
    if depth > MAX_DEPTH:
        raise InvalidFilter(f"{where}: filters nest at most {MAX_DEPTH} levels deep")
    if not isinstance(spec, dict) or not spec:
        raise InvalidFilter(f"{where}: expected an object like {{\"field\": value}} or {{\"or\": [...]}}")
    parts: list[Node] = []
    for key, value in spec.items():
        if key in COMBINATORS:
            if not isinstance(value, list) or not value:
                raise InvalidFilter(f"{where}.{key}: expected a non-empty list of filters")
            children = tuple(_parse(item, f"{where}.{key}[{i}]", depth + 1, count) for i, item in enumerate(value))
            parts.append(children[0] if len(children) == 1 else Compound(key, children))
        else:
            parts.extend(_parse_field(key, value, f"{where}.{key}", count))
    return parts[0] if len(parts) == 1 else Compound("and", tuple(parts))


def _parse_field(field: str, value: Any, where: str, count: list[int]) -> list[Condition]:
    if not isinstance(field, str) or not _FIELD.fullmatch(field):
        raise InvalidFilter(
            f"{where}: invalid field name {field!r}: use letters, digits, '_' or '-', with dots for nested fields"
        )
    ops = value if isinstance(value, dict) else {"eq": value}
    if not ops:
        raise InvalidFilter(f"{where}: give at least one operator ({', '.join(OPERATORS)})")
    conditions = []
    for op, operand in ops.items():
        if op not in OPERATORS:
            raise InvalidFilter(f"{where}: unknown operator {op!r}: use one of {', '.join(OPERATORS)}")
        conditions.append(Condition(field, op, _check_operand(op, operand, f"{where}.{op}")))
        count[0] += 1
        if count[0] > MAX_CONDITIONS:
            raise InvalidFilter(f"filter has more than {MAX_CONDITIONS} conditions")
    return conditions


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _check_values(operand: Any, where: str) -> None:
    """What SQLite can bind and compare: finite numbers, 64-bit integers, real text (else InvalidFilter)."""
    from indexer.documents import check_json_value

    try:
        check_json_value(operand, where, max_depth=1)
    except ValueError as exc:
        raise InvalidFilter(str(exc)) from None


def _check_operand(op: str, operand: Any, where: str) -> Any:
    _check_values(operand, where)
    if op in ("eq", "ne"):
        if not _is_scalar(operand):
            raise InvalidFilter(f"{where}: expected a string, number, boolean or null")
        return operand
    if op in ("in", "nin"):
        if not isinstance(operand, list) or not operand or not all(_is_scalar(v) and v is not None for v in operand):
            raise InvalidFilter(f"{where}: expected a non-empty list of strings, numbers or booleans")
        if len(operand) > MAX_IN_VALUES:
            raise InvalidFilter(f"{where}: at most {MAX_IN_VALUES} values")
        return tuple(operand)
    # ranges: numbers, or ISO dates/datetimes (which order correctly as text)
    if isinstance(operand, bool) or not isinstance(operand, (int, float, str)):
        raise InvalidFilter(f"{where}: range operators take a number or an ISO date like \"2024-01-31\"")
    if isinstance(operand, str) and not _is_iso_date(operand):
        raise InvalidFilter(f"{where}: {operand!r} is not a number or an ISO date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)")
    return operand


def _is_iso_date(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}", text))


def _path(field: str) -> str:
    return "$" + "".join(f'."{part}"' for part in field.split("."))


def _compile(node: Node, params: list) -> str:
    if isinstance(node, Compound):
        joiner = f" {node.op.upper()} "
        return "(" + joiner.join(_compile(child, params) for child in node.children) + ")"
    path = _path(node.field)
    value_sql = "json_extract(d.metadata, ?)"
    if node.op == "eq" and node.value is None:
        params.append(path)
        return f"{value_sql} IS NULL"
    if node.op == "ne" and node.value is None:
        params.append(path)
        return f"{value_sql} IS NOT NULL"
    if node.op == "eq":
        params.extend([path, node.value])
        return f"{value_sql} = ?"
    if node.op == "ne":  # documents without the field count as "not equal"
        params.extend([path, node.value])
        return f"{value_sql} IS NOT ?"
    if node.op in ("in", "nin"):
        test = f"{value_sql} IN ({','.join('?' * len(node.value))})"
        if node.op == "nin":  # like ne: documents without the field count as "not in"
            params.extend([path, path, *node.value])
            return f"({value_sql} IS NULL OR NOT {test})"
        params.extend([path, *node.value])
        return test
    # ranges: compare only values of the operand's kind (SQLite orders all text above all numbers)
    kinds = "('text')" if isinstance(node.value, str) else "('integer','real')"
    params.extend([path, path, node.value])
    return f"(json_type(d.metadata, ?) IN {kinds} AND {value_sql} {RANGE_OPS[node.op]} ?)"


def compile_filter(spec: Any) -> SqlFilter | None:
    """A filter (the JSON spec, or the tree parse_filter made of it) -> a parameterized SQL condition, or None
    when there is nothing to filter. Only indexer/ calls this: the service passes filters, never SQL."""
    node = spec if isinstance(spec, (Condition, Compound)) else parse_filter(spec)
    if node is None:
        return None
    params: list = []
    sql = _compile(node, params)
    return SqlFilter(sql, tuple(params))


def checked_filter(value):
    """For pydantic validators: the filter unchanged when it parses, else ValueError with the reason."""
    try:
        parse_filter(value)
    except InvalidFilter as exc:
        raise ValueError(str(exc)) from None
    return value
