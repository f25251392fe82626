"""The sandbox's ``order=`` (Xero's "order by any element"): ascending unless ``DESC`` is said,
several keys by comma, ties by the document's id so the order is stable for a client paging
through it; an order it cannot parse is Xero's 400 QueryParseException."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pm_xero_plugin.sandbox.query import QueryError, order_items, parse_order

T1 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
ITEMS = [
    {"ContactID": "c", "Name": "Bo", "UpdatedDateUTC": T2},
    {"ContactID": "b", "Name": "al", "UpdatedDateUTC": T1},
    {"ContactID": "a", "Name": "Cy", "UpdatedDateUTC": T2},
    {"ContactID": "d", "Name": "Al"},
]


def _ids(order: str) -> list[str]:
    return [i["ContactID"] for i in order_items(ITEMS, parse_order(order), "ContactID")]


def test_ascending_by_the_field_with_ties_by_id_and_absent_values_first() -> None:
    assert _ids("UpdatedDateUTC ASC") == ["d", "b", "a", "c"]
    assert _ids("UpdatedDateUTC") == _ids("updateddateutc asc")


def test_descending_and_several_keys() -> None:
    assert _ids("UpdatedDateUTC DESC") == ["a", "c", "b", "d"]
    assert _ids("Name ASC, UpdatedDateUTC DESC") == ["b", "d", "c", "a"]  # names ignore case


@pytest.mark.parametrize("order", ["", "Name SIDEWAYS", "Name ASC DESC", "1Name"])
def test_an_order_it_cannot_parse_is_refused(order: str) -> None:
    with pytest.raises(QueryError):
        parse_order(order)
