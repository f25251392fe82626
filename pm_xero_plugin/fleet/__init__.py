"""``pm-xero worker`` as a fleet: one process serves every practice of a many-practice host, and
any number of such processes, on any number of machines, share the work through the ledger.

* :mod:`~pm_xero_plugin.fleet.practices` opens a practice's host, engine and Xero side on first
  use, from a fleet root (``root/practices/<practice id>/``, one ordinary host data directory
  each).
* :mod:`~pm_xero_plugin.fleet.worker` runs the ordinary :class:`~pm_xero_plugin.sync.worker.Worker`
  over keys ``practice\\x1ftenant``, each routed to its practice's ledger and sender.
* :mod:`~pm_xero_plugin.fleet.metrics` and :mod:`~pm_xero_plugin.fleet.http`: Prometheus metrics
  and a health check on loopback, for the operator's monitoring.
"""
