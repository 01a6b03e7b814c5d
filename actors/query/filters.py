"""Structured filters: (column, op, value) checked against a schema and rendered as safe SQL.

No text from a user is ever pasted into SQL: columns must exist in the schema and are quoted
as identifiers, values are typed against their column and rendered as escaped literals.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa

from storage.errors import UserError

OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null")
_NO_VALUE = ("is null", "is not null")
INT64_MIN = -(1 << 63)
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|==|=|>|<|\s+not\s+in\s+|\s+in\s+|"
                    r"\s+is\s+not\s+null\s*$|\s+is\s+null\s*$)(.*)$", re.IGNORECASE)


class FilterError(UserError, ValueError):
    """A filter names an unknown column, an unknown operator, or a value of the wrong type."""


@dataclass(frozen=True)
class Condition:
    """One condition of a filter; a filter is a list of them, all of which must hold."""

    column: str
    op: str
    value: object = None


def parse_where(text: str) -> Condition:
    """Parse a CLI condition like 'year>=2020', "topic = 'space'", 'topic in a,b'."""
    match = _WHERE.match(text)
    if not match:
        raise FilterError(f"cannot parse filter {text!r}: use COLUMN OP VALUE with OP one of "
                          "= != < <= > >= in, 'not in', 'is null', 'is not null'")
    column, op, rest = match.group(1), " ".join(match.group(2).lower().split()), match.group(3)
    op = "=" if op == "==" else op
    if rest.strip()[:1] in ("<", ">", "=", "!"):
        raise FilterError(f"cannot parse filter {text!r}: one operator between column and value")
    if op in _NO_VALUE:
        return Condition(column, op)
    if op in ("in", "not in"):
        return Condition(column, op, [_literal(part) for part in _split_list(rest)])
    return Condition(column, op, _literal(rest))


def _split_list(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return [part for part in (p.strip() for p in text.split(",")) if part]


def _literal(text: str) -> object:
    """A CLI value: quoted -> string, else JSON (numbers, true, false, null), else the bare word."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def as_conditions(filters) -> list[Condition]:
    """Accept Condition objects, (column, op[, value]) tuples or {'column','op','value'} dicts."""
    if filters is None:
        return []
    if isinstance(filters, (Condition, dict)) or (isinstance(filters, tuple) and filters
                                                   and isinstance(filters[0], str)):
        filters = [filters]
    out = []
    for f in filters:
        if isinstance(f, Condition):
            out.append(f)
        elif isinstance(f, dict):
            unknown = set(f) - {"column", "op", "value"}
            if unknown or "column" not in f or "op" not in f:
                raise FilterError(f"a filter is {{'column', 'op', 'value'}}, got {f!r}")
            out.append(Condition(f["column"], str(f["op"]).lower(), f.get("value")))
        elif isinstance(f, (tuple, list)) and len(f) in (2, 3):
            out.append(Condition(f[0], str(f[1]).lower(), f[2] if len(f) == 3 else None))
        else:
            raise FilterError(f"cannot read filter {f!r}: use (column, op, value)")
    return out


def render_filter(filters, schema: pa.Schema,
                  hidden: tuple[str, ...] = ("vector", "vector_full")) -> str | None:
    """SQL for LanceDB's where(): every column checked, every value typed and escaped."""
    conditions = as_conditions(filters)
    if not conditions:
        return None
    return " AND ".join(_render(c, schema, hidden) for c in conditions)


def _render(c: Condition, schema: pa.Schema, hidden: tuple[str, ...]) -> str:
    if not isinstance(c.column, str) or c.column not in schema.names or c.column in hidden:
        usable = [n for n in schema.names if n not in hidden]
        raise FilterError(f"unknown filter column {c.column!r}; columns: {', '.join(usable)}")
    if c.op not in OPS:
        raise FilterError(f"unknown filter operator {c.op!r}; use one of {', '.join(OPS)}")
    column = f"`{c.column}`"
    kind = schema.field(c.column).type
    if c.op in _NO_VALUE:
        return f"{column} {c.op.upper()}"
    if c.op in ("in", "not in"):
        values = c.value if isinstance(c.value, (list, tuple)) else [c.value]
        if not values:
            raise FilterError(f"filter {c.column} {c.op} needs at least one value")
        items = ", ".join(sql_literal(v, kind, c.column) for v in values)
        return f"{column} {c.op.upper()} ({items})"
    return f"{column} {c.op} {sql_literal(c.value, kind, c.column)}"


def sql_literal(value, kind: pa.DataType, column: str) -> str:
    """A value as an SQL literal of the column's type, or a FilterError saying why not."""
    if value is None:
        raise FilterError(f"filter on {column} compares with null: use 'is null'")
    try:
        if pa.types.is_boolean(kind):
            if not isinstance(value, bool):
                value = {"true": True, "false": False}[str(value).lower()]
            return "TRUE" if value else "FALSE"
        if pa.types.is_integer(kind):
            return integer_literal(_as_integer(value, kind))
        if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            number = float(value)
            if not math.isfinite(number) or isinstance(value, bool):
                raise ValueError
            return repr(number)
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            moment = value if isinstance(value, (datetime, date)) else datetime.fromisoformat(str(value))
            word = "DATE" if pa.types.is_date(kind) else "TIMESTAMP"
            return f"{word} '{moment.isoformat()}'"
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            text = value if isinstance(value, str) else json.dumps(value)
            if "\x00" in text:
                raise ValueError
            return "'" + text.replace("'", "''") + "'"
    except (ValueError, TypeError, KeyError, OverflowError):
        raise FilterError(f"filter value {value!r} does not fit column {column} ({kind})") from None
    raise FilterError(f"column {column} ({kind}) cannot be filtered")


def integer_literal(number: int) -> str:
    """An integer as SQL that the filter parser reads back as that integer."""
    # The parser reads -9223372036854775808 as minus 9223372036854775808, which overflows int64
    # and turns into a float that an int64 column refuses; the difference is exact.
    if number == INT64_MIN:
        return f"({INT64_MIN + 1} - 1)"
    return str(number)


def _as_integer(value, kind: pa.DataType) -> int:
    """The value as an integer the column's type holds; never through a float, which rounds."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        number = value
    else:
        # int() and float() skip the whitespace around a number themselves; str.strip() would
        # also drop control characters (\x1c-\x1f) that they, and a float column, refuse.
        text = str(value)
        try:
            number = int(text)
        except ValueError:
            real = float(text)  # '2020.0', '1e3'
            if not real.is_integer():
                raise ValueError from None
            number = int(real)
    bits = kind.bit_width
    signed = pa.types.is_signed_integer(kind)
    low, high = (-(1 << bits - 1), (1 << bits - 1) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= number <= high:
        raise ValueError
    return number
