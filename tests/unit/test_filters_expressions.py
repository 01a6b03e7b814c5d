import numpy as np
import pyarrow as pa
import pytest

from actors.query.expressions import ExpressionError, combine, parse_expression
from actors.query.filters import Condition, FilterError, parse_where, render_filter

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("topic", pa.string()),
                    ("year", pa.int64()), ("score", pa.float64()), ("ok", pa.bool_()),
                    ("vector", pa.list_(pa.float32(), 4)),
                    ("embedded_at", pa.timestamp("us", tz="UTC"))])


@pytest.mark.parametrize("text, condition", [
    ("year>=2020", Condition("year", ">=", 2020)),
    ("topic = 'space'", Condition("topic", "=", "space")),
    ("topic == space", Condition("topic", "=", "space")),
    ("topic in space,food", Condition("topic", "in", ["space", "food"])),
    ("year not in (1, 2)", Condition("year", "not in", [1, 2])),
    ("topic is null", Condition("topic", "is null")),
    ("score < 0.5", Condition("score", "<", 0.5)),
])
def test_parse_where(text, condition):
    assert parse_where(text) == condition


def test_render_types_and_escapes_every_value():
    sql = render_filter([("year", ">=", "2020"), ("topic", "in", ["a", "it's"]), ("ok", "=", True),
                         {"column": "score", "op": "<", "value": 1}], SCHEMA)
    assert sql == ("`year` >= 2020 AND `topic` IN ('a', 'it''s') AND `ok` = TRUE AND `score` < 1.0")


@pytest.mark.parametrize("value", ["' OR '1'='1", "1; --", "x') OR (1=1", "a`b"])
def test_injection_attempts_stay_string_literals(value):
    sql = render_filter([("topic", "=", value)], SCHEMA)
    assert sql == "`topic` = '" + value.replace("'", "''") + "'"


@pytest.mark.parametrize("filters, message", [
    ([("nope", "=", 1)], "unknown filter column 'nope'"),
    ([("vector", "=", 1)], "unknown filter column 'vector'"),
    ([("year", "~", 1)], "unknown filter operator"),
    ([("year", "=", "1; --")], "does not fit column year"),
    ([("year", "=", 1.5)], "does not fit"),
    ([("score", "=", "nan")], "does not fit"),
    ([("year", "=", None)], "is null"),
    ([("year", "in", [])], "at least one value"),
    ([{"col": "year"}], "a filter is"),
])
def test_bad_filters_are_clear_errors(filters, message):
    with pytest.raises(FilterError, match=message):
        render_filter(filters, SCHEMA)


def test_unparseable_where():
    with pytest.raises(FilterError, match="cannot parse filter"):
        parse_where("year >>= 3")


def test_expressions_and_combination():
    assert parse_expression('king - man + woman') == [(1, "king"), (-1, "man"), (1, "woman")]
    assert parse_expression('"new york" - city') == [(1, "new york"), (-1, "city")]
    for bad in ["", "a +", "a + + b", "+"]:
        with pytest.raises(ExpressionError):
            parse_expression(bad)
    v = np.eye(3, dtype=np.float32)
    out = combine(v, [1, -1, 1])
    np.testing.assert_allclose(out, np.array([1, -1, 1]) / np.sqrt(3), atol=1e-6)
    with pytest.raises(ExpressionError, match="cancel"):
        combine(np.stack([v[0], v[0]]), [1, -1])
