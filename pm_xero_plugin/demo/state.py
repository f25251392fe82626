"""A demo's Xero, remembered in its data directory, so the operator's verbs reach it afterwards.

The demo's embedded sandbox ends with the demo, but its books do not: they live in
``<data_dir>/sandbox-state.json``. Without more, ``pm-xero preview`` or ``pm-xero worker`` on the
demo's data directory said "the Xero app is not configured" – the person had no way to know
which server, app or secret the demo had used. So the demo writes ``<data_dir>/xero-app.json``
(the app's client id and secret and, for ``--xero-url``, the server's root) and the verbs read it
through :func:`app_config`: for an embedded demo they serve the sandbox again on its saved state,
on a free loopback port, for as long as the verb runs. The environment (``PM_XERO_CLIENT_ID`` …)
wins when it is set: a host's own configuration is never overridden by a file.

One sandbox per state file: two servers writing one file would each overwrite the other's books.
The claim (:mod:`pm_xero_plugin.sandbox.state_claim`) belongs to the sandbox, which needs it for
``pm-xero sandbox --state`` without importing the add-on; the demo claims its file through it.
"""

from __future__ import annotations

import atexit
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.private_files import write_private
from pm_xero_plugin.sandbox.host_settings import environment
from pm_xero_plugin.sandbox.state_claim import StateClaimed, claim_state

if TYPE_CHECKING:
    from pm_xero_plugin.sync.runtime import AppConfig

__all__ = [
    "APP_FILE",
    "STATE_FILE",
    "DemoXero",
    "StateClaimed",
    "app_config",
    "claim_state",
    "environment",
    "load",
    "save",
    "serve_saved_sandbox",
]

APP_FILE = "xero-app.json"
STATE_FILE = "sandbox-state.json"


@dataclass(frozen=True)
class DemoXero:
    """Which Xero a demo used: its own sandbox (``url`` is ``None``) or a server at ``url``."""

    client_id: str
    client_secret: str
    url: str | None = None
    seed: int = 0
    orgs: int = 2

    @property
    def embedded(self) -> bool:
        """The demo's own sandbox (served again on its saved books), not a server at ``url``."""
        return self.url is None


def save(data_dir: Path, xero: DemoXero) -> None:
    """Remember the demo's Xero in ``data_dir`` (written atomically, readable by its owner only:
    it holds the app's secret, like the environment it stands in for)."""
    write_private(Path(data_dir) / APP_FILE, json.dumps({"xero": asdict(xero)}, indent=2))


def load(data_dir: Path) -> DemoXero | None:
    """The demo's Xero recorded in ``data_dir``, or ``None`` (not a demo's, or unreadable)."""
    try:
        saved = json.loads((Path(data_dir) / APP_FILE).read_text())["xero"]
        return DemoXero(
            client_id=str(saved["client_id"]),
            client_secret=str(saved["client_secret"]),
            url=saved.get("url") or None,
            seed=int(saved.get("seed", 0)),
            orgs=int(saved.get("orgs", 2)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def serve_saved_sandbox(
    data_dir: Path,
    xero: DemoXero,
    spec: Path | None = None,
    *,
    redirect_uris: Sequence[str] = (),
) -> Iterator[tuple[str, Any]]:
    """Serve the demo's sandbox on its saved books (``<data_dir>/sandbox-state.json``; a new one
    if there are none yet) on a free loopback port for the block; yields ``(url, sandbox)``.

    When the state file is already served (a demo or a verb still running, or ``pm-xero sandbox
    --state``), that server is used instead and ``sandbox`` is ``None``.

    :param spec: Xero's OpenAPI file to check bodies against (default: where ``find_spec`` looks).
    :param redirect_uris: registered with the app besides the sandbox's defaults (``demo
        --serve``: the served pages' callback).
    """
    from pm_xero_plugin.sandbox import Sandbox, SandboxClock, find_spec
    from pm_xero_plugin.sandbox.identity import DEFAULT_REDIRECT_URIS

    state = Path(data_dir) / STATE_FILE
    stack = ExitStack()
    try:
        claim = stack.enter_context(claim_state(state))
    except StateClaimed as claimed:
        if claimed.url is None:
            raise
        yield claimed.url, None
        return
    with stack:
        sandbox = Sandbox(
            client_id=xero.client_id,
            client_secret=xero.client_secret,
            orgs=xero.orgs,
            spec_path=spec if spec is not None else find_spec(None),
            clock=SandboxClock(time_scale=1.0),
            state_path=state,
            seed=xero.seed,
            redirect_uris=(*DEFAULT_REDIRECT_URIS, *redirect_uris),
        )
        with sandbox.serve(port=0) as server:
            claim.publish(server.url)
            try:
                yield server.url, sandbox
            finally:
                sandbox.save()


# -- what the verbs call ------------------------------------------------------------------------

_SERVED = ExitStack()
atexit.register(_SERVED.close)


def app_config(data_dir: Path | None, env: Mapping[str, str] | None = None) -> AppConfig | None:
    """The Xero app for a verb on ``data_dir``: the environment's, else the one a demo recorded
    there (its sandbox served again on its saved books until the process ends), else ``None``."""
    from pm_xero_plugin.sync.runtime import AppConfig

    config = AppConfig.from_env(env)
    if config is not None:
        return config
    if data_dir is None:
        return None
    xero = load(data_dir)
    if xero is None:
        return None
    url = xero.url
    if xero.embedded:
        url, _sandbox = _SERVED.enter_context(serve_saved_sandbox(data_dir, xero))
    return AppConfig(client_id=xero.client_id, client_secret=xero.client_secret, url=url)


def close_served() -> None:
    """Stop the sandboxes :func:`app_config` started (also done when the process exits)."""
    _SERVED.close()
