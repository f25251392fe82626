"""The random draws and record pieces both practice generators share: the history
(:mod:`hookspecs.refhost.generator`) and its money flows (:mod:`hookspecs.refhost.money_flows`).

Every draw takes its :class:`random.Random`, so a seeded stream gives the same records byte for
byte; none reads the time or the process's hash seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hookspecs.refhost.catalogue import Item
from hookspecs.refhost.money import cents, money

__all__ = ["Record", "item_line", "pick", "random_uuid", "stamp"]

T = TypeVar("T")
Record = dict[str, Any]


def pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    """One of the values, drawn by weight."""
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (ids that repeat with the seed)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def stamp(day: date, tz: str, rng: random.Random) -> str:
    """A moment during business hours on ``day`` at the location, as ``updated_at``."""
    moment = datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59))
    return moment.replace(tzinfo=ZoneInfo(tz)).isoformat()


def item_line(
    item: Item,
    quantity: int | str,
    *,
    exclusive: bool,
    discount: str | None = None,
    pet: str | None = None,
) -> Record:
    """An invoice line selling ``quantity`` of ``item`` (priced without tax when ``exclusive``)."""
    price = Decimal(item.unit_price)
    if exclusive and item.tax_rate != "0":
        price = cents(price / (1 + Decimal(item.tax_rate) / 100))
    line: Record = {
        "description": f"{item.description} ({pet})" if pet else item.description,
        "category": item.category,
        "quantity": str(quantity),
        "unit_price": money(price),
        "tax_rate": item.tax_rate,
    }
    if discount:
        line["discount_rate"] = discount
    if item.area_type:
        line["area_type"] = item.area_type
    return line
