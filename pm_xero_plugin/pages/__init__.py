"""The admin's pages: settings, connect, contact sync, start date and the accounting dashboard.

One ASGI application (Starlette, server-rendered with Jinja2) that the host mounts under its own
prefix (the contract: :mod:`hookspecs.pages`). :mod:`.guard` admits only the host's authenticated
admins of this practice and checks the CSRF token of every state-changing request; each page is a
module of its own; :mod:`.app` puts them together.
"""
