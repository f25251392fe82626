import sys

sys.path.insert(0, "/tmp")
from dbg import dbg_inv
from e2e_world import START_DATE


def test_x(world):
    world.connect_all()
    settings = world.make_settings(None)
    world.save_settings(settings)
    world.host.start_contact_sync(None)
    world.drain()
    print("A")
    dbg_inv(world, 38)
    settings = dict(settings, start_date=START_DATE.isoformat())
    world.save_settings(settings)
    print("B")
    dbg_inv(world, 38)
    world.host.backfill(None, None)
    print("C")
    dbg_inv(world, 38)
    print(world.engine.ledger.get(63))
