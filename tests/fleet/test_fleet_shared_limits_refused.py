"""A fleet worker on a database whose shared-limits tables a newer add-on wrote says so in one
line (FleetRefused: the CLI prints it, exit 1) instead of an unexpected error."""

from __future__ import annotations

import pytest
from support.postgres import fresh_database

from pm_xero_plugin.fleet.run import FleetRefused, _limits_of
from pm_xero_plugin.ledger.postgres_store import PgStore

API = "http://127.0.0.1:9/api.xro/2.0"


def test_shared_limits_from_a_newer_add_on_refuse_the_worker_in_words() -> None:
    with fresh_database() as url:
        store = PgStore.open(url, max_size=2)
        try:
            _limits_of(store, API, None)  # the tables made, as a first worker does
            with store.pool.connection() as conn:
                conn.execute(
                    "UPDATE xero_schema_versions SET version = 99 WHERE component = 'limits'"
                )
            store.side_pool("limits").close()
            store._side.clear()  # a worker starting afresh on that database
            with pytest.raises(FleetRefused, match="upgrade"):
                _limits_of(store, API, None)
        finally:
            store.close()
