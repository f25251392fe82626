"""Child process of test_ledger_kill.py: records invoices through the real host and plugin, and
prints each invoice id once ``on_invoice_created`` returned (i.e. the host was told "recorded").
Every 7th record it also claims ready rows, so some rows are ``sending`` when it is killed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/, for support.*

from support.ledger_helpers import Practice, client, invoice

from hookspecs.refhost import ManualClock


def main(root: str) -> None:
    practice = Practice(Path(root), ManualClock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC)))
    practice.setup()
    practice.host.save_client(client("c1", 1))
    practice.host.start_contact_sync()
    practice.drain()
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        practice.host.create_invoice(invoice(f"i{n}", n, "c1", "2025-02-10", reference="x" * 200))
        print(f"i{n}", flush=True)
        if n % 7 == 0:
            practice.ledger.claim(
                "T1",
                "invoice",
                limit=3,
                lease_seconds=60,
                worker_id="child",
                now=practice.host.now() + timedelta(seconds=0),
            )


if __name__ == "__main__":
    main(sys.argv[1])
