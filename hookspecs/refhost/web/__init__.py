"""The reference host's web front: a sign-in, its plugin list, and the plugins' pages mounted.

What a real Pet Manager host does for a plugin's pages (:mod:`hookspecs.pages`), small enough
to read::

    from hookspecs.refhost import RefHost, serve_web

    host = RefHost(tmp_path)
    host.start()
    with serve_web(host, port=0) as web:      # 127.0.0.1, a free port
        print(web.url)                        # sign in as alex / password (an admin)
        ...                                   # or sam / password (staff, not an admin)
    host.stop()

``/login`` and ``/logout``, ``/plugins`` (every plugin with its on/off switch and a link to its
pages), and each plugin's app under ``/plugins/<name>/`` with the visitor, the practice and the
host's settings services in its scope. :class:`WebFront` is the ASGI app itself, for a test
client or another server.
"""

from __future__ import annotations

from hookspecs.refhost.web.app import WebFront
from hookspecs.refhost.web.mounts import HostPageServices
from hookspecs.refhost.web.server import PortBusy, RunningWeb, bind_loopback, serve_web
from hookspecs.refhost.web.sessions import DEMO_STAFF, Staff

__all__ = [
    "DEMO_STAFF",
    "HostPageServices",
    "PortBusy",
    "RunningWeb",
    "Staff",
    "WebFront",
    "bind_loopback",
    "serve_web",
]
