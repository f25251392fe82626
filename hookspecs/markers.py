"""The pluggy markers of the ``pet_manager`` project, in a module of their own.

:mod:`hookspecs.spec` marks its hooks with :data:`hookspec`, and the package re-exports both
markers (``from hookspecs import hookimpl`` is what plugin authors write). Were they defined in
the package itself, ``spec`` would import the package, which imports everything else: a cycle.
"""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "pet_manager"
"""The pluggy project name and the entry-point group plugins register under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function in :mod:`hookspecs.spec` as a hook specification."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's function as the implementation of the hook of the same name."""
