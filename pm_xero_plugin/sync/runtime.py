"""Assembly: the engine plus everything that talks to Xero, wired once per process.

:class:`~pm_xero_plugin.core.engine.Engine` knows the ledger and the rules; this module adds
the app's Xero configuration, the encrypted token store, the token provider, the per-tenant rate
limiter, the Accounting client, the sender and the worker. ``plugin.py`` builds a
:class:`XeroRuntime` at ``pm_startup`` when the app is configured; ``pm-xero worker`` builds one
without a host.

Configuration (:class:`AppConfig`) comes from environment variables, so that a client secret
never sits in the host's settings table in clear:

``PM_XERO_URL``            root of a Xero-compatible server (the sandbox); unset = real Xero
``PM_XERO_CLIENT_ID``      the Xero app's client id
``PM_XERO_CLIENT_SECRET``  its secret
``PM_XERO_REDIRECT_URI``   the redirect URI registered with the app
``PM_XERO_SCOPES``         space-separated scopes (default: the broad set; see README)
``PM_XERO_WORKER``         ``thread`` (default: a worker thread inside the host) or ``off``
                           (operators run ``pm-xero worker`` processes instead)
``PM_XERO_WEBHOOK_KEY``    the Xero app's webhook key (signs Xero's webhooks; unset: the
                           webhook endpoint answers 401 to everything)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.private_files import private_folder
from pm_xero_plugin.sync.sender import BatchSender
from pm_xero_plugin.sync.worker import DEFAULT_LEASE_SECONDS, Worker
from pm_xero_plugin.xero.auth import (
    DEFAULT_SCOPES,
    CompletedFlow,
    Connection,
    OAuthConfig,
    TokenProvider,
    begin_authorization,
    handle_callback_flow,
    list_connections,
)
from pm_xero_plugin.xero.client import XeroAccountsSource, XeroClient
from pm_xero_plugin.xero.ratelimit import Clock, Limits, RateLimiter
from pm_xero_plugin.xero.tokens import (
    UNREADABLE_WHY,
    HostSecretTooShort,
    StoredTokensUnreadable,
    TokenStorage,
    TokenStore,
    check_host_secret,
)

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine

__all__ = ["AppConfig", "XeroRuntime", "check_stored_tokens", "report_unreadable_tokens"]

log = logging.getLogger("pm_xero_plugin.sync.runtime")

REAL_XERO = "https://api.xero.com"

SETTINGS_RECHECK_SECONDS = 5.0
"""How often a worker process without hooks looks for settings the host saved."""

TOKENS_CONDITION = "tokens:"
"""Health condition names for an organisation whose stored tokens cannot be used
(``tokens:<tenant id>``)."""

HOST_SECRET_CONDITION = "host_secret"
"""The health condition of a host secret too short to encrypt the tokens with."""


@dataclass(frozen=True)
class AppConfig:
    """Who the add-on is to Xero and where Xero is."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str = "http://127.0.0.1:8766/callback"
    url: str | None = None
    """A Xero-compatible root (``http://127.0.0.1:8765``); ``None`` = the real Xero."""
    scopes: tuple[str, ...] = tuple(DEFAULT_SCOPES)
    worker: str = "thread"
    webhook_key: str | None = field(default=None, repr=False)
    """The key Xero signs its webhooks with (the app's "Webhooks key" in Xero's developer portal),
    ``None`` when webhooks are not set up. A secret like the client secret: never in a repr, a
    log or a page."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppConfig | None:
        """The configuration in the environment, or ``None`` when no app is configured."""
        env = os.environ if env is None else env
        client_id = env.get("PM_XERO_CLIENT_ID")
        secret = env.get("PM_XERO_CLIENT_SECRET")
        if not client_id or not secret:
            return None
        scopes = env.get("PM_XERO_SCOPES")
        return cls(
            client_id=client_id,
            client_secret=secret,
            redirect_uri=env.get("PM_XERO_REDIRECT_URI", cls.redirect_uri),
            url=env.get("PM_XERO_URL") or None,
            scopes=tuple(scopes.split()) if scopes else tuple(DEFAULT_SCOPES),
            worker=env.get("PM_XERO_WORKER", "thread"),
            webhook_key=env.get("PM_XERO_WEBHOOK_KEY") or None,
        )

    def oauth(self) -> OAuthConfig:
        """The OAuth endpoints and credentials: the real Xero's, or those under ``url``."""
        if self.url:
            return OAuthConfig.for_base_url(
                self.url,
                client_id=self.client_id,
                client_secret=self.client_secret,
                redirect_uri=self.redirect_uri,
                scopes=self.scopes,
            )
        return OAuthConfig(
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uri=self.redirect_uri,
            scopes=self.scopes,
        )


def report_unreadable_tokens(
    engine: Engine, tenant_id: str, org: str | None, connection_key: str
) -> str:
    """Report, under ``tokens:<tenant>``, that the organisation's stored tokens cannot be used;
    returns the reason, in words, that the organisation is paused with."""
    name = org or f"organisation {tenant_id} (location {connection_key})"
    reason = (
        f"the stored Xero connection for {name} cannot be read ({UNREADABLE_WHY}): reconnect it"
    )
    engine.health.report(
        TOKENS_CONDITION + tenant_id,
        reason,
        f"press Connect to Xero for the location mapped to {name} and choose it again; its "
        "records wait meanwhile and are sent once it is connected",
    )
    return reason


def check_stored_tokens(engine: Engine, tokens: TokenStorage) -> None:
    """Report every mapped organisation that no readable token set reaches while one that
    should cannot be read – for a process that sends nothing (``pm-xero status``) and so never
    meets the tokens otherwise."""
    settings = engine.settings
    if settings is None:
        return
    for tenant_id in settings.tenant_ids():
        unreadable: StoredTokensUnreadable | None = None
        for location_id in settings.locations_for_tenant(tenant_id):
            try:
                if tokens.load(location_id) is not None:
                    break
            except StoredTokensUnreadable as exc:
                unreadable = unreadable or exc
        else:
            if unreadable is not None:
                report_unreadable_tokens(engine, tenant_id, None, unreadable.connection_key)


def limits_dir(data_dir: Path, api_url: str) -> Path:
    """``<data dir>/rate-limits/<server>``: ``api.xero.com``, ``127.0.0.1_8765`` …"""
    netloc = httpx.URL(api_url).netloc.decode("ascii", "replace")
    return data_dir / "rate-limits" / (re.sub(r"[^A-Za-z0-9.-]+", "_", netloc)[:80] or "server")


class XeroRuntime:
    """Everything that reaches Xero for one engine (one practice's plugin data directory).

    :param engine: the add-on's core (ledger, settings, rules).
    :param config: the Xero app.
    :param doorbell: what the worker waits on between looks: the one the engine rings when rows
        become ready (default: the engine's own).
    :param secret: the host's secret for this plugin (encrypts tokens at rest).
    :param transport: an httpx transport (tests mount the sandbox here); default real HTTP.
    :param request_hook: sees every Accounting request before it leaves (tests check the spec).
    :param clock: monotonic time and sleeping for the rate limiter, the client's retries and the
        worker's scheduling (default: the real clock). A Xero-compatible server running at a
        time scale (the benchmarks' sandbox) is matched by a clock that reads *its* time.
    :param saved_settings: for a ``pm-xero worker`` process, which hears no
        ``on_settings_saved``: reads the settings the host saved, so that the worker applies
        them by itself every few seconds (``None``, in the host: the hook tells the engine).
    :param tokens: where the practice's Xero tokens are kept (default: ``tokens.sqlite3`` in
        ``data_dir``); a fleet passes one kept in PostgreSQL, shared by every machine.
    :param limiter: Xero's limits (default: counted on this machine, shared through files in
        ``data_dir``); a fleet passes one kept in PostgreSQL.
    """

    def __init__(
        self,
        engine: Engine,
        config: AppConfig,
        *,
        secret: bytes,
        data_dir: Path,
        transport: httpx.BaseTransport | None = None,
        request_hook: Callable[[httpx.Request], None] | None = None,
        worker_threads: int = 4,
        limiter: Limits | None = None,
        clock: Clock | None = None,
        batch_size: int = 50,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        doorbell: Doorbell | None = None,
        saved_settings: Callable[[], Mapping[str, Any]] | None = None,
        tokens: TokenStorage | None = None,
    ) -> None:
        self.engine = engine
        try:
            secret = check_host_secret(secret)
        except HostSecretTooShort as exc:
            engine.health.report(
                HOST_SECRET_CONDITION,
                f"the Xero add-on cannot start: {exc}",
                "give the add-on the host's full secret (32 bytes), then restart the host; "
                "records are kept in the ledger meanwhile",
            )
            raise
        engine.health.clear(HOST_SECRET_CONDITION)
        self._saved_settings = saved_settings
        self._settings_checked = 0.0
        self._unreadable: dict[str, str] = {}
        """Organisations paused because their stored tokens cannot be used -> the reason."""
        self.config = config
        self.oauth = config.oauth()
        self.http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0),
        )
        private_folder(data_dir, narrow_existing=True)  # the add-on's own: ledger, tokens
        self.tokens = (
            tokens if tokens is not None else TokenStore(Path(data_dir) / "tokens.sqlite3", secret)
        )
        self.provider = TokenProvider(self.oauth, self.tokens, http=self.http)
        # Every process on this data directory (pm-xero worker ×N, the host's own worker) shares
        # Xero's per-organisation limits: see ratelimit.py. They are the server's, so they are
        # kept per server: a sandbox started afresh (the demo's, on a new port) has fresh windows
        # and must not inherit what an earlier one said. A test clock keeps them private.
        shared = limits_dir(Path(data_dir), self.oauth.api_url) if clock is None else None
        if shared is not None:  # 0700, like every folder of the add-on's
            private_folder(shared.parent, narrow_existing=True)
            private_folder(shared, narrow_existing=True)
        self.limiter = limiter or RateLimiter(clock, shared_dir=shared)
        self.client = XeroClient(
            self.oauth.api_url,
            self.provider,
            limiter=self.limiter,
            http=self.http,
            request_hook=request_hook,
            clock=clock,
            name_tenant=self._tenant_name,
        )
        self._lock = threading.Lock()
        engine.set_accounts_source(XeroAccountsSource(self.client, self.connection_for_any))
        engine.connection_probe = self._probe
        self.sender = BatchSender(
            engine.ledger,
            self.client,
            settings=self._settings,
            connection_for=self.connection_for,
            now=engine.host.now,
            on_reconnect_required=self._reconnect_required,
        )
        self.worker = Worker(
            engine.ledger,
            self.sender,
            now=engine.host.now,
            doorbell=doorbell if doorbell is not None else engine.doorbell,
            threads=worker_threads,
            batch_size=batch_size,
            lease_seconds=lease_seconds,
            limiter=self.limiter,
            tick=self.tick,
            monotonic=time.monotonic if clock is None else clock.monotonic,
            health=engine.health,
            ledger_path=Path(data_dir) / "ledger.sqlite3",
        )

    # -- settings and connections ----------------------------------------------------------------

    def _settings(self) -> Mapping[str, Any]:
        settings = self.engine.settings
        return {} if settings is None else settings.raw

    def tick(self) -> None:
        """The start of each worker loop: follow the host's saved settings (a worker process),
        then let the engine open the gates time opened (a future start date reached)."""
        try:
            if self._saved_settings is not None:
                self._reload_settings(self._saved_settings)
            self.engine.tick()
        except Exception:
            log.exception("xero: opening date gates failed; will try again")

    def _reload_settings(self, read: Callable[[], Mapping[str, Any]]) -> None:
        """A ``pm-xero worker`` process hears no ``on_settings_saved``: every few seconds it
        re-reads what the host saved, so codes, prefixes, switches and dates stay current."""
        now = time.monotonic()
        if now - self._settings_checked < SETTINGS_RECHECK_SECONDS:
            return
        self._settings_checked = now
        saved = dict(read() or {})
        current = self.engine.settings
        if saved and (current is None or dict(current.raw) != saved):
            log.info("xero: settings changed on the host; applying them in this worker")
            self.engine.apply_settings(saved, catch_up=False)
            self.refresh_connections()

    def connection_for(self, tenant_id: str) -> str | None:
        """The token set (a location id) that reaches ``tenant_id``: a location mapped to that
        organisation whose tokens are stored and not marked for reconnection.

        :raises StoredTokensUnreadable: no usable set reaches it and one that should cannot be
            read (a changed host secret, an altered store): the organisation is reported on the
            dashboard, and the sender pauses it as it does a revoked connection.
        """
        settings = self.engine.settings
        if settings is None:
            return None
        unreadable: StoredTokensUnreadable | None = None
        found: str | None = None
        for location_id in settings.locations_for_tenant(tenant_id):
            try:
                if self._usable(location_id, tenant_id):
                    found = str(location_id)
                    break
            except StoredTokensUnreadable as exc:
                unreadable = unreadable or exc
        if found is None and settings.organisation_mode == "shared":
            # One organisation for every location: the admin connected once, from any tab, and
            # the settings need name no location at all.
            found = self._any_connection(tenant_id)
        if found is not None:
            self._readable_again(tenant_id)
        elif unreadable is not None:
            raise self._tokens_unreadable(tenant_id, unreadable)
        return found

    def _usable(self, location_id: str, tenant_id: str) -> bool:
        """Whether ``location_id``'s stored tokens reach ``tenant_id`` and may be used."""
        return self.connection_ok(location_id) and tenant_id in self.tokens.tenant_ids(location_id)

    def _any_connection(self, tenant_id: str) -> str | None:
        for candidate in self.tokens.connection_keys():
            try:
                if self._usable(candidate, tenant_id):
                    return candidate
            except StoredTokensUnreadable:
                continue  # another location's set: reported when its own organisation is used
        return None

    def connection_ok(self, location_id: str) -> bool:
        """Whether ``location_id`` has stored tokens that are not marked for reconnection.

        :raises StoredTokensUnreadable: it has tokens, but they cannot be read.
        """
        return self.tokens.load(location_id) is not None and not self.tokens.reconnect_reason(
            location_id
        )

    def _tokens_unreadable(
        self, tenant_id: str, exc: StoredTokensUnreadable
    ) -> StoredTokensUnreadable:
        """Report an organisation whose stored tokens cannot be used, in words, under
        ``tokens:<tenant>``; returns the error to raise, carrying the same sentence.

        The pause itself is the revoked connection's: the sender releases the rows and
        :meth:`_reconnect_required` marks the organisation not connected. Nothing is marked in
        the token store: reading is the test, so a host secret put back mends it at the next
        start, and connecting again (which seals new tokens) always does."""
        reason = report_unreadable_tokens(
            self.engine, tenant_id, self.client.tenant_names.get(tenant_id), exc.connection_key
        )
        log.warning("xero: %s (%s)", reason, exc)
        self._unreadable[tenant_id] = reason
        error = StoredTokensUnreadable(exc.connection_key)
        error.message = reason
        error.args = (reason,)
        return error

    def _readable_again(self, tenant_id: str) -> None:
        """A usable token set reaches ``tenant_id`` (reconnected): its condition is gone."""
        if self._unreadable.pop(tenant_id, None) is not None:
            self.engine.health.clear(TOKENS_CONDITION + tenant_id)

    def connection_for_any(self, tenant_id: str) -> str:
        """A token set reaching ``tenant_id`` even before the settings map a location to it
        (the settings page reads the chart of accounts while the admin is choosing)."""
        key = self.connection_for(tenant_id) or self._any_connection(tenant_id)
        if key is not None:
            return key
        raise LookupError(f"no Xero connection reaches organisation {tenant_id}")

    def ensure_tracking_options(self, tenant_id: str, category: str, options: list[str]) -> None:
        """Create the tracking category and the options that tell locations apart in Xero."""
        self.client.ensure_tracking_options(
            tenant_id, self.connection_for_any(tenant_id), category, options
        )

    def _probe(self, tenant_id: str) -> tuple[bool, str | None]:
        """Whether ``tenant_id`` is reachable now, and if not what the admin should do."""
        try:
            if self.connection_for(tenant_id) is not None:
                return True, None
        except StoredTokensUnreadable as exc:
            return False, str(exc)
        settings = self.engine.settings
        locations = [] if settings is None else settings.locations_for_tenant(tenant_id)
        for location_id in locations:
            reason = self.tokens.reconnect_reason(location_id)
            if reason:
                return False, f"reconnect to Xero ({reason})"
        return False, "not connected to Xero: press Connect to Xero"

    def _reconnect_required(self, tenant_id: str, reason: str) -> None:
        """Xero refused this organisation (403: access removed). Forget it in the token sets
        that listed it – durably, so a restart does not take it for connected again and send
        into the refusal – and pause it until the admin connects it again."""
        unreadable = self._unreadable.get(tenant_id)
        if unreadable is not None:
            # Tokens that cannot be read: Xero refused nothing, so no grant is forgotten (a
            # host secret put back mends it); the organisation pauses with the reason found.
            self.engine.set_connection(None, tenant_id, False, unreadable)
            return
        log.warning("xero: organisation %s needs reconnecting: %s", tenant_id, reason)
        with self._lock:
            for key in self.tokens.connection_keys():
                try:
                    tenants = self.tokens.tenant_ids(key)
                except StoredTokensUnreadable:
                    continue  # a garbled row lists nothing usable; reported when met
                if tenant_id in tenants:
                    self.tokens.set_tenant_ids(key, [t for t in tenants if t != tenant_id])
        self.engine.set_connection(None, tenant_id, False, f"reconnect to Xero: {reason}")

    # -- "Connect to Xero" (the host's settings page calls these) --------------------------------

    def connect_url(self, location_id: str) -> str:
        """The URL to send the admin to for connecting ``location_id`` (state + PKCE kept)."""
        return begin_authorization(self.oauth, self.tokens, location_id).url

    def complete_connect(self, params: Mapping[str, str]) -> list[Connection]:
        """The redirect URI's handler: finishes the flow (state, PKCE, tokens stored encrypted)
        and returns the organisations the admin may choose from. Organisations the settings
        already map resume at once."""
        return self.finish_connect(params).connections

    def finish_connect(self, params: Mapping[str, str]) -> CompletedFlow:
        """:meth:`complete_connect`, also naming the location the flow was started for (the
        settings page links the chosen organisation to it)."""
        flow = handle_callback_flow(self.oauth, self.tokens, params, http=self.http)
        self.client.tenant_names.update({c.tenant_id: c.tenant_name for c in flow.connections})
        self.refresh_connections()
        return flow

    def _tenant_name(self, tenant_id: str) -> str | None:
        """The organisation's name from ``GET /connections`` (not an Accounting API call, so
        not under its limits), for messages such as "waiting 57 s for … on Sandbox Pets Ltd 1"."""
        try:
            key = self.connection_for(tenant_id) or self._any_connection(tenant_id)
        except StoredTokensUnreadable:
            return None
        if key is None:
            return None
        found = list_connections(self.oauth, self.provider.access_token(key), self.http)
        self.client.tenant_names.update({c.tenant_id: c.tenant_name for c in found})
        return self.client.tenant_names.get(tenant_id)

    def refresh_connections(self) -> None:
        """Tell the engine which mapped organisations are reachable now."""
        settings = self.engine.settings
        if settings is None:
            return
        for tenant_id in settings.tenant_ids():
            connected, reason = self._probe(tenant_id)
            self.engine.set_connection(None, tenant_id, connected, reason)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread, unless operators run ``pm-xero worker`` processes."""
        if self.config.worker == "thread":
            self.worker.start()

    def stop(self) -> None:
        """Stop the worker (in-flight batches finish) and close the connections to Xero."""
        self.worker.stop()
        self.provider.close()
        self.http.close()
