"""pm-xero-plugin: the Xero add-on for Pet Manager.

The host loads :mod:`pm_xero_plugin.plugin` through the ``pet_manager`` entry-point group.
Everything Xero-specific lives in this package; the host contract lives in :mod:`hookspecs`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
