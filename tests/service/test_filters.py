"""Metadata filters compile to parameterized SQL that SQLite evaluates as documented."""

import json
import sqlite3

import pytest

from indexer.filters import InvalidFilter, compile_filter

ROWS = [
    {"lang": "en", "year": 2021, "day": "2021-05-01", "draft": False, "author": {"name": "Ann"}},
    {"lang": "de", "year": 2019, "day": "2019-11-30T08:00:00", "draft": True},
    {"lang": "en", "year": "2023", "day": "2023-02-10"},  # year as text: not in numeric ranges
    {},
]


def matching(spec) -> list[int]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE documents (id INTEGER, metadata TEXT)")
    conn.executemany("INSERT INTO documents VALUES (?, ?)", [(i, json.dumps(m)) for i, m in enumerate(ROWS)])
    where = compile_filter(spec)
    sql = "SELECT id FROM documents d" + (f" WHERE {where.sql}" if where else "") + " ORDER BY id"
    return [r[0] for r in conn.execute(sql, where.params if where else ())]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, [0, 1, 2, 3]),
        ({}, [0, 1, 2, 3]),
        ({"lang": "en"}, [0, 2]),
        ({"lang": {"ne": "en"}}, [1, 3]),
        ({"lang": {"in": ["de", "fr"]}}, [1]),
        ({"year": {"gte": 2020}}, [0]),
        ({"year": {"gt": 2000, "lt": 2020}}, [1]),
        ({"day": {"gte": "2020-01-01"}}, [0, 2]),
        ({"day": {"lt": "2019-12-01"}}, [1]),
        ({"draft": True}, [1]),
        ({"draft": None}, [2, 3]),
        ({"draft": {"ne": None}}, [0, 1]),
        ({"author.name": "Ann"}, [0]),
        ({"or": [{"lang": "de"}, {"year": 2021}]}, [0, 1]),
        ({"lang": "en", "or": [{"year": {"lte": 2021}}, {"draft": {"ne": False}}]}, [0, 2]),
    ],
)
def test_filters_select_the_documented_rows(spec, expected):
    assert matching(spec) == expected


def test_values_are_bound_never_interpolated():
    where = compile_filter({"lang": "x' OR 1=1 --"})
    assert "OR 1=1" not in where.sql and "x' OR 1=1 --" in where.params
    assert matching({"lang": "x' OR 1=1 --"}) == []


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ([], "expected an object"),
        ({"year": {"between": [1, 2]}}, "unknown operator 'between'"),
        ({"year": {}}, "at least one operator"),
        ({"a;drop": 1}, "invalid field name"),
        ({"$.x": 1}, "invalid field name"),
        ({"x": {"in": []}}, "non-empty list"),
        ({"x": {"eq": [1]}}, "string, number, boolean or null"),
        ({"x": {"gt": True}}, "number or an ISO date"),
        ({"x": {"lt": "yesterday"}}, "not a number or an ISO date"),
        ({"and": {"x": 1}}, "non-empty list"),
        ({"or": [{"or": [{"or": [{"or": [{"or": [{"or": [{"or": [{"or": [{"or": [{"x": 1}]}]}]}]}]}]}]}]}]}, "nest"),
        ({f"f{i}": i for i in range(70)}, "more than 64 conditions"),
    ],
)
def test_invalid_filters_say_what_to_fix(spec, phrase):
    with pytest.raises(InvalidFilter, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        compile_filter(spec)


def test_nin_counts_missing_fields_as_not_in():
    assert matching({"lang": {"nin": ["de", "fr"]}}) == [0, 2, 3]


def test_openai_filters_translate():
    from service.api.compat.openai import from_openai_filter

    spec = {"type": "or", "filters": [{"type": "eq", "key": "lang", "value": "de"},
                                      {"type": "and", "filters": [{"type": "gte", "key": "year", "value": 2020},
                                                                  {"type": "eq", "key": "author.name", "value": "Ann"}]}]}  # fmt: skip
    assert matching(from_openai_filter(spec)) == [0, 1]
    for bad in ({"type": "like", "key": "a", "value": 1}, {"type": "and", "filters": []}, {"type": "eq", "value": 1}, []):
        with pytest.raises(InvalidFilter):
            from_openai_filter(bad)
