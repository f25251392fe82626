"""Who may sign in to the reference host's web front, and how a signed-in browser is known again.

A real host has its own staff directory and login; the reference host needs just enough of one
to tell a plugin's pages who is asking (:class:`hookspecs.pages.Visitor`): a fixed list of
:class:`Staff` with passwords, given to :func:`hookspecs.refhost.web.serve_web`.

A signed-in browser holds one cookie, ``<session id>.<HMAC of it>``, HttpOnly and SameSite=Lax.
The HMAC key is derived from the host's secret file (``host/secret.key``), under a label no
plugin's secret can equal (plugins get ``HMAC(secret, "pet_manager plugin secret" + name)``), so
neither a guessed id nor a plugin can mint a session. The sessions themselves live in memory:
signing out (or restarting the host) ends them for good, which a cookie that is only signed could
not promise. The host's own forms (sign out, the plugin switches) carry a CSRF token: an HMAC of
the session id under the same key, which a page of another site cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from hookspecs.pages import Visitor

__all__ = [
    "COOKIE",
    "DEMO_STAFF",
    "SESSION_SECONDS",
    "Sessions",
    "SignedIn",
    "Staff",
    "session_key",
]

COOKIE: Final = "refhost_session"
SESSION_SECONDS: Final = 12 * 3600
"""How long a sign-in lasts (a working day); signing in again starts a new one."""


@dataclass(frozen=True)
class Staff:
    """A member of the practice's staff who may sign in to the host's web front."""

    user_id: str
    """What they type as their user name, and the stable id a plugin sees (``Visitor.user_id``)."""
    name: str
    """The name shown ("Signed in as …")."""
    password: str = field(repr=False)
    is_admin: bool = False
    """Admins may switch plugins on and off and use the plugins' pages; other staff may look at
    the plugin list only, and a plugin's pages answer them 403."""

    def visitor(self) -> Visitor:
        """This person as a plugin's page sees them."""
        return Visitor(user_id=self.user_id, name=self.name, is_admin=self.is_admin)


DEMO_STAFF: Final = (
    Staff("alex", "Alex Admin", "password", is_admin=True),
    Staff("sam", "Sam Staff", "password", is_admin=False),
)
"""The demo's (and tests') logins: an admin and a member of staff who is not one."""


@dataclass(frozen=True)
class SignedIn:
    """A request's session: its id (which keys the CSRF token) and who holds it."""

    session_id: str
    staff: Staff


class Sessions:
    """The signed-in browsers of one web front.

    :param key: the HMAC key (32 bytes; derived from the host's secret by the caller).
    :param staff: who may sign in.
    :param clock: seconds since the epoch (tests move it to expire a session).
    """

    def __init__(
        self,
        key: bytes,
        staff: Iterable[Staff],
        *,
        clock: Callable[[], float] = time.time,
        lifetime: float = SESSION_SECONDS,
    ) -> None:
        self._key = key
        self._staff = {member.user_id: member for member in staff}
        self._clock = clock
        self._lifetime = lifetime
        self._open: dict[str, tuple[str, float]] = {}  # session id → (user id, expires at)
        self._lock = threading.Lock()

    def check_password(self, user_id: str, password: str) -> Staff | None:
        """The member of staff with these credentials, or ``None`` (compared in constant time,
        and as long for an unknown name as for a wrong password)."""
        member = self._staff.get(user_id)
        expected = member.password if member is not None else secrets.token_hex(16)
        same = hmac.compare_digest(
            hashlib.sha256(password.encode()).digest(), hashlib.sha256(expected.encode()).digest()
        )
        return member if same and member is not None else None

    def open(self, member: Staff) -> str:
        """Start a session for ``member``; returns the cookie's value."""
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._open = {s: v for s, v in self._open.items() if v[1] > now}  # drop expired
            self._open[session_id] = (member.user_id, now + self._lifetime)
        return f"{session_id}.{self._mac(b'session', session_id)}"

    def signed_in(self, cookie: str | None) -> SignedIn | None:
        """Who holds the session this cookie names, or ``None`` (no cookie, a forged or expired
        one, a session signed out, or a member of staff no longer listed)."""
        if not cookie:
            return None
        session_id, _, mac = cookie.partition(".")
        if not session_id or not hmac.compare_digest(mac, self._mac(b"session", session_id)):
            return None
        with self._lock:
            found = self._open.get(session_id)
            if found is None or found[1] <= self._clock():
                self._open.pop(session_id, None)
                return None
        member = self._staff.get(found[0])
        return SignedIn(session_id, member) if member is not None else None

    def close(self, session_id: str) -> None:
        """Sign out: the session's cookie is worth nothing from now on."""
        with self._lock:
            self._open.pop(session_id, None)

    def csrf_token(self, session_id: str) -> str:
        """The token the host's own forms carry for this session."""
        return self._mac(b"csrf", session_id)

    def csrf_valid(self, session_id: str, token: str | None) -> bool:
        """Whether ``token`` is this session's."""
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session_id))

    def _mac(self, purpose: bytes, session_id: str) -> str:
        message = purpose + b"\x00" + session_id.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def session_key(host_secret: bytes) -> bytes:
    """The web front's HMAC key, derived from the host's secret under its own label."""
    return hmac.new(host_secret, b"refhost web sessions v1", hashlib.sha256).digest()
