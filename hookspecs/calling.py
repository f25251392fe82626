"""How a host calls its plugins, so that no plugin can break the host or another plugin.

This is part of the contract, not a detail of the reference host: pluggy runs every
implementation of a hook inside one loop, and when one raises the loop stops – the remaining
plugins are never called and the exception reaches the host. So a host must **not** call
``pm.hook.<name>(...)`` directly for the hooks of :mod:`hookspecs.spec`. It calls
:func:`call_each_plugin` instead (or does the same itself): each plugin on its own, through
``pm.subset_hook_caller`` with every *other* plugin removed – still pluggy's own machinery
(argument selection, a plugin's own wrappers, tracing) – each call wrapped in ``try``/``except``,
each plugin given its own copy of mutable arguments. The price: a wrapper in one plugin no longer
wraps another plugin's implementation, which hooks that are notifications do not need.

Plugins are loaded the same way, one entry point at a time (:func:`load_entrypoint_plugins`):
pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that fails to import, and a
host must not refuse to start because of one add-on. The reference host
(:mod:`hookspecs.refhost`) does exactly this.
"""

from __future__ import annotations

import copy
import importlib.metadata
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, NamedTuple

import pluggy

__all__ = [
    "ADDED_ARGUMENTS",
    "HookFailure",
    "PluginLoadFailure",
    "call_each_plugin",
    "load_entrypoint_plugins",
]

logger = logging.getLogger("hookspecs.refhost")

ADDED_ARGUMENTS: dict[str, object] = {"practice_id": None}
"""Arguments added to hooks after their first version, with the value a host that does not know
them means (``practice_id=None``: the host's one practice).
:func:`call_each_plugin` passes it for a host that leaves one out, so such a host
keeps working unchanged."""


class HookFailure(NamedTuple):
    """A plugin raised while the host called one of its hooks; the host carried on."""

    hook: str
    plugin: str
    error: str
    """``repr`` of the exception."""


class PluginLoadFailure(NamedTuple):
    """An entry point that could not be imported or registered; the host started without it."""

    plugin: str
    entry_point: str
    """``module:attr`` as the distribution declared it."""
    error: str


def _plugins_in_call_order(hook: pluggy.HookCaller) -> list[tuple[str, object]]:
    """Each plugin implementing ``hook`` once, in the order pluggy would call it (LIFO, with
    ``tryfirst``/``trylast`` honoured): pluggy keeps implementations in reverse call order."""
    seen: set[int] = set()
    ordered: list[tuple[str, object]] = []
    for impl in reversed(hook.get_hookimpls()):
        if id(impl.plugin) not in seen:
            seen.add(id(impl.plugin))
            ordered.append((impl.plugin_name, impl.plugin))
    return ordered


def call_each_plugin(
    pm: pluggy.PluginManager,
    name: str,
    kwargs: Mapping[str, Any],
    *,
    skip: Collection[object],
    on_failure: Callable[[HookFailure, BaseException], None],
    firstresult: bool = False,
) -> list[tuple[str, Any]]:
    """Call hook ``name`` on every plugin not in ``skip``, each on its own; never raises.

    Each plugin receives its own deep copy of mutable arguments, so a plugin that edits the invoice
    it was given cannot change what the next plugin (or the host) sees.

    :return: ``(plugin name, result)`` for each non-``None`` result, in call order; with
        ``firstresult`` the first non-``None`` result ends the call.
    """
    hook: pluggy.HookCaller = getattr(pm.hook, name)
    kwargs = _with_added_arguments(hook, kwargs)
    plugins = [(n, p) for n, p in _plugins_in_call_order(hook) if p not in skip]
    everyone = [p for _, p in _plugins_in_call_order(hook)]
    spec_first = bool(hook.spec and hook.spec.opts.get("firstresult"))
    results: list[tuple[str, Any]] = []
    for plugin_name, plugin in plugins:
        alone = pm.subset_hook_caller(name, remove_plugins=[p for p in everyone if p is not plugin])
        own_kwargs = {
            key: copy.deepcopy(value) if isinstance(value, dict | list) else value
            for key, value in kwargs.items()
        }
        try:
            result = alone(**own_kwargs)
        except Exception as exc:
            failure = HookFailure(hook=name, plugin=plugin_name, error=repr(exc))
            logger.error("plugin %r raised in hook %s: %r", plugin_name, name, exc, exc_info=exc)
            on_failure(failure, exc)
            continue
        if not spec_first:
            # A plain hook returns pluggy's list of results: one plugin, at most one result.
            result = result[0] if result else None
        if result is not None:
            results.append((plugin_name, result))
            if firstresult:
                break
    return results


def _with_added_arguments(hook: pluggy.HookCaller, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``kwargs`` plus each argument added to the hook's spec after its first version that the
    host left out, at the value such a host means (:data:`ADDED_ARGUMENTS`): a host
    written before ``practice_id`` keeps working, and a plugin naming it still gets it."""
    names = hook.spec.argnames if hook.spec is not None else ()
    missing = {n: v for n, v in ADDED_ARGUMENTS.items() if n in names and n not in kwargs}
    return {**kwargs, **missing} if missing else kwargs


def load_entrypoint_plugins(
    pm: pluggy.PluginManager, group: str
) -> tuple[list[str], list[PluginLoadFailure]]:
    """Import and register every entry point of ``group``, one at a time.

    A plugin that fails to import (or whose hook implementations do not match the specs) is
    logged, reported in the returned failures, and skipped; the rest still load.

    :return: the names registered, and the failures.
    """
    loaded: list[str] = []
    failures: list[PluginLoadFailure] = []
    for ep in importlib.metadata.entry_points(group=group):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue  # the same distribution seen twice on sys.path, or a blocked name
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            logger.error("plugin %r (%s) could not be loaded: %r", ep.name, ep.value, exc)
            failures.append(
                PluginLoadFailure(plugin=ep.name, entry_point=ep.value, error=repr(exc))
            )
            continue
        loaded.append(ep.name)
    return loaded, failures
